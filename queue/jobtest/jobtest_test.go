package jobtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
)

// recorder is a testing.TB whose failures are recorded instead of failing the real test.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// failure runs fn with a recorder and returns the failure it reported ("" for none).
func failure(t *testing.T, fn func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(r) }()
	<-done
	return strings.Join(r.failed, "\n")
}

func TestRequireEnqueuedMatchesPayloadAndOptions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := jobtest.NewBroker()
	c := queue.NewClient(b)
	if _, err := c.Enqueue(ctx, "invoice.send", map[string]any{"id": 7, "to": []string{"a@x", "b@x"}},
		queue.OnQueue("billing"), queue.MaxRetries(0), queue.Timeout(time.Minute), queue.RunIn(time.Hour),
		queue.Unique("invoice-7", time.Hour), queue.ResultTTL(time.Minute), queue.WithMetadata("tenant", "acme"),
		queue.Priority(-1), queue.Deadline(time.Now().Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	// The same payload written differently matches: payloads are compared as JSON values.
	raw := json.RawMessage(`{ "to": ["a@x", "b@x"], "id": 7.0 }`)
	job := jobtest.RequireEnqueued(t, b, "invoice.send", raw, queue.OnQueue("billing"), queue.MaxRetries(0),
		queue.Timeout(time.Minute), queue.RunIn(time.Hour), queue.Unique("invoice-7", time.Hour), queue.ResultTTL(time.Minute),
		queue.WithMetadata("tenant", "acme"), queue.Priority(-1), queue.Deadline(time.Now().Add(2*time.Hour)))
	if job.State != queue.StateScheduled {
		t.Fatalf("job state %s, want scheduled", job.State)
	}
	jobtest.RequireEnqueued(t, b, "invoice.send", nil)

	for name, opts := range map[string][]queue.Option{
		"queue":     {queue.OnQueue("default")},
		"retries":   {queue.MaxRetries(3)},
		"timeout":   {queue.Timeout(time.Second)},
		"run-at":    {queue.RunIn(2 * time.Hour)},
		"unique":    {queue.Unique("invoice-8", time.Hour)},
		"id":        {queue.WithID("other")},
		"resultTTL": {queue.ResultTTL(time.Hour)},
		"metadata":  {queue.WithMetadata("tenant", "other")},
		"priority":  {queue.Priority(0)},
		"deadline":  {queue.Deadline(time.Now().Add(3 * time.Hour))},
	} {
		msg := failure(t, func(tb testing.TB) { jobtest.RequireEnqueued(tb, b, "invoice.send", nil, opts...) })
		if !strings.Contains(msg, "no invoice.send job") || !strings.Contains(msg, "queue billing") {
			t.Errorf("%s: failure %q, want one naming the missing job and listing the enqueued one", name, msg)
		}
	}
	if msg := failure(t, func(tb testing.TB) { jobtest.RequireEnqueued(tb, b, "invoice.send", map[string]int{"id": 8}) }); msg == "" {
		t.Error("a different payload matched")
	}
	if msg := failure(t, func(tb testing.TB) { jobtest.RequireNotEnqueued(tb, b, "invoice.send", nil) }); !strings.Contains(msg, "want none") {
		t.Errorf("RequireNotEnqueued of an enqueued job: failure %q", msg)
	}
	jobtest.RequireNotEnqueued(t, b, "invoice.send", nil, queue.OnQueue("default"))
	jobtest.RequireNotEnqueued(t, b, "receipt.send", nil)
}

func TestDrainRunsJobsThroughRealHandlers(t *testing.T) {
	t.Parallel()
	b := jobtest.NewBroker()
	c := queue.NewClient(b)
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues:  []queue.QueueWeight{{Name: "default", Weight: 1}, {Name: "mail", Weight: 1}},
		Backoff: func(int) time.Duration { return 0 }, // retries run at once
		Logger:  slog.New(slog.DiscardHandler),
	})
	var mu sync.Mutex
	var sent []string
	w.HandleFunc("email.send", func(_ context.Context, j *queue.Job) (any, error) {
		var in struct{ To string }
		if err := j.Decode(&in); err != nil {
			return nil, err
		}
		if j.Attempt < 3 {
			return nil, errors.New("smtp 451")
		}
		mu.Lock()
		sent = append(sent, in.To)
		mu.Unlock()
		return nil, nil
	})
	w.HandleFunc("fan.out", func(ctx context.Context, j *queue.Job) (any, error) {
		// A job that enqueues more jobs: Drain waits for those too.
		for _, to := range []string{"a@x", "b@x"} {
			if _, err := c.Enqueue(ctx, "email.send", map[string]string{"to": to}, queue.OnQueue("mail")); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	jobtest.StartWorker(t, w)
	fan, err := c.Enqueue(t.Context(), "fan.out", nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := c.Enqueue(t.Context(), "email.send", "not an object", queue.OnQueue("mail"))
	if err != nil {
		t.Fatal(err)
	}
	jobtest.Drain(t, b)

	mu.Lock()
	got := strings.Join(sent, ",")
	mu.Unlock()
	if got != "a@x,b@x" && got != "b@x,a@x" {
		t.Fatalf("sent to %q, want a@x and b@x once each", got)
	}
	for _, j := range b.Enqueued("email.send", nil) {
		if j.ID == bad.ID {
			if j.State != queue.StateDead || len(j.Errors) != 1 {
				t.Fatalf("undecodable job = %s with %d errors, want dead after one attempt", j.State, len(j.Errors))
			}
			continue
		}
		if j.State != queue.StateCompleted || j.Attempt != 3 || len(j.Errors) != 2 {
			t.Fatalf("email job = %s, attempt %d, %d errors; want completed on attempt 3", j.State, j.Attempt, len(j.Errors))
		}
	}
	if got, _ := c.Get(t.Context(), fan.ID); got.State != queue.StateCompleted {
		t.Fatalf("fan-out job is %s", got.State)
	}
}

func TestWaitIdleNamesJobsNoWorkerServes(t *testing.T) {
	t.Parallel()
	b := jobtest.NewBroker()
	c := queue.NewClient(b)
	w := queue.NewWorker(b, queue.WorkerConfig{Logger: slog.New(slog.DiscardHandler)}) // serves "default" only
	w.HandleFunc("x", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	jobtest.StartWorker(t, w)
	stray, err := c.Enqueue(t.Context(), "x", nil, queue.OnQueue("elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = b.WaitIdle(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), stray.ID) || !strings.Contains(err.Error(), "elsewhere") {
		t.Fatalf("WaitIdle = %v, want a deadline error naming job %s on queue elsewhere", err, stray.ID)
	}
	// A paused queue's jobs are not runnable: the broker is idle.
	if err := c.Pause(t.Context(), "elsewhere"); err != nil {
		t.Fatal(err)
	}
	jobtest.Drain(t, b)
}
