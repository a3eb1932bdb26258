package queuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

func testEnqueueAndGet(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	job := e.enqueue("email.send", map[string]string{"to": "a@example.com"},
		queue.OnQueue("mail"), queue.MaxRetries(7), queue.Timeout(3*time.Second))
	got := e.get(job.ID)
	if got.State != queue.StatePending || got.Queue != "mail" || got.Type != "email.send" ||
		got.MaxRetries != 7 || got.Timeout != 3*time.Second || got.Attempt != 0 {
		t.Fatalf("stored job = %+v", got)
	}
	var p map[string]string
	if err := json.Unmarshal(got.Payload, &p); err != nil || p["to"] != "a@example.com" {
		t.Fatalf("payload = %s (%v)", got.Payload, err)
	}
	if got.EnqueuedAt.IsZero() || time.Since(got.EnqueuedAt) > time.Minute {
		t.Fatalf("enqueued at %v", got.EnqueuedAt)
	}
	if s := e.stats("mail"); s.Pending != 1 {
		t.Fatalf("pending = %d, want 1", s.Pending)
	}
	_, err := e.client.Get(e.ctx, "no-such-job")
	mustIs(t, err, queue.ErrJobNotFound)
}

func testEnqueueMany(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	const n = 2500
	reqs := make([]queue.Request, n)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "bulk", Payload: map[string]int{"i": i}, Options: []queue.Option{queue.OnQueue("bulk")}}
	}
	reqs[10].Options = append(reqs[10].Options, queue.WithID("fixed-id"))
	reqs[20].Options = append(reqs[20].Options, queue.WithID("fixed-id"))
	jobs, errs, err := e.client.EnqueueMany(e.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != n || len(errs) != n {
		t.Fatalf("got %d jobs and %d errors for %d requests", len(jobs), len(errs), n)
	}
	for i, err := range errs {
		if i == 20 {
			mustIs(t, err, queue.ErrDuplicateJob)
		} else if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	if s := e.stats("bulk"); s.Pending != n-1 {
		t.Fatalf("pending = %d, want %d", s.Pending, n-1)
	}
	var seen sync.Map
	var count atomic.Int64
	e.worker(queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "bulk", Weight: 1}}, Concurrency: 20},
		map[string]queue.HandlerFunc{"bulk": func(_ context.Context, j *queue.Job) (any, error) {
			if _, dup := seen.LoadOrStore(j.ID, true); dup {
				t.Errorf("job %s ran twice", j.ID)
			}
			count.Add(1)
			return nil, nil
		}})
	eventually(t, 90*time.Second, func() bool { return e.stats("bulk").Completed == n-1 },
		func() string { return fmt.Sprintf("completed %+v, handler ran %d", e.stats("bulk"), count.Load()) })
	if c := count.Load(); c != n-1 {
		t.Fatalf("handler ran %d times, want %d", c, n-1)
	}
}

func testDuplicateID(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.enqueue("x", 1, queue.WithID("order-42"))
	_, err := e.client.Enqueue(e.ctx, "x", 2, queue.WithID("order-42"))
	mustIs(t, err, queue.ErrDuplicateJob)
	if got := e.get("order-42"); string(got.Payload) != "1" {
		t.Fatalf("duplicate changed the job: payload %s", got.Payload)
	}
	if s := e.stats(queue.DefaultQueue); s.Pending != 1 {
		t.Fatalf("pending = %d, want 1", s.Pending)
	}
}

func testUniqueKey(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	first := e.enqueue("report", nil, queue.Unique("weekly", time.Hour))
	_, err := e.client.Enqueue(e.ctx, "report", nil, queue.Unique("weekly", time.Hour))
	mustIs(t, err, queue.ErrDuplicateUnique)
	if s := e.stats(queue.DefaultQueue); s.Pending != 1 {
		t.Fatalf("pending = %d after refused duplicate, want 1", s.Pending)
	}
	// A short lock runs out by itself.
	e.enqueue("ping", nil, queue.Unique("p", 50*time.Millisecond))
	eventually(t, 5*time.Second, func() bool {
		_, err := e.client.Enqueue(e.ctx, "ping", nil, queue.Unique("p", 50*time.Millisecond))
		return err == nil
	}, func() string { return "unique lock of 50ms never expired" })
	// The lock is released when the job completes.
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"report": noop, "ping": noop})
	e.waitState(first.ID, queue.StateCompleted)
	if _, err := e.client.Enqueue(e.ctx, "report", nil, queue.Unique("weekly", time.Hour)); err != nil {
		t.Fatalf("enqueue after the unique job completed: %v", err)
	}
}

