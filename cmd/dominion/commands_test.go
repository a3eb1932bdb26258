package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// leafCommands returns the path of every command that runs (not a group), e.g. ["jobs", "list"].
func leafCommands(prefix []string, cmds []command) [][]string {
	var out [][]string
	for _, c := range cmds {
		path := append(slices.Clone(prefix), c.name)
		switch {
		case c.sub != nil:
			out = append(out, leafCommands(path, c.sub)...)
		case c.run != nil:
			out = append(out, path)
		}
	}
	return out
}

func TestHelp(t *testing.T) {
	t.Parallel()
	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := dominion(t, cfg, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: dominion COMMAND") || r.stderr != "" {
			t.Errorf("dominion %v: %s", args, r)
		}
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "\n  "+c.name+" ") {
				t.Errorf("dominion %v does not list %s", args, c.name)
			}
		}
	}
	for _, group := range []string{"jobs", "queues"} {
		for _, args := range [][]string{{group, "--help"}, {"help", group}} {
			r := dominion(t, cfg, args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: dominion "+group+" COMMAND") || r.stderr != "" {
				t.Errorf("dominion %v: %s", args, r)
			}
		}
	}
	leaves := leafCommands(nil, commands())
	if len(leaves) < 12 {
		t.Fatalf("only %d commands: %v", len(leaves), leaves)
	}
	for _, path := range leaves {
		name := strings.Join(path, " ")
		for _, args := range [][]string{append(slices.Clone(path), "--help"), append([]string{"help"}, path...)} {
			r := dominion(t, cfg, args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: dominion "+name) || r.stderr != "" {
				t.Errorf("dominion %v: %s", args, r)
			}
		}
	}
}

