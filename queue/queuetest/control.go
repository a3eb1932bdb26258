package queuetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// recorder is a handler that records the queues of the jobs it ran, in order.
type recorder struct {
	mu     sync.Mutex
	queues []string
}

func (r *recorder) handle(_ context.Context, j *queue.Job) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queues = append(r.queues, j.Queue)
	return nil, nil
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.queues...)
}

func fill(e *env, q string, n int) {
	e.t.Helper()
	reqs := make([]queue.Request, n)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "rec", Options: []queue.Option{queue.OnQueue(q)}}
	}
	if _, _, err := e.client.EnqueueMany(e.ctx, reqs); err != nil {
		e.t.Fatal(err)
	}
}

func testStrictPriority(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	fill(e, "low", 20)
	fill(e, "critical", 20)
	fill(e, "default", 20)
	var rec recorder
	e.worker(queue.WorkerConfig{
		Queues:         []queue.QueueWeight{{Name: "low", Weight: 1}, {Name: "critical", Weight: 6}, {Name: "default", Weight: 3}},
		StrictPriority: true, Concurrency: 1,
	}, map[string]queue.HandlerFunc{"rec": rec.handle})
	eventually(t, 20*time.Second, func() bool { return len(rec.snapshot()) == 60 },
		func() string { return fmt.Sprintf("ran %d of 60", len(rec.snapshot())) })
	got := rec.snapshot()
	for i, q := range got {
		want := "critical"
		if i >= 40 {
			want = "low"
		} else if i >= 20 {
			want = "default"
		}
		if q != want {
			t.Fatalf("job %d came from %s, want %s (order %v)", i, q, want, got)
		}
	}
}

func testWeightedPriority(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	fill(e, "high", 300)
	fill(e, "low", 300)
	var rec recorder
	e.worker(queue.WorkerConfig{
		Queues:      []queue.QueueWeight{{Name: "high", Weight: 9}, {Name: "low", Weight: 1}},
		Concurrency: 1, MaxBatch: 1,
	}, map[string]queue.HandlerFunc{"rec": rec.handle})
	eventually(t, 20*time.Second, func() bool { return len(rec.snapshot()) >= 200 },
		func() string { return fmt.Sprintf("ran %d of 200", len(rec.snapshot())) })
	high := 0
	for _, q := range rec.snapshot()[:200] {
		if q == "high" {
			high++
		}
	}
	// Expected 180 of 200 from "high"; far from 100 (no weighting) and from 200 (strict).
	if high < 160 || high > 195 {
		t.Fatalf("%d of the first 200 jobs came from the weight-9 queue, want about 180", high)
	}
}

func testPause(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	held := e.enqueue("rec", nil, queue.OnQueue("paused"))
	if err := e.client.Pause(e.ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	e.worker(queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "paused", Weight: 1}, {Name: "open", Weight: 1}}},
		map[string]queue.HandlerFunc{"rec": rec.handle})
	open := e.enqueue("rec", nil, queue.OnQueue("open"))
	e.waitState(open.ID, queue.StateCompleted)
	if got := e.get(held.ID); got.State != queue.StatePending {
		t.Fatalf("job on paused queue is %s", got.State)
	}
	if s := e.stats("paused"); !s.Paused {
		t.Fatalf("stats do not show the queue paused: %+v", s)
	}
	if err := e.client.Resume(e.ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	e.waitState(held.ID, queue.StateCompleted)
	if s := e.stats("paused"); s.Paused {
		t.Fatal("queue still shown paused after resume")
	}
}

// testPauseUnknownQueue: pausing or resuming a queue that has never had a job is refused
// with ErrQueueNotFound, naming it and the queues there are, and creates no queue.
func testPauseUnknownQueue(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.enqueue("x", nil, queue.OnQueue("mail"))
	for name, act := range map[string]func(context.Context, string) error{"pause": e.client.Pause, "resume": e.client.Resume} {
		err := act(e.ctx, "mial")
		if !errors.Is(err, queue.ErrQueueNotFound) || !strings.Contains(err.Error(), `"mial" (there are: mail)`) {
			t.Errorf("%s of a queue that does not exist: %v; want ErrQueueNotFound naming it and the queues there are", name, err)
		}
	}
	qs, err := e.client.Queues(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Name != "mail" || qs[0].Paused {
		t.Errorf("queues after pausing a misspelled one: %+v; want only mail, not paused", qs)
	}
	if err := e.client.Pause(e.ctx, "mail"); err != nil {
		t.Errorf("pause of a queue that exists: %v", err)
	}
}

func testCancelPending(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	job := e.enqueue("x", nil)
	st, err := e.client.Cancel(e.ctx, job.ID)
	if err != nil || st != queue.StateCanceled {
		t.Fatalf("cancel = %s, %v", st, err)
	}
	s := e.stats(queue.DefaultQueue)
	if s.Pending != 0 || s.Canceled != 1 {
		t.Fatalf("stats = %+v", s)
	}
	// A canceled job never runs.
	var rec recorder
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"x": rec.handle})
	after := e.enqueue("x", nil)
	e.waitState(after.ID, queue.StateCompleted)
	if n := len(rec.snapshot()); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (the canceled job must not run)", n)
	}
	if _, err := e.client.Cancel(e.ctx, after.ID); err == nil {
		t.Fatal("canceling a completed job succeeded")
	} else {
		mustIs(t, err, queue.ErrInvalidState)
	}
}

