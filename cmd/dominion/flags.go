package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// flags is one command's flag set, with its usage text.
type flags struct {
	*flag.FlagSet
	a        *app
	path     string // "dominion jobs list"
	synopsis string // the arguments after the command name: "ID [--json]"
	about    string // what the command does, a paragraph or more
	min, max int    // how many positional arguments (max -1: any number)
}

// newFlags returns the flag set of the command path, taking between min and max positional
// arguments (max -1 for no limit).
func (a *app) newFlags(path, synopsis, about string, min, max int) *flags {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed by parse
	return &flags{FlagSet: fs, a: a, path: path, synopsis: synopsis, about: about, min: min, max: max}
}

// parse parses args, which may mix flags and positional arguments (flags may follow the
// arguments, as in "enqueue TYPE --queue q"; everything after "--" is positional). It returns
// the positional arguments and ok; when !ok the command must return code: 0 after --help
// (usage printed to stdout), 2 after a usage error (one line and the usage on stderr).
func (f *flags) parse(args []string) (pos []string, code int, ok bool) {
	if f.a.collectFlags != nil {
		f.a.collectFlags(f) // only the flags' definitions are wanted (docs/configuration.md)
		return nil, exitOK, false
	}
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.usage(f.a.stdout)
			return nil, exitOK, false
		}
		if err != nil {
			return nil, f.usageError("%v", err), false
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < f.min:
		return nil, f.usageError("missing argument: want %s", f.synopsis), false
	case f.max >= 0 && len(pos) > f.max:
		return nil, f.usageError("unexpected argument %q", pos[f.max]), false
	}
	return pos, 0, true
}

// usageError prints a one-line error and the usage to stderr and returns exitUsage.
func (f *flags) usageError(format string, args ...any) int {
	fmt.Fprintf(f.a.stderr, "%s: %s\n", f.path, fmt.Sprintf(format, args...))
	f.usage(f.a.stderr)
	return exitUsage
}

// usage prints the command's usage: synopsis, description and flags.
func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s\n", f.path, f.synopsis)
	if f.about != "" {
		fmt.Fprintf(w, "\n%s\n", indent(f.about, "  "))
	}
	first := true
	f.VisitAll(func(fl *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		name, text := flag.UnquoteUsage(fl)
		line := "  --" + fl.Name
		if name != "" {
			line += " " + name
		}
		def := ""
		if !isZeroDefault(fl) {
			def = fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(w, "%s\n    \t%s%s\n", line, strings.ReplaceAll(text, "\n", "\n    \t"), def)
	})
}

// isZeroDefault reports whether the flag's default is its type's zero value (not shown).
func isZeroDefault(fl *flag.Flag) bool {
	switch fl.DefValue {
	case "", "0", "false", "0s":
		return true
	}
	return false
}

// runtimeError prints "path: err" (with the configuration's secrets removed) to stderr and
// returns exitFailure.
func (a *app) runtimeError(path string, err error) int {
	fmt.Fprintf(a.stderr, "%s: %s\n", path, a.cfg.Redact(err.Error()))
	return exitFailure
}

// timeFlag is the value of a flag that takes an RFC 3339 time.
type timeFlag struct{ t *time.Time }

func (v timeFlag) String() string {
	if v.t == nil || v.t.IsZero() {
		return ""
	}
	return v.t.Format(time.RFC3339)
}

func (v timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)")
	}
	*v.t = t
	return nil
}

// deadlineFlag is the value of a flag that takes a time: a duration from now (e.g. 10m) or
// an RFC 3339 time.
type deadlineFlag struct{ t *time.Time }

func (v deadlineFlag) String() string { return timeFlag(v).String() }

func (v deadlineFlag) Set(s string) error {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return fmt.Errorf("a duration from now must be above 0")
		}
		*v.t = time.Now().Add(d)
		return nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fmt.Errorf("not a duration (e.g. 10m) nor an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)")
	}
	return timeFlag(v).Set(s)
}

// Duration defines a duration flag, as flag.FlagSet.Duration does, whose parse error says
// what a duration looks like (the flag package says only "parse error").
func (f *flags) Duration(name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	f.Var(durationFlag{p}, name, usage)
	return p
}

// durationFlag is the value of a flag that takes a Go duration.
type durationFlag struct{ d *time.Duration }

func (v durationFlag) String() string {
	if v.d == nil {
		return "0s"
	}
	return v.d.String()
}

func (v durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration: use a number with a unit, e.g. 30s, 5m, 1h30m or 250ms")
	}
	*v.d = d
	return nil
}

// Queue defines a --queue flag whose value must be a valid queue name (queue.CheckQueueName):
// an empty or malformed name is a usage error.
func (f *flags) Queue(usage string) *string {
	p := new(string)
	*p = queue.DefaultQueue
	f.Var(queueFlag{p}, "queue", usage)
	return p
}

// queueFlag is the value of a flag that names a queue.
type queueFlag struct{ s *string }

func (v queueFlag) String() string {
	if v.s == nil {
		return ""
	}
	return *v.s
}

func (v queueFlag) Set(s string) error {
	if err := queue.CheckQueueName(s); err != nil {
		return err
	}
	*v.s = s
	return nil
}