func testProcessAndResult(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	started := make(chan *queue.Job, 1)
	e.worker(queue.WorkerConfig{ID: "w-result"}, map[string]queue.HandlerFunc{
		"add": func(_ context.Context, j *queue.Job) (any, error) {
			var in struct{ A, B int }
			if err := j.Decode(&in); err != nil {
				return nil, err
			}
			started <- j
			return map[string]int{"sum": in.A + in.B}, nil
		}})
	job := e.enqueue("add", map[string]int{"A": 2, "B": 3})
	seen := <-started
	if seen.ID != job.ID || seen.Attempt != 1 || seen.State != queue.StateActive {
		t.Fatalf("handler saw %+v", seen)
	}
	done := e.waitState(job.ID, queue.StateCompleted)
	if string(done.Result) != `{"sum":5}` {
		t.Fatalf("result = %s", done.Result)
	}
	if done.WorkerID != "w-result" || done.Attempt != 1 || done.StartedAt.IsZero() || done.FinishedAt.Before(done.StartedAt) {
		t.Fatalf("completed job = %+v", done)
	}
	s := e.stats(queue.DefaultQueue)
	if s.Completed != 1 || s.Pending != 0 || s.Active != 0 || s.Processed != 1 || s.Failed != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func testFetchBatches(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	// Direct broker use: one fetch returns up to Max jobs, oldest first.
	for i := range 5 {
		e.enqueue("b", i, queue.WithID(fmt.Sprintf("b%d", i)))
	}
	jobs, err := e.broker.Fetch(e.ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{queue.DefaultQueue}, Max: 3, Lease: time.Minute, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[0].ID != "b0" || jobs[1].ID != "b1" || jobs[2].ID != "b2" {
		t.Fatalf("fetched %v", ids(jobs))
	}
	for _, j := range jobs {
		if j.State != queue.StateActive || j.Attempt != 1 || j.WorkerID != "w" {
			t.Fatalf("fetched job = %+v", j)
		}
	}
	if s := e.stats(queue.DefaultQueue); s.Active != 3 || s.Pending != 2 {
		t.Fatalf("stats = %+v", s)
	}
}

func ids(jobs []*queue.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func testDelayed(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	ran := make(chan time.Time, 2)
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{"later": func(context.Context, *queue.Job) (any, error) {
		ran <- time.Now()
		return nil, nil
	}})
	runAt := time.Now().Add(300 * time.Millisecond)
	job := e.enqueue("later", nil, queue.RunAt(runAt))
	if got := e.get(job.ID); got.State != queue.StateScheduled || got.RunAt.Sub(runAt).Abs() > time.Millisecond {
		t.Fatalf("delayed job = state %s run at %v, want scheduled at %v", got.State, got.RunAt, runAt)
	}
	if s := e.stats(queue.DefaultQueue); s.Scheduled != 1 {
		t.Fatalf("scheduled = %d", s.Scheduled)
	}
	select {
	case at := <-ran:
		if at.Before(runAt) {
			t.Fatalf("ran %s early", runAt.Sub(at))
		}
		if late := at.Sub(runAt); late > 500*time.Millisecond {
			t.Fatalf("ran %s late", late)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delayed job never ran")
	}
	e.waitState(job.ID, queue.StateCompleted)
}

func testWakeUp(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	ran := make(chan struct{}, 1)
	// A long fetch wait: the job must start because the enqueue wakes the worker, not
	// because the worker's wait ran out.
	e.worker(queue.WorkerConfig{FetchWait: time.Minute}, map[string]queue.HandlerFunc{"now": func(context.Context, *queue.Job) (any, error) {
		ran <- struct{}{}
		return nil, nil
	}})
	// Let the worker go idle (its first fetch finds nothing and waits).
	eventually(t, 5*time.Second, func() bool {
		ws, _ := e.client.Workers(e.ctx)
		return len(ws) == 1
	}, func() string { return "worker never registered" })
	for range 3 {
		start := time.Now()
		e.enqueue("now", nil)
		select {
		case <-ran:
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("idle worker took %s to start a new job", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("idle worker was not woken by the enqueue")
		}
	}
}
