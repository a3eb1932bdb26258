//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
)

// TestJobsWatchSeesEveryEvent runs `dominion jobs watch --json` in its own process while this
// process enqueues and runs 1,000 jobs (one in ten failing once): the watcher prints every
// event of every job, in the order of the job's transitions, on SQLite (another process on
// the same file) and on Redis.
func TestJobsWatchSeesEveryEvent(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		c := client(t, tb.cfg) // opens the broker (and creates the SQLite file)
		watcher := startWatch(t, tb, "--queue", "watched", "--json")
		const n = 1000
		reqs := make([]queue.Request, n)
		for i := range reqs {
			reqs[i] = queue.Request{Type: "step", Payload: map[string]int{"i": i},
				Options: []queue.Option{queue.OnQueue("watched"), queue.MaxRetries(1)}}
		}
		jobs, errs, err := c.EnqueueMany(t.Context(), reqs)
		if err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
			t.Fatalf("enqueue: %v %v", err, errs)
		}
		runSteps(t, c)
		want := map[string][]queue.EventKind{}
		for i, j := range jobs {
			want[j.ID] = []queue.EventKind{queue.EventEnqueued, queue.EventStarted, queue.EventProgress}
			if i%10 == 0 {
				want[j.ID] = append(want[j.ID], queue.EventFailed, queue.EventStarted, queue.EventProgress)
			}
			want[j.ID] = append(want[j.ID], queue.EventCompleted)
		}
		var got map[string][]queue.Event
		eventually(t, 4*time.Minute, func() bool {
			got = watchedEvents(t, watcher.Log)
			for id, kinds := range want {
				if len(got[id]) < len(kinds) {
					return false
				}
			}
			return true
		}, func() string { return fmt.Sprintf("the watcher printed the events of %d jobs", len(got)) })
		for id, kinds := range want {
			evs := got[id]
			gotKinds := make([]queue.EventKind, len(evs))
			for i, ev := range evs {
				gotKinds[i] = ev.Kind
				if ev.Queue != "watched" || ev.Type != "step" {
					t.Fatalf("job %s: event %+v", id, ev)
				}
			}
			if !slices.Equal(gotKinds, kinds) {
				t.Fatalf("job %s: events %v, want %v", id, gotKinds, kinds)
			}
		}
		if code := watcher.Stop(30*time.Second, syscall.SIGINT); code != 0 {
			t.Fatalf("jobs watch exited %d after SIGINT, want 0", code)
		}
	})
}

// startWatch starts `dominion jobs watch` with args on tb's broker and waits until it says it
// is subscribed.
func startWatch(t *testing.T, tb testBroker, args ...string) *testenv.Process {
	t.Helper()
	log := filepath.Join(t.TempDir(), "watch.log")
	return testenv.StartProcess(t, &testenv.Process{
		Name: "jobs watch",
		Command: func() *exec.Cmd {
			cmd := exec.Command(binPath, append([]string{"jobs", "watch"}, args...)...)
			cmd.Env = processEnv(tb.cfg)
			return cmd
		},
		Log:          log,
		StartTimeout: 30 * time.Second,
		Ready: func() error {
			b, err := os.ReadFile(log)
			if err != nil || !strings.Contains(string(b), watchReady) {
				return errors.New("not subscribed yet")
			}
			return nil
		},
	})
}

// runSteps runs the queue's jobs in this process until every one has completed: each reports
// its progress and waits until the broker has it, and one job in ten fails its first attempt.
func runSteps(t *testing.T, c *queue.Client) {
	t.Helper()
	w := queue.NewWorker(c.Broker(), queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "watched", Weight: 1}},
		Concurrency: 20, Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
	w.HandleFunc("step", func(ctx context.Context, j *queue.Job) (any, error) {
		msg := fmt.Sprintf("attempt %d", j.Attempt)
		if err := queue.ReportProgress(ctx, 50, msg); err != nil {
			return nil, err
		}
		if !testenv.Poll(ctx, 30*time.Second, func() bool {
			got, err := c.Get(ctx, j.ID)
			return err == nil && got.Progress != nil && got.Progress.Message == msg
		}) {
			return nil, errors.New("progress never stored")
		}
		var p struct{ I int }
		if err := j.Decode(&p); err != nil {
			return nil, err
		}
		if p.I%10 == 0 && j.Attempt == 1 {
			return nil, errors.New("first attempt fails")
		}
		return nil, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitStats(t, c, "watched", 4*time.Minute, "not every job completed",
		func(s queue.QueueStats) bool { return s.Completed == 1000 })
}

// watchedEvents reads the JSON lines `jobs watch --json` wrote to log, per job in order.
func watchedEvents(t *testing.T, log string) map[string][]queue.Event {
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]queue.Event{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var ev queue.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			continue // a line being written
		}
		out[ev.JobID] = append(out[ev.JobID], ev)
	}
	return out
}