func testCancelScheduled(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	job := e.enqueue("x", nil, queue.RunIn(time.Hour))
	if st, err := e.client.Cancel(e.ctx, job.ID); err != nil || st != queue.StateCanceled {
		t.Fatalf("cancel = %s, %v", st, err)
	}
	if s := e.stats(queue.DefaultQueue); s.Scheduled != 0 || s.Canceled != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func testCancelRunning(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	started := make(chan struct{})
	stopped := make(chan error, 1)
	e.worker(queue.WorkerConfig{HeartbeatInterval: 50 * time.Millisecond}, map[string]queue.HandlerFunc{
		"long": func(ctx context.Context, _ *queue.Job) (any, error) {
			close(started)
			<-ctx.Done()
			stopped <- context.Cause(ctx)
			return nil, ctx.Err()
		}})
	job := e.enqueue("long", nil, queue.MaxRetries(5))
	<-started
	st, err := e.client.Cancel(e.ctx, job.ID)
	if err != nil || st != queue.StateActive {
		t.Fatalf("cancel of a running job = %s, %v; want active (stopping)", st, err)
	}
	select {
	case cause := <-stopped:
		if cause != queue.ErrJobCanceled {
			t.Fatalf("handler context cause = %v", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("running job's context was not canceled")
	}
	e.waitState(job.ID, queue.StateCanceled)
}

func testCancelAll(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var pending, scheduled []*queue.Job
	for i := range 4 {
		pending = append(pending, e.enqueue("x", nil, queue.OnQueue("q"), queue.Unique(fmt.Sprint("p", i), time.Hour)))
	}
	for range 3 {
		scheduled = append(scheduled, e.enqueue("x", nil, queue.OnQueue("q"), queue.RunIn(50*time.Millisecond)))
	}
	other := e.enqueue("x", nil, queue.OnQueue("other"))

	n, err := e.client.CancelAll(e.ctx, "q", queue.StatePending)
	if err != nil || n != len(pending) {
		t.Fatalf("cancel all pending = %d, %v; want %d", n, err, len(pending))
	}
	n, err = e.client.CancelAll(e.ctx, "q", queue.StateScheduled)
	if err != nil || n != len(scheduled) {
		t.Fatalf("cancel all scheduled = %d, %v; want %d", n, err, len(scheduled))
	}
	if s := e.stats("q"); s.Pending != 0 || s.Scheduled != 0 || s.Canceled != int64(len(pending)+len(scheduled)) {
		t.Fatalf("stats of q = %+v", s)
	}
	if s := e.stats("other"); s.Pending != 1 || s.Canceled != 0 {
		t.Fatalf("stats of the other queue = %+v", s)
	}
	for _, j := range append(pending, scheduled...) {
		got := e.get(j.ID)
		if got.State != queue.StateCanceled || got.FinishedAt.IsZero() {
			t.Fatalf("job %s after cancel all: state %s, finished %v", j.ID, got.State, got.FinishedAt)
		}
	}
	if n, err := e.client.CancelAll(e.ctx, "q", queue.StatePending); err != nil || n != 0 {
		t.Fatalf("cancel all of an empty state = %d, %v", n, err)
	}
	// Canceling released the unique keys.
	again := e.enqueue("x", nil, queue.OnQueue("q"), queue.Unique("p0", time.Hour))

	// A worker started afterwards runs none of the canceled jobs, even once the scheduled
	// ones are due, but does run the jobs enqueued since.
	var rec recorder
	e.worker(queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "q", Weight: 1}, {Name: "other", Weight: 1}}},
		map[string]queue.HandlerFunc{"x": rec.handle})
	e.waitState(again.ID, queue.StateCompleted)
	e.waitState(other.ID, queue.StateCompleted)
	late := e.enqueue("x", nil, queue.OnQueue("q"), queue.RunAt(scheduled[len(scheduled)-1].RunAt.Add(10*time.Millisecond)))
	e.waitState(late.ID, queue.StateCompleted)
	if got := rec.snapshot(); len(got) != 3 {
		t.Fatalf("handler ran %d jobs (%v), want 3: canceled jobs must not run", len(got), got)
	}
	if s := e.stats("q"); s.Canceled != int64(len(pending)+len(scheduled)) || s.Completed != 2 {
		t.Fatalf("stats of q at the end = %+v", s)
	}

	// A job waiting for its retry is canceled too.
	retrying := e.enqueue("x", nil, queue.OnQueue("r"))
	leased, err := e.broker.Fetch(e.ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"r"}, Max: 1, Lease: time.Minute, Wait: time.Second})
	if err != nil || len(leased) != 1 {
		t.Fatalf("fetch = %d jobs, %v", len(leased), err)
	}
	now := time.Now()
	err = e.broker.Finish(e.ctx, []queue.Outcome{{JobID: retrying.ID, Queue: "r", WorkerID: "w", Attempt: leased[0].Attempt,
		State: queue.StateRetry, RetryAt: now.Add(time.Hour), Error: &queue.AttemptError{Attempt: 1, Error: "boom", At: now}, FinishedAt: now}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.client.CancelAll(e.ctx, "r", queue.StateRetry); err != nil || n != 1 {
		t.Fatalf("cancel all retry = %d, %v; want 1", n, err)
	}
	if s := e.stats("r"); s.Retry != 0 || s.Canceled != 1 {
		t.Fatalf("stats of r = %+v", s)
	}

	_, err = e.client.CancelAll(e.ctx, "q", queue.StateDead)
	mustIs(t, err, queue.ErrInvalidState)
	for _, st := range []queue.State{queue.StateActive, queue.StateCompleted, queue.StateCanceled} {
		if _, err := e.client.CancelAll(e.ctx, "q", st); err == nil {
			t.Fatalf("cancel all %s jobs succeeded", st)
		} else {
			mustIs(t, err, queue.ErrInvalidState)
		}
	}
}

func testRetryDead(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var fail sync.Once
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"once": func(context.Context, *queue.Job) (any, error) {
		var err error
		fail.Do(func() { err = queue.NoRetry(fmt.Errorf("first run fails")) })
		return nil, err
	}})
	job := e.enqueue("once", nil)
	if dead := e.waitState(job.ID, queue.StateDead); !dead.RetriedAt.IsZero() {
		t.Errorf("a job never retried has RetriedAt %v", dead.RetriedAt)
	}
	before := time.Now()
	if err := e.client.Retry(e.ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	done := e.waitState(job.ID, queue.StateCompleted)
	if len(done.Errors) != 1 {
		t.Fatalf("error history lost on retry: %+v", done.Errors)
	}
	checkRetriedAt(t, done, before)
	s := e.stats(queue.DefaultQueue)
	if s.Dead != 0 || s.Completed != 1 {
		t.Fatalf("stats = %+v", s)
	}
	mustIs(t, e.client.Retry(e.ctx, job.ID), queue.ErrInvalidState)
}