// TestEnvironmentDocumented checks that `dominion help` and the README's configuration table
// document every variable config.Load reads, and nothing else that looks like one.
func TestEnvironmentDocumented(t *testing.T) {
	t.Parallel()
	r := dominion(t, testConfig(config.Config{DataDir: t.TempDir()}), "help")
	_, env, found := strings.Cut(r.stdout, "\nEnvironment")
	if r.code != 0 || !found {
		t.Fatalf("dominion help: %s", r)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "## Configuration")
	table, _, _ = strings.Cut(table, "\n## ")
	for _, v := range config.Variables() {
		if !regexp.MustCompile(`(?m)^  (\S+, )*` + v + `\b`).MatchString(env) {
			t.Errorf("dominion help does not document %s", v)
		}
		if !regexp.MustCompile("(?m)^\\| (`[A-Z_]+`, )*`" + v + "`").MatchString(table) {
			t.Errorf("the README's configuration table does not document %s", v)
		}
	}
	known := regexp.MustCompile(`\b(REDIS_URL|DATABASE_URL|DOMINION_[A-Z_]+|SMTP_[A-Z_]+)\b`)
	for _, doc := range []struct{ name, text string }{{"dominion help", env}, {"README", table}} {
		for _, m := range known.FindAllString(doc.text, -1) {
			if !slices.Contains(config.Variables(), m) {
				t.Errorf("%s documents %s, which config.Load does not read", doc.name, m)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	for _, tc := range []struct {
		args []string
		line string // the one-line error, exactly
	}{
		{nil, "dominion: missing command"},
		{[]string{"frobnicate"}, `dominion: unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `dominion help: unknown command "frobnicate"`},
		{[]string{"jobs"}, "dominion jobs: missing command"},
		{[]string{"jobs", "frobnicate"}, `dominion jobs: unknown command "frobnicate"`},
		{[]string{"worker", "--queues", "workflows=3,default=x"}, `dominion worker: invalid value "workflows=3,default=x" for flag -queues: queue "default": weight "x" is not a positive integer`},
		{[]string{"worker", "--queues", ""}, `dominion worker: invalid value "" for flag -queues: empty queue list; want name[=weight],… e.g. workflows=3,default=1`},
		{[]string{"worker", "--concurrency", "0"}, "dominion worker: --concurrency must be at least 1, got 0"},
		{[]string{"worker", "extra"}, `dominion worker: unexpected argument "extra"`},
		{[]string{"worker", "--nope"}, "dominion worker: flag provided but not defined: -nope"},
		{[]string{"enqueue"}, "dominion enqueue: missing argument: want TYPE [PAYLOAD_JSON] [flags]"},
		{[]string{"enqueue", "dominion.noop", "{nope"}, "dominion enqueue: PAYLOAD_JSON is not valid JSON: invalid character 'n' looking for beginning of object key string"},
		{[]string{"enqueue", "dominion.noop", "{}", "extra"}, `dominion enqueue: unexpected argument "extra"`},
		{[]string{"enqueue", "dominion.noop", "--in", "1s", "--at", "2030-01-01T00:00:00Z"}, "dominion enqueue: --in and --at cannot be used together"},
		{[]string{"enqueue", "dominion.noop", "--at", "tomorrow"}, `dominion enqueue: invalid value "tomorrow" for flag -at: not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)`},
		{[]string{"enqueue", "dominion.noop", "--count", "2", "--id", "x"}, "dominion enqueue: --id cannot be used with --count above 1 (job IDs are unique)"},
		{[]string{"enqueue", "dominion.noop", "--count", "0"}, "dominion enqueue: --count must be at least 1, got 0"},
		{[]string{"enqueue", "dominion.noop", "--priority", "6"}, "dominion enqueue: --priority must be from -5 to 5, got 6"},
		{[]string{"enqueue", "dominion.noop", "--deadline", "soon"}, `dominion enqueue: invalid value "soon" for flag -deadline: not a duration (e.g. 10m) nor an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)`},
		{[]string{"enqueue", "dominion.noop", "--deadline", "2001-01-01T00:00:00Z"}, "dominion enqueue: --deadline 2001-01-01T00:00:00Z is not in the future"},
		{[]string{"enqueue", "dominion.noop", "--run-on-parent-failure"}, "dominion enqueue: --run-on-parent-failure goes with --depends-on"},
		{[]string{"enqueue", "dominion.noop", "--depends-on", "a,,b"}, `dominion enqueue: --depends-on: "a,,b" has an empty job ID`},
		{[]string{"enqueue", "dominion.noop", "--rate-key", "customer 42"}, `dominion enqueue: --rate-key "customer 42": use at most 200 letters, digits, '.', '_', '-' or ':'`},
		{[]string{"enqueue", "dominion.noop", "--rate-key", strings.Repeat("k", 201)}, `dominion enqueue: --rate-key "` + strings.Repeat("k", 201) + `": use at most 200 letters, digits, '.', '_', '-' or ':'`},
		{[]string{"info", "--verbose"}, "dominion info: flag provided but not defined: -verbose"},
		{[]string{"info", "queues"}, `dominion info: unexpected argument "queues"`},
		{[]string{"jobs", "list", "--state", "done"}, `dominion jobs list: --state: unknown job state "done" (valid: pending, active, scheduled, waiting, retry, dead, completed, canceled)`},
		{[]string{"jobs", "list", "--limit", "-1"}, "dominion jobs list: --limit and --offset must not be negative"},
		{[]string{"jobs", "show"}, "dominion jobs show: missing argument: want ID [--json]"},
		{[]string{"jobs", "retry"}, "dominion jobs retry: missing argument: want a job ID or --all-dead"},
		{[]string{"jobs", "retry", "X", "--all-dead"}, "dominion jobs retry: give either a job ID or --all-dead, not both"},
		{[]string{"jobs", "retry", "X", "--queue", "q"}, "dominion jobs retry: --queue goes with --all-dead"},
		{[]string{"jobs", "cancel"}, "dominion jobs cancel: missing argument: want a job ID or --all"},
		{[]string{"jobs", "cancel", "X", "Y"}, `dominion jobs cancel: unexpected argument "Y"`},
		{[]string{"jobs", "cancel", "X", "--all", "--state", "pending"}, "dominion jobs cancel: give either a job ID or --all, not both"},
		{[]string{"jobs", "cancel", "X", "--state", "pending"}, "dominion jobs cancel: --queue and --state go with --all"},
		{[]string{"jobs", "cancel", "X", "--queue", "q"}, "dominion jobs cancel: --queue and --state go with --all"},
		{[]string{"jobs", "cancel", "--all", "--queue", "q"}, "dominion jobs cancel: --all needs --state: pending, scheduled, retry or waiting"},
		{[]string{"jobs", "cancel", "--all", "--state", "done"}, `dominion jobs cancel: --state: unknown job state "done" (valid: pending, active, scheduled, waiting, retry, dead, completed, canceled)`},
		{[]string{"jobs", "cancel", "--all", "--state", "dead"}, "dominion jobs cancel: --state: only pending, scheduled, retry or waiting jobs can be canceled all at once, not dead"},
		{[]string{"jobs", "delete", "a", "b"}, `dominion jobs delete: unexpected argument "b"`},
		{[]string{"queues", "pause"}, "dominion queues pause: missing argument: want QUEUE"},
		{[]string{"bench", "--phases", "enqueue,warp"}, `dominion bench: --phases: unknown phase "warp" (valid: enqueue, process, latency)`},
		{[]string{"bench", "--jobs", "0"}, "dominion bench: --jobs must be at least 1, got 0"},
		{[]string{"version", "--short"}, "dominion version: flag provided but not defined: -short"},
		{[]string{"enqueue", "dominion.noop", "--queue", ""}, `dominion enqueue: invalid value "" for flag -queue: empty queue name`},
		{[]string{"jobs", "list", "--queue", "a b"}, `dominion jobs list: invalid value "a b" for flag -queue: queue name "a b": use at most 100 letters, digits, '.', '_', '-' or ':'`},
		{[]string{"queues", "pause", ""}, `dominion queues pause: empty queue name`},
		{[]string{"queues", "delete", "a/b"}, `dominion queues delete: queue name "a/b": use at most 100 letters, digits, '.', '_', '-' or ':'`},
		{[]string{"enqueue", "dominion.noop", "--in", "banana"}, `dominion enqueue: invalid value "banana" for flag -in: not a duration: use a number with a unit, e.g. 30s, 5m, 1h30m or 250ms`},
		{[]string{"worker", "--lease", "10"}, `dominion worker: invalid value "10" for flag -lease: not a duration: use a number with a unit, e.g. 30s, 5m, 1h30m or 250ms`},
	} {
		r := dominion(t, cfg, tc.args...)
		first, rest, _ := strings.Cut(r.stderr, "\n")
		if r.code != 2 || first != tc.line || !strings.HasPrefix(rest, "Usage: dominion") || r.stdout != "" {
			t.Errorf("dominion %q: want exit 2, the line %q then the usage on stderr; got %s", tc.args, tc.line, r)
		}
	}
	// Nothing was opened: usage errors change nothing.
	if fileExists(cfg.QueueDBPath()) {
		t.Errorf("a usage error created %s", cfg.QueueDBPath())
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := dominion(t, testConfig(config.Config{DataDir: t.TempDir()}), "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "dominion ") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("version: %s", r)
	}
	// The binary built by TestMain is stamped as 'make build' stamps it.
	out, err := exec.Command(binPath, "version").Output()
	if want := "dominion " + testVersion + " "; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("%s version = %q, %v; want it to start with %q", binPath, out, err, want)
	}
	// Without a stamp, the commit the build recorded, if any.
	settings := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	if got := vcsVersion(settings); got != "devel+0123456789ab-dirty" {
		t.Errorf("vcsVersion = %q", got)
	}
	if got := vcsVersion(nil); got != "devel" {
		t.Errorf("vcsVersion(nil) = %q", got)
	}
}

// TestMakefileBuild checks what `make build` (and so `make run`) does: it says that a first
// build takes minutes before it starts, and stamps the version.
func TestMakefileBuild(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	cmd := exec.Command("make", "-n", "build")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	build := regexp.MustCompile(`build -v -ldflags "-X main.version=[^" ]+" -o dominion ./cmd/dominion`).FindIndex(out)
	if build == nil {
		t.Fatalf("make build does not stamp the version:\n%s", out)
	}
	// A first build takes minutes: the user is told so before it starts, and -v names each
	// package as it compiles.
	if warn := strings.Index(string(out), "can take several minutes"); warn < 0 || warn > build[0] {
		t.Errorf("make build does not say, before compiling, that the first build takes minutes:\n%s", out)
	}
}

// infoJSON is `info --json`, decoded strictly.
type infoJSON struct {
	Queues   []queue.QueueStats `json:"queues"`
	Workers  []queue.WorkerInfo `json:"workers"`
	Warnings []string           `json:"warnings"`
}

func info(t *testing.T, cfg config.Config) infoJSON {
	t.Helper()
	var out infoJSON
	decodeJSON(t, ok(t, cfg, "info", "--json"), &out)
	return out
}

func TestEnqueueInfo(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		if tb.redis != nil {
			// Empty: the lists are [] rather than null.
			if out := ok(t, cfg, "info", "--json"); !strings.Contains(out, `"queues": []`) || !strings.Contains(out, `"workers": []`) {
				t.Errorf("info --json on an empty broker: %s", out)
			}
		}
		id := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", `{"n": 1}`, "--queue", "q1"))
		if len(id) != 26 {
			t.Fatalf("enqueue printed %q, want a job ID", id)
		}
		ids := strings.Fields(ok(t, cfg, "enqueue", "dominion.sleep", `{"ms": 1}`, "--queue", "q1", "--count", "2500"))
		if len(ids) != 2500 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 2500 {
			t.Fatalf("enqueue --count 2500 printed %d IDs", len(ids))
		}
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "q1", "--in", "1h")
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "q2", "--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if got := strings.TrimSpace(ok(t, cfg, "enqueue", "--id", "my-id", "--retries", "7", "--timeout", "3s", "dominion.noop", "--queue", "q2")); got != "my-id" {
			t.Fatalf("enqueue --id my-id printed %q", got)
		}
		// The same ID again: a runtime failure, exit 1, one line.
		r := dominion(t, cfg, "enqueue", "dominion.noop", "--queue", "q2", "--id", "my-id")
		if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("duplicate ID: %s", r)
		}
		// A bad queue name is a usage error: exit 2 with its reason.
		r = dominion(t, cfg, "enqueue", "dominion.noop", "--queue", "no spaces")
		if r.code != 2 || !strings.Contains(r.stderr, `queue name "no spaces"`) {
			t.Errorf("bad queue name: %s", r)
		}

		out := info(t, cfg)
		if len(out.Queues) != 2 || out.Queues[0].Name != "q1" || out.Queues[1].Name != "q2" {
			t.Fatalf("info --json queues: %+v", out.Queues)
		}
		if q := out.Queues[0]; q.Pending != 2501 || q.Scheduled != 1 || q.Active+q.Retry+q.Dead+q.Completed+q.Canceled != 0 || q.Paused {
			t.Errorf("q1: %+v", q)
		}
		if q := out.Queues[1]; q.Pending != 1 || q.Scheduled != 1 {
			t.Errorf("q2: %+v", q)
		}
		job, err := client(t, cfg).Get(t.Context(), "my-id")
		if err != nil || job.MaxRetries != 7 || job.Timeout != 3*time.Second || job.Queue != "q2" {
			t.Errorf("my-id: %+v, %v", job, err)
		}
		got, err := client(t, cfg).Get(t.Context(), id)
		if err != nil || string(got.Payload) != `{"n": 1}` || got.Type != "dominion.noop" {
			t.Errorf("job %s: %+v, %v", id, got, err)
		}

		human := ok(t, cfg, "info")
		for _, want := range []string{"Broker: " + tb.name + " ", "QUEUE  PAUSED  PENDING  ACTIVE  SCHEDULED", "q1     no      2501", "No live workers."} {
			if !strings.Contains(human, want) {
				t.Errorf("info does not show %q:\n%s", want, human)
			}
		}
	})
}

