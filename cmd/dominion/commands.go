package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/codex-dominion/dominion/internal/config"
)

// command is one command, or a group of subcommands (jobs, queues).
type command struct {
	name    string
	summary string
	// run runs the command with its arguments (after its name); path is the full command
	// name ("dominion jobs list") for messages and usage.
	run func(ctx context.Context, a *app, path string, args []string) int
	// sub, for a group, lists its subcommands; run is then nil.
	sub []command
}

// commands is the command table: adding a command is writing its file and adding one line
// here.
func commands() []command {
	return []command{
		{name: "serve", summary: "run the API, the dashboard, a worker, the scheduler and the relay in one process", run: runServe},
		{name: "worker", summary: "run jobs (workflows and the built-in types) from the queues until SIGINT/SIGTERM", run: runWorker},
		{name: "enqueue", summary: "enqueue jobs and print their IDs", run: runEnqueue},
		{name: "info", summary: "show the queues' job counts and the live workers", run: runInfo},
		{name: "jobs", summary: "list, show, retry, cancel and delete jobs", sub: jobsCommands()},
		{name: "queues", summary: "pause and resume queues", sub: queuesCommands()},
		{name: "batches", summary: "show batches of jobs", sub: batchesCommands()},
		{name: "scheduler", summary: "enqueue the periodic jobs, each tick once, until SIGINT/SIGTERM", run: runScheduler},
		{name: "schedules", summary: "list, run, enable and disable the periodic jobs", sub: schedulesCommands()},
		{name: "dashboard", summary: "serve the web dashboard alone until SIGINT/SIGTERM", run: runDashboard},
		{name: "bench", summary: "measure the configured broker's throughput and latency", run: runBench},
		{name: "migrate", summary: "bring the workflow store's schema up to date", run: runMigrate},
		{name: "health", summary: "ask a running serve's /healthz: exit 0 when it answers 200 (the image's HEALTHCHECK)", run: runHealth},
		{name: "version", summary: "print the version", run: runVersion},
		{name: "help", summary: "show help for a command", run: nil}, // handled by dispatch
	}
}

// dispatch runs the command named by args[0] among cmds.
func dispatch(ctx context.Context, a *app, path string, cmds []command, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(a.stderr, "%s: missing command\n", path)
		groupUsage(a.stderr, path, cmds)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		groupUsage(a.stdout, path, cmds)
		return exitOK
	case "help":
		return help(ctx, a, path, cmds, rest)
	}
	cmd, ok := find(cmds, name)
	if !ok {
		fmt.Fprintf(a.stderr, "%s: unknown command %q\n", path, name)
		groupUsage(a.stderr, path, cmds)
		return exitUsage
	}
	if cmd.sub != nil {
		return dispatch(ctx, a, path+" "+cmd.name, cmd.sub, rest)
	}
	return cmd.run(ctx, a, path+" "+cmd.name, rest)
}

// help prints the usage of the command named by args (the group's own usage when none).
func help(ctx context.Context, a *app, path string, cmds []command, args []string) int {
	if len(args) == 0 {
		groupUsage(a.stdout, path, cmds)
		return exitOK
	}
	if args[0] == "help" {
		groupUsage(a.stdout, path, cmds)
		return exitOK
	}
	cmd, ok := find(cmds, args[0])
	if !ok {
		fmt.Fprintf(a.stderr, "%s help: unknown command %q\n", path, args[0])
		groupUsage(a.stderr, path, cmds)
		return exitUsage
	}
	if cmd.sub != nil {
		return help(ctx, a, path+" "+cmd.name, cmd.sub, args[1:])
	}
	// Every command prints its usage to stdout for --help.
	return cmd.run(ctx, a, path+" "+cmd.name, []string{"--help"})
}

func find(cmds []command, name string) (command, bool) {
	for _, c := range cmds {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// groupUsage prints the list of a group's commands.
func groupUsage(w io.Writer, path string, cmds []command) {
	fmt.Fprintf(w, "Usage: %s COMMAND [ARGUMENTS] [FLAGS]\n\nCommands:\n", path)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun '%s help COMMAND' or '%s COMMAND --help' for a command's flags.\n", path, path)
	if path == "dominion" {
		fmt.Fprint(w, environmentHelp())
	}
}

// environmentHelp is the environment section of `dominion help`, made from the
// configuration's own definitions (config.Vars).
func environmentHelp() string {
	var b strings.Builder
	b.WriteString("\nEnvironment (read once at start; a command's flag, where it has one, wins):\n")
	for _, v := range config.Vars() {
		text := v.Usage
		if def := varDefault(v); def != "" {
			text += " (default: " + def + ")"
		}
		lines := wrap(text, 64)
		if len(v.Name) > 25 { // a name longer than the column gets a line of its own
			fmt.Fprintf(&b, "  %s\n", v.Name)
			for _, l := range lines {
				fmt.Fprintf(&b, "  %-26s%s\n", "", l)
			}
			continue
		}
		fmt.Fprintf(&b, "  %-26s%s\n", v.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "  %-26s%s\n", "", l)
		}
	}
	b.WriteString(`
Passwords in REDIS_URL and DATABASE_URL, SMTP_PASSWORD and the tokens never appear in
logs or errors.

Exit codes: 0 success, 1 failure, 2 wrong usage.
`)
	return b.String()
}

// varDefault is what v's default is, in words ("" when there is none).
func varDefault(v config.Var) string {
	if v.Default != "" {
		return v.Default
	}
	return v.DefaultText
}

// wrap splits text into lines of at most width bytes, between words.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// indent prefixes every line of s with prefix.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
