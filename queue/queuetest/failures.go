package queuetest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

func testRetryThenSucceed(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var calls atomic.Int32
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"flaky": func(_ context.Context, j *queue.Job) (any, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("upstream 503")
		}
		return "ok", nil
	}})
	job := e.enqueue("flaky", nil, queue.MaxRetries(5))
	done := e.waitState(job.ID, queue.StateCompleted)
	if done.Attempt != 3 || len(done.Errors) != 2 {
		t.Fatalf("attempt %d with %d errors, want 3 and 2", done.Attempt, len(done.Errors))
	}
	for i, ae := range done.Errors {
		if ae.Attempt != i+1 || !strings.Contains(ae.Error, "upstream 503") || ae.At.IsZero() {
			t.Fatalf("error %d = %+v", i, ae)
		}
	}
	s := e.stats(queue.DefaultQueue)
	if s.Processed != 3 || s.Failed != 2 || s.Completed != 1 || s.Retry != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func testDeadAfterRetries(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var calls atomic.Int32
	var retryAt atomic.Int64
	e.worker(queue.WorkerConfig{Backoff: func(n int) time.Duration { return 200 * time.Millisecond }},
		map[string]queue.HandlerFunc{"bad": func(context.Context, *queue.Job) (any, error) {
			calls.Add(1)
			return nil, errors.New("always fails")
		}})
	job := e.enqueue("bad", nil, queue.MaxRetries(2))
	// Between attempts the job waits in the retry state with its next run time.
	eventually(t, 10*time.Second, func() bool {
		j, err := e.client.Get(e.ctx, job.ID)
		if err == nil && j.State == queue.StateRetry {
			retryAt.Store(j.RunAt.UnixMilli())
			return true
		}
		return false
	}, func() string { return "job never seen in the retry state" })
	if at := time.UnixMilli(retryAt.Load()); at.IsZero() || time.Until(at) > time.Second {
		t.Fatalf("retry run-at %v is not ~200ms ahead", at)
	}
	dead := e.waitState(job.ID, queue.StateDead)
	if calls.Load() != 3 || dead.Attempt != 3 || len(dead.Errors) != 3 {
		t.Fatalf("ran %d times, attempt %d, %d errors; want 3, 3, 3", calls.Load(), dead.Attempt, len(dead.Errors))
	}
	if s := e.stats(queue.DefaultQueue); s.Dead != 1 || s.Failed != 3 {
		t.Fatalf("stats = %+v", s)
	}
}

func testNoRetryGoesDead(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var calls atomic.Int32
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"perm": func(context.Context, *queue.Job) (any, error) {
		calls.Add(1)
		return nil, queue.NoRetry(errors.New("invalid account"))
	}})
	job := e.enqueue("perm", nil, queue.MaxRetries(10))
	dead := e.waitState(job.ID, queue.StateDead)
	if calls.Load() != 1 || len(dead.Errors) != 1 || !strings.Contains(dead.Errors[0].Error, "invalid account") {
		t.Fatalf("calls %d, errors %+v", calls.Load(), dead.Errors)
	}
}

func testUndecodablePayload(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var calls atomic.Int32
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"typed": func(_ context.Context, j *queue.Job) (any, error) {
		calls.Add(1)
		var in struct{ N int }
		return nil, j.Decode(&in)
	}})
	job := e.enqueue("typed", map[string]string{"N": "not a number"}, queue.MaxRetries(10))
	dead := e.waitState(job.ID, queue.StateDead)
	if calls.Load() != 1 || !strings.Contains(dead.Errors[0].Error, "decode payload") {
		t.Fatalf("calls %d, errors %+v", calls.Load(), dead.Errors)
	}
}

func testPanicFailsJob(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{
		"boom": func(context.Context, *queue.Job) (any, error) { panic("nil map write") },
		"fine": noop,
	})
	job := e.enqueue("boom", nil, queue.MaxRetries(0))
	dead := e.waitState(job.ID, queue.StateDead)
	if len(dead.Errors) != 1 || !strings.Contains(dead.Errors[0].Error, "panic: nil map write") ||
		!strings.Contains(dead.Errors[0].Stack, "goroutine") {
		t.Fatalf("errors = %+v", dead.Errors)
	}
	// The worker goes on.
	next := e.enqueue("fine", nil)
	e.waitState(next.ID, queue.StateCompleted)
}

func testTimeout(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"slow": func(ctx context.Context, _ *queue.Job) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	job := e.enqueue("slow", nil, queue.Timeout(100*time.Millisecond), queue.MaxRetries(0))
	dead := e.waitState(job.ID, queue.StateDead)
	if !strings.Contains(dead.Errors[0].Error, "timed out after 100ms") {
		t.Fatalf("error = %q", dead.Errors[0].Error)
	}
}

func testUnknownJob(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"known": noop})
	job := e.enqueue("unknown.type", nil, queue.MaxRetries(0))
	dead := e.waitState(job.ID, queue.StateDead)
	if !strings.Contains(dead.Errors[0].Error, "no handler registered") {
		t.Fatalf("error = %q", dead.Errors[0].Error)
	}
}

// testUnavailableKeepsAttempts: a handler whose dependency is down (an Unavailable error)
// uses none of its job's attempts, however often it runs during the outage; the job runs
// again once the dependency is back.
func testUnavailableKeepsAttempts(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var down atomic.Bool
	var calls atomic.Int32
	down.Store(true)
	e.worker(queue.WorkerConfig{MaxUnavailableDelay: 50 * time.Millisecond},
		map[string]queue.HandlerFunc{
			"needs-db": func(context.Context, *queue.Job) (any, error) {
				calls.Add(1)
				if down.Load() {
					return nil, queue.Unavailable(errors.New("dial tcp 127.0.0.1:5432: connection refused"))
				}
				return "ok", nil
			},
			"doomed": func(context.Context, *queue.Job) (any, error) {
				return nil, queue.NoRetry(queue.Unavailable(errors.New("down, and permanent")))
			},
		})
	// No retries: a single counted failure would send the job to dead.
	job := e.enqueue("needs-db", nil, queue.MaxRetries(0))
	eventually(t, 15*time.Second, func() bool {
		j, err := e.client.Get(e.ctx, job.ID)
		return err == nil && calls.Load() >= 3 && j.State == queue.StateRetry && j.Attempt == 0
	}, func() string { return "job never seen waiting in retry with its attempt given back" })
	down.Store(false)
	done := e.waitState(job.ID, queue.StateCompleted)
	if done.Attempt != 1 || len(done.Errors) != 0 {
		t.Fatalf("completed at attempt %d with errors %+v; want attempt 1 and no errors", done.Attempt, done.Errors)
	}
	if s := e.stats(queue.DefaultQueue); s.Processed != 1 || s.Failed != 0 {
		t.Fatalf("stats = %+v; want processed 1, failed 0 (the outage counts nothing)", s)
	}
	doomed := e.enqueue("doomed", nil, queue.MaxRetries(5))
	if j := e.waitState(doomed.ID, queue.StateDead); j.Attempt != 1 {
		t.Fatalf("NoRetry(Unavailable) job dead at attempt %d, want 1", j.Attempt)
	}
}