// enqueue --depends-on and --run-on-parent-failure: the child waits, jobs show names its
// parents, it runs after them; a parent that does not exist refuses the job.
func TestEnqueueDependsOn(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		a := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "dq", "--id", "cli-a"))
		b := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "dq", "--id", "cli-b"))
		c := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "dq", "--depends-on", a+","+b, "--run-on-parent-failure"))
		if j := showJob(t, cfg, c); j.State != queue.StateWaiting || !slices.Equal(j.DependsOn, []string{a, b}) || !j.RunOnParentFailure {
			t.Fatalf("jobs show --json of the child: %s %v %v, want waiting for %s and %s, running anyway", j.State, j.DependsOn, j.RunOnParentFailure, a, b)
		}
		if shown := ok(t, cfg, "jobs", "show", c); !strings.Contains(shown, "Depends on:        "+a+", "+b) {
			t.Errorf("jobs show does not name the parents:\n%s", shown)
		}
		if r := dominion(t, cfg, "enqueue", "dominion.noop", "--depends-on", "no-such-job"); r.code == 0 || !strings.Contains(r.stderr, "parent job not found") {
			t.Errorf("enqueue with an unknown parent: %s", r)
		}
	})
}

// enqueue --priority, --deadline (a time or a duration) and --rate-key: jobs list shows the
// pending jobs in priority order and the rate key, jobs show the priority, deadline and rate
// key, info the pending jobs by priority.
func TestEnqueuePriorityDeadlineRateKey(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		low := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "p", "--priority", "-2"))
		mid := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "p"))
		at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		high := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "p", "--priority", "4", "--deadline", at.Format(time.RFC3339)))
		var listed []queue.Job
		decodeJSON(t, ok(t, cfg, "jobs", "list", "--queue", "p", "--json"), &listed)
		if got := []string{listed[0].ID, listed[1].ID, listed[2].ID}; !slices.Equal(got, []string{high, mid, low}) {
			t.Errorf("jobs list: %v, want %v (priority 4, 0, -2)", got, []string{high, mid, low})
		}
		if j := showJob(t, cfg, high); j.Priority != 4 || !j.Deadline.Equal(at) {
			t.Errorf("jobs show --json: priority %d deadline %v, want 4 and %v", j.Priority, j.Deadline, at)
		}
		shown := ok(t, cfg, "jobs", "show", high)
		for _, want := range []string{"Priority:   4", "Deadline:   " + fmtTime(at)} {
			if !strings.Contains(shown, want) {
				t.Errorf("jobs show does not show %q:\n%s", want, shown)
			}
		}
		if q := info(t, cfg).Queues[0]; !maps.Equal(q.PendingByPriority, map[int]int64{4: 1, 0: 1, -2: 1}) {
			t.Errorf("info --json pending_by_priority: %v", q.PendingByPriority)
		}
		if human := ok(t, cfg, "info"); !strings.Contains(human, "p  +4: 1, +0: 1, -2: 1") {
			t.Errorf("info does not show the pending jobs by priority:\n%s", human)
		}
		keyed := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "k", "--rate-key", "customer:42"))
		if j := showJob(t, cfg, keyed); j.RateKey != "customer:42" {
			t.Errorf("jobs show --json: rate key %q, want customer:42", j.RateKey)
		}
		if shown := ok(t, cfg, "jobs", "show", keyed); !strings.Contains(shown, "Rate key:   customer:42") {
			t.Errorf("jobs show does not show the rate key:\n%s", shown)
		}
		if listed := ok(t, cfg, "jobs", "list", "--queue", "k"); !strings.Contains(listed, "RATE KEY") || !strings.Contains(listed, "customer:42") {
			t.Errorf("jobs list does not show the rate key:\n%s", listed)
		}
		short := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop", "--queue", "d", "--deadline", "90s"))
		if d := showJob(t, cfg, short).Deadline; d.Before(time.Now().Add(80*time.Second)) || d.After(time.Now().Add(90*time.Second)) {
			t.Errorf("--deadline 90s stored %v", d)
		}
	})
}

