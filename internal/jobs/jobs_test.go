package jobs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/jobs"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// start opens an embedded broker and runs a worker with the built-in jobs on queue "q".
func start(t *testing.T) *queue.Client {
	t.Helper()
	b, err := sqlitebroker.Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), sqlitebroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "q", Weight: 1}}, ShutdownTimeout: 5 * time.Second,
		Backoff: func(int) time.Duration { return time.Hour },
	})
	jobs.Register(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
		b.Close()
	})
	return queue.NewClient(b)
}

// waitState polls the job until it is in state want.
func waitState(t *testing.T, c *queue.Client, id string, want queue.State) *queue.Job {
	t.Helper()
	var job *queue.Job
	var err error
	testenv.Until(t, 15*time.Second, "job "+id+" in state "+string(want), func() bool {
		job, err = c.Get(t.Context(), id)
		return err == nil && job.State == want
	}, func() string { return fmt.Sprintf("%v, state %v", err, job) })
	return job
}

func TestBuiltins(t *testing.T) {
	t.Parallel()
	c := start(t)
	ctx := t.Context()
	enqueue := func(typ, payload string, opts ...queue.Option) string {
		t.Helper()
		var p any
		if payload != "" {
			p = []byte(payload)
		}
		job, err := c.Enqueue(ctx, typ, p, append(opts, queue.OnQueue("q"))...)
		if err != nil {
			t.Fatal(err)
		}
		return job.ID
	}
	noop := enqueue(jobs.Noop, "")
	sleep := enqueue(jobs.Sleep, `{"ms": 20}`)
	sleepNoPayload := enqueue(jobs.Sleep, "")
	badSleep := enqueue(jobs.Sleep, `{"ms": "long"}`)
	negSleep := enqueue(jobs.Sleep, `{"ms": -1}`)
	fail := enqueue(jobs.Fail, `{"message": "boom"}`)
	failDefault := enqueue(jobs.Fail, "")
	retryable := enqueue(jobs.Fail, `{"message": "again", "retryable": true}`)
	timedOut := enqueue(jobs.Sleep, `{"ms": 60000}`, queue.Timeout(50*time.Millisecond), queue.MaxRetries(0))

	waitState(t, c, noop, queue.StateCompleted)
	if j := waitState(t, c, sleep, queue.StateCompleted); string(j.Result) != `{"slept_ms":20}` {
		t.Errorf("sleep result = %s", j.Result)
	}
	waitState(t, c, sleepNoPayload, queue.StateCompleted)
	for _, id := range []string{badSleep, negSleep} {
		if j := waitState(t, c, id, queue.StateDead); j.Attempt != 1 {
			t.Errorf("bad sleep payload: attempt %d, want 1 (no retry)", j.Attempt)
		}
	}
	j := waitState(t, c, fail, queue.StateDead)
	if j.Attempt != 1 || len(j.Errors) != 1 || j.Errors[0].Error != "boom" {
		t.Errorf("fail: attempt %d, errors %+v", j.Attempt, j.Errors)
	}
	if j := waitState(t, c, failDefault, queue.StateDead); len(j.Errors) != 1 || j.Errors[0].Error != "failed on purpose" {
		t.Errorf("fail without payload: errors %+v", j.Errors)
	}
	if j := waitState(t, c, retryable, queue.StateRetry); j.Errors[0].Error != "again" {
		t.Errorf("retryable fail: errors %+v", j.Errors)
	}
	// The sleep respects its context: the timeout ends it long before its 60 s.
	j = waitState(t, c, timedOut, queue.StateDead)
	if len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, "timed out") {
		t.Errorf("timed-out sleep: errors %+v", j.Errors)
	}
}
