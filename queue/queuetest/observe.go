package queuetest

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// testMetadata: a job's metadata is stored by every enqueue path (single, bulk, unique),
// returned by Get and List, and seen by the handler.
func testMetadata(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	md := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant": "a\"b}{,:é"}
	opts := func(extra ...queue.Option) []queue.Option {
		o := []queue.Option{queue.OnQueue("md")}
		for k, v := range md {
			o = append(o, queue.WithMetadata(k, v))
		}
		return append(o, extra...)
	}
	single := e.enqueue("m", nil, opts()...)
	unique := e.enqueue("m", map[string]int{"n": 1}, opts(queue.Unique("", time.Hour))...)
	jobs, errs, err := e.client.EnqueueMany(e.ctx, []queue.Request{
		{Type: "m", Options: opts()}, {Type: "m", Payload: map[string]int{"n": 2}, Options: opts()},
	})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("enqueue many: %v %v", err, errs)
	}
	plain := e.enqueue("m", nil, queue.OnQueue("md"))
	ids := []string{single.ID, unique.ID, jobs[0].ID, jobs[1].ID}
	for _, id := range ids {
		if got := e.get(id).Metadata; !maps.Equal(got, md) {
			t.Fatalf("job %s: stored metadata %v, want %v", id, got, md)
		}
	}
	if got := e.get(plain.ID).Metadata; len(got) != 0 {
		t.Fatalf("job without metadata has %v", got)
	}
	listed, err := e.client.List(e.ctx, "md", queue.StatePending, 0, 10)
	if err != nil || len(listed) != 5 {
		t.Fatalf("list = %d jobs, %v", len(listed), err)
	}
	seen := make(chan map[string]string, 5)
	e.worker(queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "md", Weight: 1}}}, map[string]queue.HandlerFunc{
		"m": func(_ context.Context, j *queue.Job) (any, error) { seen <- j.Metadata; return nil, nil },
	})
	withMD := 0
	for range 5 {
		select {
		case got := <-seen:
			if maps.Equal(got, md) {
				withMD++
			}
		case <-time.After(15 * time.Second):
			t.Fatal("jobs not run")
		}
	}
	if withMD != 4 {
		t.Fatalf("%d handlers saw the metadata, want 4", withMD)
	}
	_, err = e.client.Enqueue(e.ctx, "m", nil, queue.WithMetadata("big", string(make([]byte, queue.MaxMetadataBytes))))
	mustIs(t, err, queue.ErrInvalidJob)
}

// endings records what a WorkerObserver is told.
type endings struct {
	mu      sync.Mutex
	started map[string]int
	runAt   map[string]time.Time
	ended   map[string][]queue.State
	changed chan struct{}
}

func (o *endings) JobStarted(j *queue.Job) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if j.StartedAt.IsZero() || j.EnqueuedAt.IsZero() {
		panic("observer got a job without StartedAt or EnqueuedAt")
	}
	o.started[j.ID]++
	o.runAt[j.ID] = j.RunAt
}

func (o *endings) JobFinished(j *queue.Job, end queue.State, took time.Duration) {
	o.mu.Lock()
	o.ended[j.ID] = append(o.ended[j.ID], end)
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

func (o *endings) get(id string) []queue.State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]queue.State(nil), o.ended[id]...)
}

// testObserver: a WorkerObserver is told how every attempt ends (completed, retry, dead,
// canceled), and an EnqueueMiddleware sees every enqueue and can add metadata.
func testObserver(t *testing.T, nb NewBroker) {
	b := nb(t)
	var mu sync.Mutex
	enqueued := map[string]int{}
	mw := func(next queue.EnqueueFunc) queue.EnqueueFunc {
		return func(ctx context.Context, jobs []*queue.Job) ([]error, error) {
			for _, j := range jobs {
				if j.Metadata == nil {
					j.Metadata = map[string]string{}
				}
				j.Metadata["via"] = "mw"
			}
			errs, err := next(ctx, jobs)
			mu.Lock()
			defer mu.Unlock()
			for i, j := range jobs {
				if err == nil && errs[i] == nil {
					enqueued[j.Type]++
				}
			}
			return errs, err
		}
	}
	e := &env{t: t, broker: b, client: queue.NewClient(b, queue.WithEnqueueMiddleware(mw)), ctx: t.Context()}
	obs := &endings{started: map[string]int{}, runAt: map[string]time.Time{}, ended: map[string][]queue.State{}, changed: make(chan struct{}, 1)}
	started := make(chan struct{})
	e.worker(queue.WorkerConfig{Observer: obs, HeartbeatInterval: 50 * time.Millisecond}, map[string]queue.HandlerFunc{
		"ok": func(context.Context, *queue.Job) (any, error) { return nil, nil },
		"flaky": func(_ context.Context, j *queue.Job) (any, error) {
			if j.Attempt == 1 {
				return nil, errors.New("first attempt fails")
			}
			return nil, nil
		},
		"bad": func(context.Context, *queue.Job) (any, error) { return nil, queue.NoRetry(errors.New("bad")) },
		"long": func(ctx context.Context, _ *queue.Job) (any, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	ok := e.enqueue("ok", nil)
	flaky := e.enqueue("flaky", nil, queue.MaxRetries(2))
	bad := e.enqueue("bad", nil)
	long := e.enqueue("long", nil)
	delayed := e.enqueue("ok", nil, queue.RunIn(50*time.Millisecond))
	if got := e.get(ok.ID).Metadata["via"]; got != "mw" {
		t.Fatalf("metadata set by the enqueue middleware = %q", got)
	}
	<-started
	if _, err := e.client.Cancel(e.ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	want := map[string][]queue.State{
		ok.ID: {queue.StateCompleted}, flaky.ID: {queue.StateRetry, queue.StateCompleted},
		bad.ID: {queue.StateDead}, long.ID: {queue.StateCanceled}, delayed.ID: {queue.StateCompleted},
	}
	eventually(t, 15*time.Second, func() bool {
		for id, w := range want {
			if got := obs.get(id); len(got) != len(w) {
				return false
			}
		}
		return true
	}, func() string { return "observer did not see every attempt end" })
	for id, w := range want {
		got := obs.get(id)
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("job %s: attempts ended %v, want %v", id, got, w)
			}
		}
	}
	obs.mu.Lock()
	runAt, firstRunAt := obs.runAt[delayed.ID], obs.runAt[ok.ID]
	obs.mu.Unlock()
	// Pickup latency is measured from the run-at of a delayed job: the worker must see it.
	if runAt.Sub(delayed.RunAt).Abs() > time.Millisecond || !firstRunAt.IsZero() {
		t.Fatalf("started jobs' run-at: delayed %v (want %v), immediate %v (want zero)", runAt, delayed.RunAt, firstRunAt)
	}
	mu.Lock()
	defer mu.Unlock()
	if enqueued["ok"] != 2 || enqueued["flaky"] != 1 || enqueued["long"] != 1 {
		t.Fatalf("enqueue middleware counted %v", enqueued)
	}
}
