//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// gettingStartedDoc is the walk-through whose every sh block TestGettingStarted runs.
const gettingStartedDoc = "../../docs/getting-started.md"

// shBlockRE finds the fenced sh blocks of a Markdown page.
var shBlockRE = regexp.MustCompile("(?ms)^```sh\n(.*?)^```\n")

// TestGettingStarted runs every sh block of docs/getting-started.md, in order, in one bash
// script with -e: a clone of this repository (for the page's git clone of GitHub), make
// build, serve, a workflow, a plain job, a second worker, the dashboard, stop. It uses a free
// port instead of 8080. The page cannot drift from what works: a command that fails, or an
// output the page waits for that never comes, fails the test.
func TestGettingStarted(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "git", "make", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Run(); err != nil {
		t.Skipf("%s is not a git checkout: %v", root, err)
	}
	doc, err := os.ReadFile(gettingStartedDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := shBlockRE.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 7 {
		t.Fatalf("%s has %d sh blocks, want the 7 steps", gettingStartedDoc, len(blocks))
	}
	var script strings.Builder
	for _, b := range blocks {
		script.WriteString(b[1])
	}
	p, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(p)
	s := script.String()
	if !strings.Contains(s, "git clone https://github.com/codex-dominion/dominion.git\n") || !strings.Contains(s, "localhost:8080") {
		t.Fatalf("the walk-through no longer clones the repository or uses port 8080:\n%s", s)
	}
	s = strings.Replace(s, "https://github.com/codex-dominion/dominion.git", "'"+root+"' dominion", 1)
	s = strings.ReplaceAll(s, "localhost:8080", "localhost:"+port)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", s)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cleanEnv(), "DOMINION_ADDR=localhost:"+port)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walk-through of %s failed: %v\nscript:\n%s\noutput:\n%s", gettingStartedDoc, err, s, out)
	}
	for _, want := range []string{
		"Built ./dominion", `"status":"completed"`, "State:", "completed", "<title>",
		`msg="dominion worker"`, `queues="workflows=3,default=1"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walk-through's output lacks %q:\n%s", want, out)
		}
	}
}

// cleanEnv is the environment without Dominion's own variables, so that the walk-through runs
// with the defaults as a new user's shell would.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "DOMINION_") || name == "REDIS_URL" || name == "DATABASE_URL" || strings.HasPrefix(name, "SMTP_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