// checkRetriedAt checks that j records a retry (Retry or RetryAll) made after before, for its
// timeline. Brokers may keep it to the millisecond.
func checkRetriedAt(t *testing.T, j *queue.Job, before time.Time) {
	t.Helper()
	if j.RetriedAt.Before(before.Add(-time.Millisecond)) || j.RetriedAt.After(time.Now()) {
		t.Errorf("job %s: RetriedAt %v, want the time of its retry (after %v)", j.ID, j.RetriedAt, before)
	}
}

func testRetryAllAndDeleteAll(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	for range 5 {
		j := e.enqueue("x", nil, queue.OnQueue("q"))
		if _, err := e.client.Cancel(e.ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	n, err := e.client.RetryAll(e.ctx, "q", queue.StateCanceled)
	if err != nil || n != 5 {
		t.Fatalf("retry all = %d, %v", n, err)
	}
	if s := e.stats("q"); s.Pending != 5 || s.Canceled != 0 {
		t.Fatalf("stats = %+v", s)
	}
	jobs, err := e.client.List(e.ctx, "q", queue.StatePending, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		checkRetriedAt(t, j, before)
	}
	n, err = e.client.DeleteAll(e.ctx, "q", queue.StatePending)
	if err != nil || n != 5 {
		t.Fatalf("delete all = %d, %v", n, err)
	}
	if s := e.stats("q"); s.Pending != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func testDelete(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	job := e.enqueue("x", nil, queue.Unique("k", time.Hour))
	if err := e.client.Delete(e.ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.Get(e.ctx, job.ID)
	mustIs(t, err, queue.ErrJobNotFound)
	if s := e.stats(queue.DefaultQueue); s.Pending != 0 {
		t.Fatalf("stats = %+v", s)
	}
	// Deleting releases the unique key.
	e.enqueue("x", nil, queue.Unique("k", time.Hour))
	mustIs(t, e.client.Delete(e.ctx, "missing"), queue.ErrJobNotFound)
}

func testRemoveQueue(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	fill(e, "gone", 10)
	keep := e.enqueue("x", nil, queue.OnQueue("kept"))
	if err := e.broker.RemoveQueue(e.ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	qs, err := e.client.Queues(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == "gone" {
			t.Fatalf("removed queue still listed: %+v", q)
		}
	}
	e.get(keep.ID)
}