func TestInfoKeys(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		ok(t, tb.cfg, "enqueue", "dominion.noop", "--queue", "k")
		var raw struct {
			Queues   []map[string]any `json:"queues"`
			Workers  []map[string]any `json:"workers"`
			Warnings []string         `json:"warnings"`
		}
		decodeJSON(t, ok(t, tb.cfg, "info", "--json"), &raw)
		if raw.Queues == nil || raw.Workers == nil || raw.Warnings == nil {
			t.Fatalf("info --json top-level keys: %v", raw)
		}
		var keys []string
		for k := range raw.Queues[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"active", "canceled", "completed", "dead", "failed", "name", "oldest_pending", "paused", "pending",
			"pending_by_priority", "processed", "retry", "scheduled", "waiting"}
		if !slices.Equal(keys, want) {
			t.Errorf("queue keys %v, want %v", keys, want)
		}
	})
}

// jobJSON is `jobs show --json`.
func showJob(t *testing.T, cfg config.Config, id string) queue.Job {
	t.Helper()
	var j queue.Job
	decodeJSON(t, ok(t, cfg, "jobs", "show", id, "--json"), &j)
	return j
}

func waitJobState(t *testing.T, cfg config.Config, id string, want queue.State) queue.Job {
	t.Helper()
	var j queue.Job
	eventually(t, 30*time.Second, func() bool {
		j = showJob(t, cfg, id)
		return j.State == want
	}, func() string { return "job " + id + " is " + string(j.State) + ", want " + string(want) })
	return j
}

