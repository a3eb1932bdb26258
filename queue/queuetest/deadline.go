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

// lastError is the job's most recent recorded error ("" when none).
func lastError(j *queue.Job) string {
	if len(j.Errors) == 0 {
		return ""
	}
	return j.Errors[len(j.Errors)-1].Error
}

// testDeadlineNotStarted: a pending job whose deadline passes while it waits is never
// started: the fetch that meets it makes it dead with "deadline exceeded". The one worker
// slot is held until the deadline by a job whose own context ends there.
func testDeadlineNotStarted(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var lateRan atomic.Bool
	blockerStarted := make(chan struct{})
	e.worker(queue.WorkerConfig{Concurrency: 1}, map[string]queue.HandlerFunc{
		"blocker": func(ctx context.Context, _ *queue.Job) (any, error) {
			close(blockerStarted)
			<-ctx.Done() // its deadline
			return nil, ctx.Err()
		},
		"late": func(context.Context, *queue.Job) (any, error) {
			lateRan.Store(true)
			return nil, nil
		},
	})
	deadline := time.Now().Add(300 * time.Millisecond)
	blocker := e.enqueue("blocker", nil, queue.Deadline(deadline))
	<-blockerStarted
	late := e.enqueue("late", nil, queue.Deadline(deadline), queue.Unique("late", 0))
	if got := e.get(late.ID); got.Deadline.Sub(deadline).Abs() > time.Millisecond {
		t.Fatalf("stored deadline %v, want %v", got.Deadline, deadline)
	}
	got := e.waitState(late.ID, queue.StateDead)
	if lateRan.Load() || got.Attempt != 0 || !got.StartedAt.IsZero() {
		t.Fatalf("job past its deadline was started: ran %v, attempt %d, started %v", lateRan.Load(), got.Attempt, got.StartedAt)
	}
	if msg := lastError(got); msg != queue.ErrDeadlineExceeded.Error() {
		t.Fatalf("dead job's error = %q, want %q", msg, queue.ErrDeadlineExceeded)
	}
	if b := e.waitState(blocker.ID, queue.StateDead); !strings.HasPrefix(lastError(b), "deadline exceeded") {
		t.Fatalf("the running job past its deadline ended with %q, want deadline exceeded", lastError(b))
	}
	// The dead job released its unique key.
	if _, err := e.client.Enqueue(e.ctx, "late", nil, queue.Unique("late", 0)); err != nil {
		t.Fatalf("enqueue with the dead job's unique key: %v", err)
	}
}

// testDeadlineContext: a running job's context ends at the earlier of its deadline and its
// timeout.
func testDeadlineContext(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	seen := make(chan time.Time, 2)
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{
		"look": func(ctx context.Context, _ *queue.Job) (any, error) {
			d, _ := ctx.Deadline()
			seen <- d
			return nil, nil
		}})
	deadline := time.Now().Add(time.Hour)
	e.enqueue("look", nil, queue.Deadline(deadline), queue.Timeout(24*time.Hour))
	if d := <-seen; d.Sub(deadline).Abs() > time.Millisecond {
		t.Fatalf("context deadline %v, want the job's deadline %v", d, deadline)
	}
	began := time.Now()
	e.enqueue("look", nil, queue.Deadline(deadline), queue.Timeout(time.Minute))
	if d := <-seen; d.Before(began.Add(time.Minute)) || d.After(time.Now().Add(time.Minute)) {
		t.Fatalf("context deadline %v, want the timeout's (a minute after the start)", d)
	}
}

// testDeadlineNoRetryAfter: a failed attempt whose retry would run after the deadline ends
// the job dead at once with "deadline exceeded"; a run-at after the deadline is refused.
func testDeadlineNoRetryAfter(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.worker(queue.WorkerConfig{Backoff: func(int) time.Duration { return time.Hour }},
		map[string]queue.HandlerFunc{"fail": func(context.Context, *queue.Job) (any, error) {
			return nil, errors.New("boom")
		}})
	job := e.enqueue("fail", nil, queue.MaxRetries(5), queue.Deadline(time.Now().Add(time.Minute)))
	got := e.waitState(job.ID, queue.StateDead)
	if got.Attempt != 1 || lastError(got) != "deadline exceeded: boom" {
		t.Fatalf("dead after attempt %d with %q, want attempt 1 and %q", got.Attempt, lastError(got), "deadline exceeded: boom")
	}
	_, err := e.client.Enqueue(e.ctx, "fail", nil, queue.RunIn(time.Hour), queue.Deadline(time.Now().Add(time.Minute)))
	mustIs(t, err, queue.ErrInvalidJob)
}
