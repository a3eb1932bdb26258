package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// collector gathers the events of a subscription, per job.
type collector struct {
	mu    sync.Mutex
	byJob map[string][]queue.Event
	all   []queue.Event
}

// subscribe starts a subscription with filter and collects its events until the test ends.
func (e *env) subscribe(filter queue.EventFilter) *collector {
	e.t.Helper()
	sub, err := e.client.Subscribe(e.ctx, filter)
	if err != nil {
		e.t.Fatalf("subscribe: %v", err)
	}
	c := &collector{byJob: map[string][]queue.Event{}}
	go func() {
		for ev := range sub.Events() {
			c.mu.Lock()
			c.byJob[ev.JobID] = append(c.byJob[ev.JobID], ev)
			c.all = append(c.all, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) of(id string) []queue.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.byJob[id])
}

func kinds(evs []queue.Event) []queue.EventKind {
	out := make([]queue.EventKind, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind
	}
	return out
}

// expect waits until job id has had exactly the events of want, in that order, and returns
// them.
func (c *collector) expect(t *testing.T, id string, want ...queue.EventKind) []queue.Event {
	t.Helper()
	eventually(t, 15*time.Second, func() bool { return len(c.of(id)) >= len(want) },
		func() string { return fmt.Sprintf("job %s: events %v, want %v", id, kinds(c.of(id)), want) })
	got := c.of(id)
	if !slices.Equal(kinds(got), want) {
		t.Fatalf("job %s: events %v, want %v", id, kinds(got), want)
	}
	return got
}

// checkEvent fails the test unless ev is about job and has the state and attempt given.
func checkEvent(t *testing.T, ev queue.Event, job *queue.Job, state queue.State, attempt int) {
	t.Helper()
	if ev.JobID != job.ID || ev.Queue != job.Queue || ev.Type != job.Type || ev.State != state || ev.Attempt != attempt {
		t.Fatalf("%s event = %+v, want job %s (queue %s, type %s) %s at attempt %d",
			ev.Kind, ev, job.ID, job.Queue, job.Type, state, attempt)
	}
	if ev.At.IsZero() || time.Since(ev.At) > time.Minute || time.Until(ev.At) > time.Minute {
		t.Fatalf("%s event at %v", ev.Kind, ev.At)
	}
}

// testEventsLifecycle: every kind of event, with the job's state and attempt after each, in
// the order of the job's transitions.
func testEventsLifecycle(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	c := e.subscribe(queue.EventFilter{Queues: []string{queue.DefaultQueue}})
	var flakyRuns, doomedRuns atomic.Int32
	release := make(chan struct{})
	e.worker(queue.WorkerConfig{ProgressInterval: 10 * time.Millisecond}, map[string]queue.HandlerFunc{
		"flaky": func(context.Context, *queue.Job) (any, error) {
			if flakyRuns.Add(1) == 1 {
				return nil, errors.New("boom")
			}
			return nil, nil
		},
		"doomed": func(context.Context, *queue.Job) (any, error) {
			if doomedRuns.Add(1) == 1 {
				return nil, queue.NoRetry(errors.New("bad input"))
			}
			return nil, nil
		},
		"steps": func(ctx context.Context, j *queue.Job) (any, error) {
			if err := queue.ReportProgress(ctx, 50, "step 1 of 2: fetch"); err != nil {
				return nil, err
			}
			<-release
			return nil, nil
		},
		"blocks": func(ctx context.Context, _ *queue.Job) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	flaky := e.enqueue("flaky", nil, queue.MaxRetries(1))
	evs := c.expect(t, flaky.ID, queue.EventEnqueued, queue.EventStarted, queue.EventFailed, queue.EventStarted, queue.EventCompleted)
	checkEvent(t, evs[0], flaky, queue.StatePending, 0)
	checkEvent(t, evs[1], flaky, queue.StateActive, 1)
	checkEvent(t, evs[2], flaky, queue.StateRetry, 1)
	if evs[2].Error != "boom" {
		t.Fatalf("failed event's error = %q, want boom", evs[2].Error)
	}
	checkEvent(t, evs[4], flaky, queue.StateCompleted, 2)

	doomed := e.enqueue("doomed", nil, queue.OnQueue(queue.DefaultQueue))
	evs = c.expect(t, doomed.ID, queue.EventEnqueued, queue.EventStarted, queue.EventDead)
	checkEvent(t, evs[2], doomed, queue.StateDead, 1)
	if evs[2].Error != "bad input" {
		t.Fatalf("dead event's error = %q, want bad input", evs[2].Error)
	}
	if err := e.client.Retry(e.ctx, doomed.ID); err != nil {
		t.Fatal(err)
	}
	evs = c.expect(t, doomed.ID, queue.EventEnqueued, queue.EventStarted, queue.EventDead,
		queue.EventRetried, queue.EventStarted, queue.EventCompleted)
	checkEvent(t, evs[3], doomed, queue.StatePending, 0)

	later := e.enqueue("flaky", nil, queue.RunIn(time.Hour))
	if _, err := e.client.Cancel(e.ctx, later.ID); err != nil {
		t.Fatal(err)
	}
	evs = c.expect(t, later.ID, queue.EventEnqueued, queue.EventCanceled)
	checkEvent(t, evs[0], later, queue.StateScheduled, 0)
	checkEvent(t, evs[1], later, queue.StateCanceled, 0)

	steps := e.enqueue("steps", nil)
	evs = c.expect(t, steps.ID, queue.EventEnqueued, queue.EventStarted, queue.EventProgress)
	checkEvent(t, evs[2], steps, queue.StateActive, 1)
	if p := evs[2].Progress; p == nil || p.Percent != 50 || p.Message != "step 1 of 2: fetch" || p.At.IsZero() {
		t.Fatalf("progress event carries %+v", p)
	}
	close(release)
	c.expect(t, steps.ID, queue.EventEnqueued, queue.EventStarted, queue.EventProgress, queue.EventCompleted)

	blocks := e.enqueue("blocks", nil)
	c.expect(t, blocks.ID, queue.EventEnqueued, queue.EventStarted)
	if _, err := e.client.Cancel(e.ctx, blocks.ID); err != nil {
		t.Fatal(err)
	}
	evs = c.expect(t, blocks.ID, queue.EventEnqueued, queue.EventStarted, queue.EventCanceled)
	checkEvent(t, evs[2], blocks, queue.StateCanceled, 1)
}

// testEventsRecovery: a lease that runs out is a failed attempt (the job back in pending,
// then dead after its last attempt); a worker shutting down gives its job back (retried); a
// snoozed attempt is failed with no error.
func testEventsRecovery(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	c := e.subscribe(queue.EventFilter{Queues: []string{queue.DefaultQueue}})
	lost := e.enqueue("work", nil, queue.MaxRetries(1))
	fetchAs(e, "dead-worker", 100*time.Millisecond, 1)
	fetchUntil := func(id string, n int) {
		eventually(t, 10*time.Second, func() bool {
			if _, err := e.broker.Fetch(e.ctx, queue.FetchRequest{WorkerID: "other", Queues: []string{queue.DefaultQueue},
				Max: 1, Lease: 100 * time.Millisecond, Wait: 50 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			return len(c.of(id)) >= n
		}, func() string { return fmt.Sprintf("events %v", kinds(c.of(id))) })
	}
	fetchUntil(lost.ID, 5)
	evs := c.expect(t, lost.ID, queue.EventEnqueued, queue.EventStarted, queue.EventFailed, queue.EventStarted,
		queue.EventDead)
	checkEvent(t, evs[2], lost, queue.StatePending, 1)
	checkEvent(t, evs[4], lost, queue.StateDead, 2)
	for _, ev := range []queue.Event{evs[2], evs[4]} {
		if !strings.Contains(ev.Error, "lease expired") {
			t.Fatalf("%s event's error = %q, want the lease expiry", ev.Kind, ev.Error)
		}
	}

	given := e.enqueue("work", nil)
	jobs := fetchAs(e, "stopping", time.Minute, 1)
	if err := e.broker.Requeue(e.ctx, "stopping", jobs); err != nil {
		t.Fatal(err)
	}
	evs = c.expect(t, given.ID, queue.EventEnqueued, queue.EventStarted, queue.EventRetried)
	checkEvent(t, evs[2], given, queue.StatePending, 0)

	var calls atomic.Int32
	e.worker(queue.WorkerConfig{MaxUnavailableDelay: 50 * time.Millisecond}, map[string]queue.HandlerFunc{
		"needs-db": func(context.Context, *queue.Job) (any, error) {
			if calls.Add(1) == 1 {
				return nil, queue.Unavailable(errors.New("database down"))
			}
			return nil, nil
		},
		"work": noop,
	})
	snoozed := e.enqueue("needs-db", nil)
	evs = c.expect(t, snoozed.ID, queue.EventEnqueued, queue.EventStarted, queue.EventFailed, queue.EventStarted,
		queue.EventCompleted)
	checkEvent(t, evs[2], snoozed, queue.StateRetry, 0)
	if evs[2].Error != "" {
		t.Fatalf("a snoozed attempt's event carries error %q", evs[2].Error)
	}
	c.expect(t, given.ID, queue.EventEnqueued, queue.EventStarted, queue.EventRetried, queue.EventStarted, queue.EventCompleted)
}

// testEventsFilter: a subscription to a queue, a type and kinds gets those events only, and
// an event records nothing for a queue nobody subscribes to.
func testEventsFilter(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	c := e.subscribe(queue.EventFilter{Queues: []string{"mail"}, Types: []string{"send"},
		Kinds: []queue.EventKind{queue.EventEnqueued, queue.EventCanceled}})
	everything := e.subscribe(queue.EventFilter{Queues: []string{"mail"}})
	other := e.enqueue("send", nil, queue.OnQueue("sms"))
	wrongType := e.enqueue("render", nil, queue.OnQueue("mail"))
	want := e.enqueue("send", nil, queue.OnQueue("mail"))
	if _, err := e.client.Cancel(e.ctx, want.ID); err != nil {
		t.Fatal(err)
	}
	c.expect(t, want.ID, queue.EventEnqueued, queue.EventCanceled)
	everything.expect(t, wrongType.ID, queue.EventEnqueued)
	everything.expect(t, want.ID, queue.EventEnqueued, queue.EventCanceled)
	if got := c.of(wrongType.ID); len(got) != 0 {
		t.Fatalf("type filter let through %+v", got)
	}
	if got := everything.of(other.ID); len(got) != 0 {
		t.Fatalf("queue filter let through %+v", got)
	}
	if _, err := e.client.Subscribe(e.ctx, queue.EventFilter{Queues: []string{"bad name"}}); err == nil {
		t.Fatal("subscribe to an invalid queue name: no error")
	}
}

// testEventsAllQueues: a subscription to every queue gets the events of the queues there are,
// and those of a queue that appears later once the broker has seen it (within seconds).
func testEventsAllQueues(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	e.enqueue("send", nil, queue.OnQueue("old"))
	c := e.subscribe(queue.EventFilter{})
	job := e.enqueue("send", nil, queue.OnQueue("old"))
	c.expect(t, job.ID, queue.EventEnqueued)
	var later *queue.Job
	eventually(t, 15*time.Second, func() bool {
		later = e.enqueue("send", nil, queue.OnQueue("new"))
		return testenv.Poll(e.ctx, 500*time.Millisecond, func() bool { return len(c.of(later.ID)) > 0 })
	}, func() string { return "no event of a queue created after the subscription" })
	c.expect(t, later.ID, queue.EventEnqueued)
}

// testProgress: a handler's progress is stored with the job (Get) while it runs and after,
// rapid reports are coalesced, and a report outside a job, out of range, or for an attempt
// that is over changes nothing.
func testProgress(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	c := e.subscribe(queue.EventFilter{Kinds: []queue.EventKind{queue.EventProgress}})
	if err := queue.ReportProgress(e.ctx, 10, "x"); !errors.Is(err, queue.ErrNotInJob) {
		t.Fatalf("progress outside a job: %v, want ErrNotInJob", err)
	}
	release := make(chan struct{})
	rangeErr := make(chan error, 1)
	e.worker(queue.WorkerConfig{ProgressInterval: 100 * time.Millisecond}, map[string]queue.HandlerFunc{
		"long": func(ctx context.Context, _ *queue.Job) (any, error) {
			rangeErr <- queue.ReportProgress(ctx, 101, "too far")
			for i := range 1000 {
				_ = queue.ReportProgress(ctx, i/20, "working")
			}
			_ = queue.ReportProgress(ctx, 60, strings.Repeat("é", queue.MaxProgressMessage))
			<-release
			return nil, nil
		},
	})
	job := e.enqueue("long", nil)
	if err := <-rangeErr; err == nil {
		t.Fatal("progress of 101 %: no error")
	}
	var got *queue.Job
	eventually(t, 15*time.Second, func() bool {
		got = e.get(job.ID)
		return got.Progress != nil && got.Progress.Percent == 60
	}, func() string { return fmt.Sprintf("progress = %+v, want 60 %%", got.Progress) })
	if n := len(got.Progress.Message); n > queue.MaxProgressMessage || n < queue.MaxProgressMessage-1 {
		t.Fatalf("message of %d bytes stored, want it cut to %d", n, queue.MaxProgressMessage)
	}
	if evs := c.of(job.ID); len(evs) > 10 {
		t.Fatalf("1002 reports within a few ms gave %d progress events; want them coalesced", len(evs))
	}
	// An update for an attempt that is not the running one changes nothing.
	stale := queue.ProgressUpdate{JobID: job.ID, Queue: job.Queue, WorkerID: got.WorkerID, Attempt: 7,
		Progress: queue.Progress{Percent: 99, At: time.Now()}}
	if err := e.broker.SetProgress(e.ctx, stale); err != nil {
		t.Fatal(err)
	}
	close(release)
	done := e.waitState(job.ID, queue.StateCompleted)
	if done.Progress == nil || done.Progress.Percent != 60 {
		t.Fatalf("completed job's progress = %+v, want the last reported (60 %%)", done.Progress)
	}
	stale.Attempt = 1
	if err := e.broker.SetProgress(e.ctx, stale); err != nil {
		t.Fatal(err)
	}
	if p := e.get(job.ID).Progress; p.Percent != 60 {
		t.Fatalf("progress for a finished attempt was recorded: %+v", p)
	}
}

// DrainEvents subscribes to the events of q on b and reads them until tb ends (benchmarks:
// what a subscriber costs).
func DrainEvents(tb testing.TB, b queue.Broker, q string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := queue.NewClient(b).Subscribe(ctx, queue.EventFilter{Queues: []string{q}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = sub.Err() // wait until the subscription has ended
	})
	go func() {
		for range sub.Events() {
		}
	}()
}
