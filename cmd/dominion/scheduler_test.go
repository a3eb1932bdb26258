package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
)

// TestSchedulerProcessesOneJobPerTick runs three `dominion scheduler` processes on one Redis
// with an every-second schedule, SIGKILLs one of them after three ticks, runs four seconds more, and checks that
// every tick from the first to the last has exactly one job. (The conformance suite checks
// the same rule on a fake clock; this is the real processes' version, so it takes real
// seconds.)
func TestSchedulerProcessesOneJobPerTick(t *testing.T) {
	t.Parallel()
	bin := binPath // built by TestMain (with -race under -race)
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "schedules.yaml")
	const spec = `schedules:
  - name: every-second
    spec: "* * * * * *"
    queue: ticks
    type: dominion.noop
    payload: {from: test}
`
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := "schedtest"
	env := append(os.Environ(), "REDIS_URL="+r.URL(), "DOMINION_REDIS_PREFIX="+prefix,
		"DOMINION_SCHEDULES="+file, "DOMINION_LOG_LEVEL=warn")

	b, err := redisbroker.Open(t.Context(), r.URL(), redisbroker.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ticks := func() []time.Time { return listTicks(t, b, "ticks", "every-second") }

	start := time.Now()
	procs := make([]*testenv.Process, 3)
	for i := range procs {
		procs[i] = testenv.StartProcess(t, &testenv.Process{
			Name: fmt.Sprintf("scheduler %d", i),
			Command: func() *exec.Cmd {
				cmd := exec.Command(bin, "scheduler")
				cmd.Env = env
				return cmd
			},
			Log: filepath.Join(dir, fmt.Sprintf("scheduler-%d.log", i)),
		})
	}
	logs := func() string {
		var sb strings.Builder
		for _, p := range procs {
			fmt.Fprintf(&sb, "--- %s:\n%s", p.Name, p.Output())
		}
		return sb.String()
	}
	waitUntil := func(within time.Duration, what string, cond func() bool) {
		t.Helper()
		testenv.Until(t, within, what, cond, func() string { return fmt.Sprintf("ticks %v\n%s", ticks(), logs()) })
	}
	lastTickAtLeast := func(at time.Time) func() bool {
		return func() bool {
			ts := ticks()
			return len(ts) > 0 && !ts[len(ts)-1].Before(at)
		}
	}

	// Midway, kill one scheduler without warning; the others go on.
	waitUntil(30*time.Second, "fewer than 3 ticks 30 s after the start", func() bool { return len(ticks()) >= 3 })
	killed := time.Now()
	procs[0].Stop(time.Minute, syscall.SIGKILL)
	waitUntil(30*time.Second, "no tick 4 s after the kill", lastTickAtLeast(killed.Add(4*time.Second)))
	for _, p := range procs[1:] {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs[1:] {
		if code, exited := p.Wait(time.Minute); code != 0 || !exited {
			t.Errorf("%s after SIGTERM: exit code %d, exited %t", p.Name, code, exited)
		}
	}

	got := ticks()
	// No tick before the processes started (how long they take to start depends on the
	// machine's load, so there is no upper bound: missing ticks are caught below).
	if first := got[0]; first.Before(start.Truncate(time.Second)) {
		t.Errorf("first tick %s, before the start %s", first, start)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].Sub(got[i-1]); d != time.Second {
			t.Errorf("ticks %s and %s are %s apart: missing ticks", got[i-1].Format(time.TimeOnly), got[i].Format(time.TimeOnly), d)
		}
	}
	stats, err := queue.NewClient(b).Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if s.Name == "ticks" && s.Pending != int64(len(got)) {
			t.Errorf("queue ticks has %d pending jobs for %d ticks", s.Pending, len(got))
		}
	}
	t.Logf("%d ticks from %s to %s, one job each; scheduler 0 killed at %s",
		len(got), got[0].Format(time.TimeOnly), got[len(got)-1].Format(time.TimeOnly), killed.Format(time.TimeOnly))
	if t.Failed() {
		t.Log(logs())
	}
}

// listTicks returns the ticks of the schedule's jobs on queue q, sorted; a job of the queue
// whose ID is not the schedule's tick ID fails the test.
func listTicks(t *testing.T, b queue.Broker, q, name string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, st := range queue.States {
		jobs, err := b.List(context.Background(), q, st, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			rest, ok := strings.CutPrefix(j.ID, name+":")
			tick, err := time.Parse("20060102T150405Z", rest)
			if !ok || err != nil || queue.TickJobID(name, tick) != j.ID {
				t.Fatalf("job %s on queue %s is no tick of %s", j.ID, q, name)
			}
			out = append(out, tick)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}