func TestJobs(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		ok(t, cfg, "enqueue", "dominion.fail", `{"message": "boom"}`, "--queue", "qj", "--id", "fail-1")
		ok(t, cfg, "enqueue", "dominion.fail", `{"message": "bang\nsecond line"}`, "--queue", "qj", "--id", "fail-2")
		ok(t, cfg, "enqueue", "dominion.sleep", `{"ms": 5}`, "--queue", "qj", "--id", "ok-1")
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "other", "--id", "pending-1", "--timeout", "1m30s")
		// Durations in --json are milliseconds, in fields that say so.
		raw := ok(t, cfg, "jobs", "show", "pending-1", "--json")
		if !strings.Contains(raw, `"timeout_ms": 90000,`) || !strings.Contains(raw, `"result_ttl_ms": 86400000`) ||
			strings.Contains(raw, `"timeout":`) || strings.Contains(raw, `"result_ttl":`) {
			t.Errorf("jobs show --json: durations not in milliseconds:\n%s", raw)
		}

		if out := ok(t, cfg, "jobs", "list", "--queue", "qj"); !strings.Contains(out, "fail-1") || !strings.Contains(out, "ok-1") {
			t.Errorf("jobs list (pending):\n%s", out)
		}
		stop := inProcessWorker(t, cfg, "--queues", "qj", "--concurrency", "2", "--shutdown-timeout", "5s")
		waitJobState(t, cfg, "fail-1", queue.StateDead)
		waitJobState(t, cfg, "fail-2", queue.StateDead)
		done := waitJobState(t, cfg, "ok-1", queue.StateCompleted)
		if compact(t, done.Result) != `{"slept_ms":5}` || done.FinishedAt.IsZero() || done.StartedAt.IsZero() {
			t.Errorf("ok-1: %+v", done)
		}
		if r := stop(); !strings.Contains(r.stderr, "worker stopped") {
			t.Errorf("worker log: %s", r.stderr)
		}

		// Dead jobs are listed in the order they died: either order here.
		var dead []queue.Job
		decodeJSON(t, ok(t, cfg, "jobs", "list", "--queue", "qj", "--state", "dead", "--json"), &dead)
		slices.SortFunc(dead, func(a, b queue.Job) int { return strings.Compare(a.ID, b.ID) })
		if len(dead) != 2 || dead[0].ID != "fail-1" || dead[0].Errors[0].Error != "boom" || dead[1].ID != "fail-2" ||
			dead[1].Errors[0].Error != "bang\nsecond line" || compact(t, dead[0].Payload) != `{"message":"boom"}` {
			t.Fatalf("jobs list --state dead --json: %+v", dead)
		}
		var first, second []queue.Job
		decodeJSON(t, ok(t, cfg, "jobs", "list", "--queue", "qj", "--state", "dead", "--json", "--limit", "1"), &first)
		decodeJSON(t, ok(t, cfg, "jobs", "list", "--queue", "qj", "--state", "dead", "--json", "--offset", "1", "--limit", "5"), &second)
		if len(first) != 1 || len(second) != 1 || first[0].ID == second[0].ID {
			t.Fatalf("jobs list --limit 1: %+v; --offset 1: %+v", first, second)
		}
		if out := ok(t, cfg, "jobs", "list", "--queue", "qj", "--state", "canceled", "--json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("empty list --json: %q", out)
		}
		if out := ok(t, cfg, "jobs", "list", "--queue", "qj", "--state", "canceled"); out != "No canceled jobs in queue qj.\n" {
			t.Errorf("empty list: %q", out)
		}
		list := ok(t, cfg, "jobs", "list", "--queue", "qj", "--state", "dead")
		lines := strings.Split(strings.TrimSpace(list), "\n")
		slices.Sort(lines[1:])
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], "fail-1 ") ||
			!strings.HasSuffix(lines[1], "boom") || !strings.HasSuffix(lines[2], "bang …") {
			t.Errorf("jobs list --state dead:\n%s", list)
		}

		show := ok(t, cfg, "jobs", "show", "fail-1")
		for _, want := range []string{
			"ID:", "fail-1", "Type:", "dominion.fail", "State:", "dead", "Attempt:", "1/4", "Enqueued:", "Finished:",
			"Payload:\n  {\n    \"message\": \"boom\"\n  }\n", "Result:\n  (none)\n", "Errors:\n  attempt 1 at ", ":\n    boom\n",
		} {
			if !strings.Contains(show, want) {
				t.Errorf("jobs show fail-1 does not show %q:\n%s", want, show)
			}
		}
		if show := ok(t, cfg, "jobs", "show", "ok-1"); !strings.Contains(show, "Result:\n  {\n    \"slept_ms\": 5\n  }\n") || !strings.Contains(show, "Errors: none") {
			t.Errorf("jobs show ok-1:\n%s", show)
		}

		// Retry one dead job, then all the dead jobs of the queue.
		if out := ok(t, cfg, "jobs", "retry", "fail-1"); out != "Retried job fail-1: it is pending.\n" {
			t.Errorf("jobs retry: %q", out)
		}
		if j := showJob(t, cfg, "fail-1"); j.State != queue.StatePending || j.Attempt != 0 {
			t.Errorf("fail-1 after retry: %+v", j)
		}
		if out := ok(t, cfg, "jobs", "retry", "--all-dead", "--queue", "qj"); out != "Retried 1 dead jobs of queue qj.\n" {
			t.Errorf("jobs retry --all-dead: %q", out)
		}
		if j := showJob(t, cfg, "fail-2"); j.State != queue.StatePending {
			t.Errorf("fail-2 after retry --all-dead: %+v", j)
		}
		// A completed job cannot be retried; a job that does not exist is not found.
		if r := dominion(t, cfg, "jobs", "retry", "ok-1"); r.code != 1 || !strings.Contains(r.stderr, "not in a state that allows this") {
			t.Errorf("retry completed job: %s", r)
		}

		// Cancel a pending job; cancelling it again fails.
		if out := ok(t, cfg, "jobs", "cancel", "pending-1"); out != "Job pending-1 is canceled.\n" {
			t.Errorf("jobs cancel: %q", out)
		}
		if r := dominion(t, cfg, "jobs", "cancel", "pending-1"); r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("cancel twice: %s", r)
		}

		// Cancel every pending, then every scheduled job of a queue; other queues are untouched.
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "qc", "--count", "3")
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "qc", "--in", "1h", "--id", "later-1")
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "qc2", "--id", "kept-1")
		if out := ok(t, cfg, "jobs", "cancel", "--all", "--queue", "qc", "--state", "pending"); out != "Canceled 3 pending jobs of queue qc.\n" {
			t.Errorf("jobs cancel --all pending: %q", out)
		}
		if out := ok(t, cfg, "jobs", "cancel", "--queue", "qc", "--all", "--state", "scheduled"); out != "Canceled 1 scheduled job of queue qc.\n" {
			t.Errorf("jobs cancel --all scheduled: %q", out)
		}
		if j := showJob(t, cfg, "later-1"); j.State != queue.StateCanceled {
			t.Errorf("later-1 after cancel --all: %+v", j)
		}
		if j := showJob(t, cfg, "kept-1"); j.State != queue.StatePending {
			t.Errorf("kept-1 (another queue) after cancel --all: %+v", j)
		}

		// Delete, then it is gone.
		if out := ok(t, cfg, "jobs", "delete", "fail-2"); out != "Deleted job fail-2.\n" {
			t.Errorf("jobs delete: %q", out)
		}
		for _, args := range [][]string{{"jobs", "show", "fail-2"}, {"jobs", "delete", "fail-2"}, {"jobs", "cancel", "fail-2"}, {"jobs", "retry", "fail-2"}} {
			r := dominion(t, cfg, args...)
			if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "job not found") ||
				!strings.HasPrefix(r.stderr, "dominion "+strings.Join(args[:2], " ")+": ") {
				t.Errorf("dominion %v on a deleted job: %s", args, r)
			}
		}
		out := info(t, cfg)
		for _, q := range out.Queues {
			if q.Name == "qj" && (q.Pending != 1 || q.Completed != 1 || q.Dead != 0 || q.Processed != 3 || q.Failed != 2) {
				t.Errorf("qj at the end: %+v", q)
			}
			if q.Name == "other" && q.Canceled != 1 {
				t.Errorf("other at the end: %+v", q)
			}
			if q.Name == "qc" && (q.Canceled != 4 || q.Pending != 0 || q.Scheduled != 0) {
				t.Errorf("qc at the end: %+v", q)
			}
		}
	})
}

