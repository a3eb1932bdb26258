package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

// TestPlainWorkerServesServiceQueues: a `dominion worker` without --queues serves every queue
// the service uses (workflows, default), says so at start and in info; before it runs, info
// warns about the queues whose pending jobs no worker serves, and enqueue warns that no live
// worker handles the job.
func TestPlainWorkerServesServiceQueues(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		r := dominion(t, cfg, "enqueue", "dominion.noop", "--queue", workflow.DefaultQueue)
		if r.code != 0 || !strings.Contains(r.stderr, "warning: no live worker serves queue workflows with a handler for dominion.noop") {
			t.Errorf("enqueue with no worker: want a warning on stderr: %s", r)
		}
		wfJob := strings.TrimSpace(r.stdout)
		defJob := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.noop"))
		out := info(t, cfg)
		if len(out.Warnings) != 2 || !strings.Contains(out.Warnings[0], "queue default has 1 pending jobs and no live worker serves it") ||
			!strings.Contains(out.Warnings[1], "queue workflows has 1 pending jobs") {
			t.Errorf("info --json warnings with no worker = %q", out.Warnings)
		}
		if human := ok(t, cfg, "info"); !strings.Contains(human, "Warning: queue workflows has 1 pending jobs and no live worker serves it") {
			t.Errorf("info does not warn about the unserved queue:\n%s", human)
		}

		stop := inProcessWorker(t, cfg, "--shutdown-timeout", "5s")
		waitJobState(t, cfg, wfJob, queue.StateCompleted)
		waitJobState(t, cfg, defJob, queue.StateCompleted)
		out = info(t, cfg)
		if len(out.Workers) != 1 || !slices.Equal(out.Workers[0].Queues, []string{"workflows", "default"}) ||
			!slices.Contains(out.Workers[0].Types, workflow.JobExecute) || !slices.Contains(out.Workers[0].Types, "dominion.noop") {
			t.Errorf("info --json workers = %+v", out.Workers)
		}
		if len(out.Warnings) != 0 {
			t.Errorf("info --json warnings with a worker = %q", out.Warnings)
		}
		// A type no live worker handles is still accepted, with a warning; a known one is not.
		if r := dominion(t, cfg, "enqueue", "no.such.type"); r.code != 0 ||
			!strings.Contains(r.stderr, "no live worker serves queue default with a handler for no.such.type") {
			t.Errorf("enqueue of an unhandled type: %s", r)
		}
		if r := dominion(t, cfg, "enqueue", "dominion.noop", "--count", "2"); r.code != 0 || r.stderr != "" {
			t.Errorf("enqueue of a handled type: %s", r)
		}
		res := stop()
		if !regexp.MustCompile(`msg="dominion worker" .*queues="workflows=3,default=1"`).MatchString(res.stderr) {
			t.Errorf("the worker's start-up line does not name its queues:\n%s", res.stderr)
		}
	})
}

// TestWorkerSchedulesQueues: the default queues include those of the schedules.
func TestWorkerSchedulesQueues(t *testing.T) {
	t.Parallel()
	tb := sqliteBroker(t)
	cfg := tb.cfg
	cfg.SchedulesFile = writeFile(t, "schedules.yaml", "schedules:\n  - name: cleanup_old_workflows\n    queue: maintenance\n")
	stop := inProcessWorker(t, cfg, "--shutdown-timeout", "5s")
	eventually(t, 10*time.Second, func() bool {
		ws, err := client(t, cfg).Workers(t.Context())
		return err == nil && len(ws) == 1
	}, func() string { return "no live worker" })
	out := info(t, cfg)
	if got := out.Workers[0].Queues; !slices.Equal(got, []string{"workflows", "default", "maintenance"}) {
		t.Errorf("worker queues = %q, want workflows, default and the schedule's maintenance", got)
	}
	stop()
}

// writeFile writes content to a new file name in a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// everySecond writes a schedules file with one schedule, every-second, that enqueues a
// dominion.noop job on queue each second, and returns its path.
func everySecond(t *testing.T, queue string) string {
	return writeFile(t, "schedules.yaml", `schedules:
  - name: every-second
    spec: "* * * * * *"
    queue: `+queue+`
    type: dominion.noop
`)
}

// TestHelpSaysWhatServeRuns: the command list names everything serve runs.
func TestHelpSaysWhatServeRuns(t *testing.T) {
	t.Parallel()
	out := ok(t, testConfig(config.Config{DataDir: t.TempDir()}), "help")
	line := ""
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "serve ") {
			line = l
		}
	}
	for _, part := range []string{"API", "dashboard", "worker", "scheduler", "relay"} {
		if !strings.Contains(line, part) {
			t.Errorf("dominion help's serve line %q does not name the %s", line, part)
		}
	}
}

// TestReadOnlyCommandsNeedData: with the embedded broker, info, jobs, queues and schedules
// list on a data directory without data say so, exit 1 and create nothing; the directory is
// named absolute however it was given.
func TestReadOnlyCommandsNeedData(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	cfg := testConfig(config.Config{DataDir: filepath.Join(parent, "data")})
	for _, args := range [][]string{
		{"info"}, {"info", "--json"}, {"jobs", "list"}, {"jobs", "show", "X"}, {"jobs", "retry", "X"},
		{"queues", "pause", "default"}, {"schedules", "list"},
	} {
		r := dominion(t, cfg, args...)
		want := "no queue data in " + cfg.DataDir + " (there is no queue.db)"
		if r.code != 1 || !strings.Contains(r.stderr, want) || r.stdout != "" {
			t.Errorf("dominion %q on an empty data directory: want exit 1 and %q; got %s", args, want, r)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("read-only commands created %v in %s", entries, parent)
	}
	// A relative data directory is shown absolute.
	rel := testConfig(config.Config{DataDir: "no-such-dominion-data"})
	abs, err := filepath.Abs(rel.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if r := dominion(t, rel, "info"); r.code != 1 || !strings.Contains(r.stderr, "no queue data in "+abs+" ") {
		t.Errorf("info with a relative data directory: want it named %s; got %s", abs, r)
	}
	// enqueue creates the data; info then works.
	ok(t, cfg, "enqueue", "dominion.noop")
	if out := ok(t, cfg, "info"); !strings.Contains(out, "Broker: sqlite "+filepath.Join(cfg.DataDir, "queue.db")) {
		t.Errorf("info after enqueue:\n%s", out)
	}
}
