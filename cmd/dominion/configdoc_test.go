package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the code (go generate ./cmd/dominion)")

// TestConfigurationDoc checks that docs/configuration.md is what the code defines: every
// environment variable of config.Vars and every flag of every command, with its default.
// Run `go generate ./cmd/dominion` to rewrite it after a change.
func TestConfigurationDoc(t *testing.T) {
	t.Parallel()
	got := configurationDoc(t)
	path := filepath.Join("..", "..", "docs", "configuration.md")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("docs/configuration.md does not match the code; run `go generate ./cmd/dominion` and commit the result")
	}
}

// configurationDoc renders docs/configuration.md from config.Vars and the commands' flag sets.
func configurationDoc(t *testing.T) string {
	var b bytes.Buffer
	b.WriteString(`# Configuration

Generated from the code by ` + "`go generate ./cmd/dominion`" + ` (the environment from the definitions in
` + "`internal/config`" + `, the flags from each command); a test fails when this page and the code disagree.

The environment is read once, when the process starts; a command's flag, where it has one, wins
over the variable. Values marked secret never appear in logs, errors, the dashboard or ` + "`info`" + `.

## Environment

| variable | default | what it sets |
|---|---|---|
`)
	for _, v := range config.Vars() {
		def := "unset"
		switch {
		case v.Default != "":
			def = "`" + v.Default + "`"
		case v.DefaultText != "":
			def = v.DefaultText
		}
		usage := v.Usage
		if v.Secret {
			usage += " (secret)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, cell(usage))
	}
	b.WriteString("\n## Flags\n\nDefaults shown are those with no environment set.\n")
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: cfg, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	a.log = config.NewLogger(a.stderr, cfg.LogLevel)
	a.collectFlags = func(f *flags) {
		var rows []string
		f.VisitAll(func(fl *flag.Flag) {
			name, usage := flag.UnquoteUsage(fl)
			flagText := "--" + fl.Name
			if name != "" {
				flagText += " " + name
			}
			def := ""
			if !isZeroDefault(fl) {
				def = "`" + fl.DefValue + "`"
			}
			rows = append(rows, fmt.Sprintf("| `%s` | %s | %s |\n", flagText, def, cell(usage)))
		})
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n### %s\n\n| flag | default | what it sets |\n|---|---|---|\n%s", f.path, strings.Join(rows, ""))
	}
	var walk func(path string, cmds []command)
	walk = func(path string, cmds []command) {
		for _, c := range cmds {
			switch {
			case c.sub != nil:
				walk(path+" "+c.name, c.sub)
			case c.run != nil:
				c.run(context.Background(), a, path+" "+c.name, nil)
			}
		}
	}
	walk("dominion", commands())
	return b.String()
}

// cell makes text fit in one markdown table cell.
func cell(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	return strings.ReplaceAll(text, "|", `\|`)
}