func TestCancelRunning(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		ok(t, cfg, "enqueue", "dominion.sleep", `{"ms": 600000}`, "--queue", "qc", "--id", "long")
		inProcessWorker(t, cfg, "--queues", "qc", "--concurrency", "1")
		waitJobState(t, cfg, "long", queue.StateActive)
		// info shows the worker and its job.
		var w queue.WorkerInfo
		eventually(t, 30*time.Second, func() bool {
			ws := info(t, cfg).Workers
			if len(ws) == 1 && len(ws[0].Jobs) == 1 {
				w = ws[0]
				return true
			}
			return false
		}, func() string { return "no worker running job long in info --json" })
		if w.Jobs[0] != "long" || !slices.Equal(w.Queues, []string{"qc"}) || w.Concurrency != 1 || w.PID == 0 || w.Host == "" || w.Heartbeat.IsZero() {
			t.Errorf("worker: %+v", w)
		}
		if human := ok(t, cfg, "info"); !strings.Contains(human, "WORKER") || !strings.Contains(human, w.ID) {
			t.Errorf("info does not show the worker:\n%s", human)
		}
		if out := ok(t, cfg, "jobs", "cancel", "long"); out != "Job long is running: cancellation requested.\n" {
			t.Errorf("jobs cancel (running): %q", out)
		}
		waitJobState(t, cfg, "long", queue.StateCanceled)
		if show := ok(t, cfg, "jobs", "show", "long"); !strings.Contains(show, "State:") || !strings.Contains(show, "canceled") {
			t.Errorf("jobs show long:\n%s", show)
		}
	})
}

