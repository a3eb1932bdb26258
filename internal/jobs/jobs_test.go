package jobs_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/jobs"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// start opens an embedded broker and runs a worker with the built-in jobs on queue "q".
func start(t *testing.T) *queue.Client {
	t.Helper()
	b, err := sqlitebroker.Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), sqlitebroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "q", Weight: 1}}, ShutdownTimeout: 5 * time.Second,
		Backoff: func(int) time.Duration { return time.Hour },
	})
	jobs.Register(w)
	jobtest.StartWorker(t, w)
	return queue.NewClient(b)
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

	jobtest.WaitState(t, c, noop, queue.StateCompleted)
	if j := jobtest.WaitState(t, c, sleep, queue.StateCompleted); string(j.Result) != `{"slept_ms":20}` {
		t.Errorf("sleep result = %s", j.Result)
	}
	jobtest.WaitState(t, c, sleepNoPayload, queue.StateCompleted)
	for _, id := range []string{badSleep, negSleep} {
		if j := jobtest.WaitState(t, c, id, queue.StateDead); j.Attempt != 1 {
			t.Errorf("bad sleep payload: attempt %d, want 1 (no retry)", j.Attempt)
		}
	}
	j := jobtest.WaitState(t, c, fail, queue.StateDead)
	if j.Attempt != 1 || len(j.Errors) != 1 || j.Errors[0].Error != "boom" {
		t.Errorf("fail: attempt %d, errors %+v", j.Attempt, j.Errors)
	}
	if j := jobtest.WaitState(t, c, failDefault, queue.StateDead); len(j.Errors) != 1 || j.Errors[0].Error != "failed on purpose" {
		t.Errorf("fail without payload: errors %+v", j.Errors)
	}
	if j := jobtest.WaitState(t, c, retryable, queue.StateRetry); j.Errors[0].Error != "again" {
		t.Errorf("retryable fail: errors %+v", j.Errors)
	}
	// The sleep respects its context: the timeout ends it long before its 60 s.
	j = jobtest.WaitState(t, c, timedOut, queue.StateDead)
	if len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, "timed out") {
		t.Errorf("timed-out sleep: errors %+v", j.Errors)
	}
}
