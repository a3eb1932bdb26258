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

// fetchAs leases jobs as a worker that will then "die": it never heartbeats nor finishes.
func fetchAs(e *env, worker string, lease time.Duration, n int) []*queue.Job {
	e.t.Helper()
	jobs, err := e.broker.Fetch(e.ctx, queue.FetchRequest{
		WorkerID: worker, Queues: []string{queue.DefaultQueue}, Max: n, Lease: lease, Wait: time.Second,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(jobs) != n {
		e.t.Fatalf("fetched %d jobs, want %d", len(jobs), n)
	}
	return jobs
}

func testLeaseExpiryRecovery(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	job := e.enqueue("work", nil, queue.MaxRetries(3))
	fetchAs(e, "dead-worker", 200*time.Millisecond, 1)
	var attempts atomic.Int32
	e.worker(queue.WorkerConfig{ID: "rescuer"}, map[string]queue.HandlerFunc{"work": func(_ context.Context, j *queue.Job) (any, error) {
		attempts.Store(int32(j.Attempt))
		return nil, nil
	}})
	done := e.waitState(job.ID, queue.StateCompleted)
	if done.WorkerID != "rescuer" || attempts.Load() != 2 {
		t.Fatalf("recovered job ran on %s as attempt %d, want rescuer and 2", done.WorkerID, attempts.Load())
	}
	if len(done.Errors) != 1 || !strings.Contains(done.Errors[0].Error, "lease expired") {
		t.Fatalf("errors = %+v", done.Errors)
	}
}

func testLeaseExpiryLastAttempt(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	job := e.enqueue("work", nil, queue.MaxRetries(0))
	fetchAs(e, "dead-worker", 100*time.Millisecond, 1)
	// Any fetch recovers expired leases; this one finds nothing to run.
	eventually(t, 10*time.Second, func() bool {
		_, err := e.broker.Fetch(e.ctx, queue.FetchRequest{WorkerID: "other", Queues: []string{queue.DefaultQueue}, Max: 1, Lease: time.Minute, Wait: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return e.get(job.ID).State == queue.StateDead
	}, func() string { return "job out of attempts was not sent to dead when its lease expired" })
}

func testHeartbeatKeepsLease(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	release := make(chan struct{})
	started := make(chan struct{})
	e.worker(queue.WorkerConfig{Lease: time.Second, HeartbeatInterval: 100 * time.Millisecond},
		map[string]queue.HandlerFunc{"long": func(context.Context, *queue.Job) (any, error) {
			close(started)
			<-release
			return nil, nil
		}})
	job := e.enqueue("long", nil)
	<-started
	// Another worker fetching for well over a lease must not take the job over.
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		jobs, err := e.broker.Fetch(e.ctx, queue.FetchRequest{WorkerID: "thief", Queues: []string{queue.DefaultQueue}, Max: 1, Lease: time.Minute, Wait: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) > 0 {
			t.Fatalf("job %s was recovered while its worker was heartbeating", jobs[0].ID)
		}
	}
	close(release)
	done := e.waitState(job.ID, queue.StateCompleted)
	if done.Attempt != 1 || len(done.Errors) != 0 {
		t.Fatalf("job = %+v", done)
	}
}

func testStaleOutcomeIgnored(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	job := e.enqueue("work", nil)
	stale := fetchAs(e, "slow-worker", 100*time.Millisecond, 1)[0]
	// The lease runs out and another worker takes the job (attempt 2).
	var second []*queue.Job
	eventually(t, 10*time.Second, func() bool {
		jobs, err := e.broker.Fetch(e.ctx, queue.FetchRequest{WorkerID: "new-worker", Queues: []string{queue.DefaultQueue}, Max: 1, Lease: time.Minute, Wait: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		second = jobs
		return len(jobs) == 1
	}, func() string { return "expired job not fetched again" })
	// The first worker's late outcome is ignored.
	err := e.broker.Finish(e.ctx, []queue.Outcome{{JobID: job.ID, Queue: stale.Queue, WorkerID: "slow-worker", Attempt: stale.Attempt, State: queue.StateCompleted, FinishedAt: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.get(job.ID); got.State != queue.StateActive || got.WorkerID != "new-worker" || got.Attempt != 2 {
		t.Fatalf("stale outcome was applied: %+v", got)
	}
	err = e.broker.Finish(e.ctx, []queue.Outcome{{JobID: job.ID, Queue: second[0].Queue, WorkerID: "new-worker", Attempt: 2, State: queue.StateCompleted, FinishedAt: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.get(job.ID); got.State != queue.StateCompleted {
		t.Fatalf("current outcome not applied: %+v", got)
	}
}

func testGracefulShutdownFinishes(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	started := make(chan struct{})
	release := make(chan struct{})
	w := e.worker(queue.WorkerConfig{ShutdownTimeout: 10 * time.Second, Concurrency: 1}, map[string]queue.HandlerFunc{
		"job": func(context.Context, *queue.Job) (any, error) {
			close(started)
			<-release // ignores ctx: shutdown must wait for it
			return "finished", nil
		}})
	job := e.enqueue("job", nil)
	<-started
	waiting := e.enqueue("job", nil) // no free slot: waits; then must not be fetched by a stopping worker
	w.beginStop()
	close(release)
	w.stop()
	if got := e.get(job.ID); got.State != queue.StateCompleted || string(got.Result) != `"finished"` {
		t.Fatalf("running job after graceful shutdown = %+v", got)
	}
	if got := e.get(waiting.ID); got.State != queue.StatePending {
		t.Fatalf("job enqueued during shutdown is %s, want pending", got.State)
	}
	if ws, _ := e.client.Workers(e.ctx); len(ws) != 0 {
		t.Fatalf("stopped worker still listed: %+v", ws)
	}
}

func testShutdownRequeues(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	started := make(chan struct{})
	w := e.worker(queue.WorkerConfig{ShutdownTimeout: 100 * time.Millisecond}, map[string]queue.HandlerFunc{
		"stuck": func(ctx context.Context, _ *queue.Job) (any, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}})
	job := e.enqueue("stuck", nil)
	<-started
	w.stop()
	got := e.get(job.ID)
	if got.State != queue.StatePending || got.Attempt != 0 {
		t.Fatalf("unfinished job after shutdown = state %s attempt %d, want pending and 0", got.State, got.Attempt)
	}
}

// testLeaseLostToSameWorker: a worker whose heartbeat does not get through in time loses its
// lease, and its own next fetch may get the job back as a new attempt. The stale attempt's
// handler is canceled with ErrLeaseLost, the new one runs, and shutdown still completes.
func testLeaseLostToSameWorker(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	staleCause := make(chan error, 1)
	w := e.worker(queue.WorkerConfig{Lease: 300 * time.Millisecond, HeartbeatInterval: time.Hour, Concurrency: 2},
		map[string]queue.HandlerFunc{"work": func(ctx context.Context, j *queue.Job) (any, error) {
			if j.Attempt == 1 {
				<-ctx.Done()
				staleCause <- context.Cause(ctx)
				return nil, ctx.Err()
			}
			return "second", nil
		}})
	job := e.enqueue("work", nil, queue.MaxRetries(10))
	// Attempt 2 (or, on a machine slow enough for its lease to run out too, a later one)
	// completes.
	if done := e.waitState(job.ID, queue.StateCompleted); done.Attempt < 2 {
		t.Fatalf("job completed as attempt %d, want a later one", done.Attempt)
	}
	select {
	case cause := <-staleCause:
		if !errors.Is(cause, queue.ErrLeaseLost) {
			t.Fatalf("stale attempt's context cause = %v, want ErrLeaseLost", cause)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the stale attempt's handler was never canceled")
	}
	w.stop() // fails the test if Run does not return
}