func TestQueuesPauseResume(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "qp")
		if out := ok(t, cfg, "queues", "pause", "qp"); out != "Paused queue qp.\n" {
			t.Errorf("pause: %q", out)
		}
		if q := info(t, cfg).Queues[0]; !q.Paused {
			t.Errorf("after pause: %+v", q)
		}
		if human := ok(t, cfg, "info"); !strings.Contains(human, "qp     yes") {
			t.Errorf("info does not show qp paused:\n%s", human)
		}
		if out := ok(t, cfg, "queues", "resume", "qp"); out != "Resumed queue qp.\n" {
			t.Errorf("resume: %q", out)
		}
		if q := info(t, cfg).Queues[0]; q.Paused {
			t.Errorf("after resume: %+v", q)
		}

		// A misspelled queue is refused, and no phantom queue appears.
		if r := dominion(t, cfg, "queues", "pause", "qpp"); r.code != 1 || r.stdout != "" ||
			!strings.Contains(r.stderr, `queue not found: "qpp" (there are: qp)`) {
			t.Errorf("pause of a queue that does not exist: %s", r)
		}
		if qs := info(t, cfg).Queues; len(qs) != 1 {
			t.Errorf("after pausing a misspelled queue, info lists %+v", qs)
		}
		// delete refuses a queue with work left, then removes it once only finished jobs remain.
		if r := dominion(t, cfg, "queues", "delete", "qp"); r.code != 1 || !strings.Contains(r.stderr, "queue qp is not empty: 1 pending") {
			t.Errorf("delete of a queue with a pending job: %s", r)
		}
		ok(t, cfg, "jobs", "cancel", "--all", "--queue", "qp", "--state", "pending")
		if out := ok(t, cfg, "queues", "delete", "qp"); out != "Deleted queue qp (1 finished jobs removed).\n" {
			t.Errorf("delete: %q", out)
		}
		if qs := info(t, cfg).Queues; len(qs) != 0 {
			t.Errorf("after delete, info lists %+v", qs)
		}
		if r := dominion(t, cfg, "queues", "delete", "qp"); r.code != 1 || !strings.Contains(r.stderr, `queue not found: "qp" (there are none)`) {
			t.Errorf("delete of a deleted queue: %s", r)
		}
	})
}

