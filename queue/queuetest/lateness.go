package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// LatenessBackoff is the fixed retry delay of the retried jobs of MeasureLateness.
const LatenessBackoff = 200 * time.Millisecond

// Lateness holds how late jobs started: for delayed jobs, handler start − run-at; for
// retries, start of the second attempt − the retry time the first attempt's failure set.
// Timer is the floor, measured in the same run: how late a plain Go timer (time.AfterFunc)
// set for each delayed job's run-at fired, in the same process, which shows what the machine
// itself adds (a busy CPU delays every wake-up).
type Lateness struct {
	Delayed, Retry, Timer []time.Duration
}

// MeasureLateness runs one round on broker b: n delayed jobs whose run-at times are spread at
// random over the 2 s after a short lead, and n jobs that fail their first attempt and are
// retried after LatenessBackoff, all run by one worker (concurrency 50). It returns the
// lateness of every start.
func MeasureLateness(tb testing.TB, b queue.Broker, n int) Lateness {
	tb.Helper()
	ctx := context.Background()
	r := &latenessRound{done: make(chan struct{}, 2*n)}
	stop := r.startWorker(ctx, b)
	defer stop()

	c := queue.NewClient(b)
	start := time.Now().Add(200 * time.Millisecond)
	r.enqueueDelayed(ctx, tb, c, start, n)
	enqueueRetried(ctx, tb, c, start, n)
	r.wait(tb, n)
	return r.result()
}

// latenessRound collects the lateness of one round of MeasureLateness.
type latenessRound struct {
	mu   sync.Mutex
	res  Lateness
	done chan struct{} // a value for each job started, delayed or retried
}

// latenessPayload is the payload of a delayed job of MeasureLateness.
type latenessPayload struct {
	RunAt int64 `json:"run_at"` // Unix nanoseconds
}

// startWorker starts the round's worker on b; stop stops it and waits for it to return.
func (r *latenessRound) startWorker(ctx context.Context, b queue.Broker) (stop func()) {
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "lateness", Weight: 1}}, Concurrency: 50,
		Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: 5 * time.Second,
	})
	w.HandleFunc("lateness.delayed", r.handleDelayed)
	w.HandleFunc("lateness.retry", r.handleRetry, queue.WithBackoff(func(int) time.Duration { return LatenessBackoff }))
	wctx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(wctx) }()
	return func() {
		cancel()
		<-stopped
	}
}

// handleDelayed records how late a delayed job started after its run-at.
func (r *latenessRound) handleDelayed(_ context.Context, j *queue.Job) (any, error) {
	now := time.Now()
	var p latenessPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return nil, queue.NoRetry(err)
	}
	r.mu.Lock()
	r.res.Delayed = append(r.res.Delayed, now.Sub(time.Unix(0, p.RunAt)))
	r.mu.Unlock()
	r.done <- struct{}{}
	return nil, nil
}

// handleRetry fails a job's first attempt and records how late its second one started after
// the retry time the failure set.
func (r *latenessRound) handleRetry(_ context.Context, j *queue.Job) (any, error) {
	now := time.Now()
	if j.Attempt == 1 {
		return nil, errors.New("fail once")
	}
	if len(j.Errors) == 0 {
		return nil, queue.NoRetry(fmt.Errorf("attempt %d without the first attempt's error", j.Attempt))
	}
	retryAt := j.Errors[len(j.Errors)-1].At.Add(LatenessBackoff)
	r.mu.Lock()
	r.res.Retry = append(r.res.Retry, now.Sub(retryAt))
	r.mu.Unlock()
	r.done <- struct{}{}
	return nil, nil
}