// TestPasswordNeverShown runs commands against a Redis that requires a password, and with a
// wrong password: the password appears in no output, error or log.
func TestPasswordNeverShown(t *testing.T) {
	t.Parallel()
	const password = "Sup3r-s3cret-pa55"
	tb := redisBroker(t, testenv.WithPassword(password))
	cfg := tb.cfg
	cfg.LogLevel = -4 // debug: every log line
	if !strings.Contains(cfg.RedisURL, password) {
		t.Fatalf("the test URL %q has no password", cfg.RedisURL)
	}
	var all strings.Builder
	check := func(r result, args ...string) {
		t.Helper()
		all.WriteString(r.stdout + r.stderr)
		if strings.Contains(r.stdout+r.stderr, password) {
			t.Errorf("dominion %v shows the password: %s", args, r)
		}
	}
	for _, args := range [][]string{
		{"enqueue", "dominion.noop", "--queue", "s"},
		{"info"},
		{"info", "--json"},
		{"jobs", "list", "--queue", "s"},
		{"bench", "--jobs", "20", "--phases", "process"},
	} {
		r := dominion(t, cfg, args...)
		if r.code != 0 {
			t.Errorf("dominion %v: %s", args, r)
		}
		check(r, args...)
	}
	if !strings.Contains(all.String(), "redis://:xxxxx@127.0.0.1:") {
		t.Errorf("the redacted URL is shown nowhere:\n%s", all.String())
	}
	stop := inProcessWorker(t, cfg, "--queues", "s")
	eventually(t, 30*time.Second, func() bool {
		q, _ := stats(t.Context(), client(t, cfg), "s")
		return q.Completed == 1
	}, func() string { return "job not completed" })
	check(stop(), "worker")

	// A wrong password: the connection fails, and its error names neither password.
	wrong := cfg
	wrong.RedisURL = strings.Replace(cfg.RedisURL, password, "Wr0ng-pa55word", 1)
	for _, args := range [][]string{{"info"}, {"enqueue", "dominion.noop"}} {
		r := dominion(t, wrong, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "xxxxx") {
			t.Errorf("dominion %v with a wrong password: %s", args, r)
		}
		if strings.Contains(r.stdout+r.stderr, "Wr0ng-pa55word") || strings.Contains(r.stdout+r.stderr, password) {
			t.Errorf("dominion %v with a wrong password shows it: %s", args, r)
		}
	}
	// A worker starts degraded and keeps retrying (it never crash-loops): what it logs while
	// it retries for a bounded while names neither password.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var wout, werr testenv.LogBuffer
	run(ctx, []string{"worker"}, &wout, &werr, wrong)
	if out := wout.String() + werr.String(); strings.Contains(out, "Wr0ng-pa55word") || strings.Contains(out, password) {
		t.Errorf("dominion worker with a wrong password shows it: %s", out)
	}
}

// benchLine is one line of `bench --json`.
type benchLine struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
}

func TestBench(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		ok(t, cfg, "enqueue", "dominion.noop", "--queue", "mine", "--id", "keep-me")
		before := keys(t, tb)

		r := dominion(t, cfg, "bench", "--jobs", "200", "--concurrency", "3", "--samples", "40", "--json")
		if r.code != 0 {
			t.Fatalf("bench: %s", r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		want := []string{"enqueue_seq", "enqueue_batch", "process_c3", "latency_p50", "latency_p99"}
		if len(lines) != len(want) {
			t.Fatalf("bench --json printed %d lines, want %d:\n%s", len(lines), len(want), r.stdout)
		}
		for i, line := range lines {
			var bl benchLine
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&bl); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			unit := "jobs/s"
			if strings.HasPrefix(bl.Metric, "latency") {
				unit = "ms"
			}
			if bl.Metric != want[i] || bl.Unit != unit || !(bl.Value > 0) {
				t.Errorf("line %d = %+v, want metric %s in %s, positive", i, bl, want[i], unit)
			}
		}

		// The human form: the same metrics as a table.
		r = dominion(t, cfg, "bench", "--jobs", "50", "--concurrency", "2", "--phases", "process,enqueue")
		if r.code != 0 {
			t.Fatalf("bench: %s", r)
		}
		table := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(table) != 4 || !strings.HasPrefix(table[0], "METRIC") || !strings.HasPrefix(table[1], "enqueue_seq ") ||
			!strings.HasPrefix(table[2], "enqueue_batch ") || !strings.HasPrefix(table[3], "process_c2 ") {
			t.Errorf("bench table:\n%s", r.stdout)
		}

		// Nothing left behind, and nothing else touched.
		out := info(t, cfg)
		if len(out.Queues) != 1 || out.Queues[0].Name != "mine" || out.Queues[0].Pending != 1 || len(out.Workers) != 0 {
			t.Errorf("after bench: %+v", out)
		}
		if j := showJob(t, cfg, "keep-me"); j.State != queue.StatePending {
			t.Errorf("keep-me after bench: %+v", j)
		}
		if after := keys(t, tb); tb.redis != nil && !slices.Equal(before, after) {
			t.Errorf("Redis keys before bench: %v\nafter: %v", before, after)
		}
	})
}

// keys returns the sorted keys of the test's Redis (nil for the embedded broker).
func keys(t *testing.T, tb testBroker) []string {
	t.Helper()
	if tb.redis == nil {
		return nil
	}
	opts, err := redis.ParseURL(tb.cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ks, err := rdb.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ks)
	return ks
}

// compact returns raw without insignificant spaces.
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %q: %v", raw, err)
	}
	return b.String()
}