// enqueueDelayed enqueues n delayed jobs in one call, their run-at times spread at random over
// the 2 s after start, and sets a timer for each run-at to measure the floor (Lateness.Timer).
func (r *latenessRound) enqueueDelayed(ctx context.Context, tb testing.TB, c *queue.Client, start time.Time, n int) {
	tb.Helper()
	reqs := make([]queue.Request, 0, 2*n)
	for range n {
		at := start.Add(time.Duration(rand.Int64N(int64(2 * time.Second))))
		reqs = append(reqs, queue.Request{Type: "lateness.delayed", Payload: latenessPayload{RunAt: at.UnixNano()},
			Options: []queue.Option{queue.OnQueue("lateness"), queue.RunAt(at)}})
	}
	for _, req := range reqs {
		at := time.Unix(0, req.Payload.(latenessPayload).RunAt)
		time.AfterFunc(time.Until(at), func() {
			late := time.Since(at)
			r.mu.Lock()
			r.res.Timer = append(r.res.Timer, late)
			r.mu.Unlock()
		})
	}
	_, errs, err := c.EnqueueMany(ctx, reqs)
	if err != nil {
		tb.Fatal(err)
	}
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
}

// enqueueRetried enqueues the n jobs that are retried a few at a time over the 2 s after
// start, so that their retries are spread too.
func enqueueRetried(ctx context.Context, tb testing.TB, c *queue.Client, start time.Time, n int) {
	tb.Helper()
	for i := range n {
		at := start.Add(time.Duration(i) * 2 * time.Second / time.Duration(n))
		if !sleepUntil(at) {
			tb.Fatal("clock")
		}
		if _, err := c.Enqueue(ctx, "lateness.retry", nil, queue.OnQueue("lateness"), queue.MaxRetries(1)); err != nil {
			tb.Fatal(err)
		}
	}
}

// wait waits up to 30 s for the n delayed and n retried jobs to start.
func (r *latenessRound) wait(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.After(30 * time.Second)
	for range 2 * n {
		select {
		case <-r.done:
		case <-deadline:
			got := r.result() // under the lock: handlers may still be recording
			tb.Fatalf("after 30 s: %d delayed and %d retried jobs of %d each started", len(got.Delayed), len(got.Retry), n)
		}
	}
}

// result returns a copy of the lateness recorded.
func (r *latenessRound) result() Lateness {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Lateness{Delayed: slices.Clone(r.res.Delayed), Retry: slices.Clone(r.res.Retry), Timer: slices.Clone(r.res.Timer)}
}

func sleepUntil(t time.Time) bool {
	if d := time.Until(t); d > 0 {
		<-time.After(d) // pacing the enqueues of a benchmark, not synchronisation
	}
	return true
}

// Percentile returns the p-th percentile (0–100) of ds, nearest rank.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// BenchLateness is the body of a broker's BenchmarkLateness: b.N rounds of MeasureLateness
// with 500 jobs of each kind, reporting the percentiles of lateness in milliseconds
// (delayed-p50-ms, delayed-p99-ms, delayed-max-ms, retry-p50-ms, retry-p99-ms, retry-max-ms,
// and the floor timer-p50-ms, timer-p99-ms).
// Run it with -benchtime=Nx (each round takes about 3 s).
func BenchLateness(b *testing.B, newBroker func(testing.TB) queue.Broker) {
	br := newBroker(b)
	var all Lateness
	for b.Loop() {
		l := MeasureLateness(b, br, 500)
		all.Delayed = append(all.Delayed, l.Delayed...)
		all.Retry = append(all.Retry, l.Retry...)
		all.Timer = append(all.Timer, l.Timer...)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(Percentile(all.Delayed, 50)), "delayed-p50-ms")
	b.ReportMetric(ms(Percentile(all.Delayed, 99)), "delayed-p99-ms")
	b.ReportMetric(ms(Percentile(all.Delayed, 100)), "delayed-max-ms")
	b.ReportMetric(ms(Percentile(all.Retry, 50)), "retry-p50-ms")
	b.ReportMetric(ms(Percentile(all.Retry, 99)), "retry-p99-ms")
	b.ReportMetric(ms(Percentile(all.Retry, 100)), "retry-max-ms")
	b.ReportMetric(ms(Percentile(all.Timer, 50)), "timer-p50-ms")
	b.ReportMetric(ms(Percentile(all.Timer, 99)), "timer-p99-ms")
}
