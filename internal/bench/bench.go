// Package bench measures a queue.Broker: enqueue throughput, processing throughput of one
// in-process queue.Worker, and the latency from enqueue to handler start. `dominion bench` is
// a thin command line over Run; a Go benchmark or another program can call Run as well.
//
// Run works only on queues of its own (named bench-<random>-<phase>) and removes them, with
// every job and counter they hold, before it returns, even when its context is canceled.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Phase is one group of measurements.
type Phase string

// The phases, in the order Run performs them.
const (
	// PhaseEnqueue measures enqueue_seq (one job per Enqueue call) and enqueue_batch
	// (EnqueueMany in chunks of BatchSize), in jobs/s.
	PhaseEnqueue Phase = "enqueue"
	// PhaseProcess measures process_c<C>: jobs/s processed by one worker at concurrency C,
	// from a full queue of Jobs no-op jobs.
	PhaseProcess Phase = "process"
	// PhaseLatency measures latency_p50 and latency_p99: ms from just before Enqueue to the
	// handler's start, with an idle worker.
	PhaseLatency Phase = "latency"
)

// AllPhases lists every phase in order.
var AllPhases = []Phase{PhaseEnqueue, PhaseProcess, PhaseLatency}

// ParsePhases parses a comma-separated list of phases ("enqueue,process,latency").
func ParsePhases(s string) ([]Phase, error) {
	var out []Phase
	for p := range strings.SplitSeq(s, ",") {
		ph := Phase(strings.TrimSpace(p))
		if !slices.Contains(AllPhases, ph) {
			return nil, fmt.Errorf("unknown phase %q (valid: enqueue, process, latency)", p)
		}
		if !slices.Contains(out, ph) {
			out = append(out, ph)
		}
	}
	return out, nil
}

// Config sets what Run measures. The zero value of each field means its default.
type Config struct {
	// Jobs is the number of jobs of each throughput measurement (default 10000).
	Jobs int
	// Concurrency of the worker in the process and latency phases (default 10).
	Concurrency int
	// Phases to run (default all), always in the order of AllPhases.
	Phases []Phase
	// BatchSize is the chunk size of enqueue_batch and of filling the queue before the
	// process phase (default 1000).
	BatchSize int
	// LatencySamples is the number of latency samples (default min(Jobs, 1000)).
	LatencySamples int
	// LatencyInterval is the pause between two latency samples (default 2 ms).
	LatencyInterval time.Duration
	// Progress receives a line of progress every ProgressEvery during long phases (nil:
	// none).
	Progress      io.Writer
	ProgressEvery time.Duration // default 1 s
	// Logger is given to the in-process workers (default: discard).
	Logger *slog.Logger
	// Client enqueues the jobs (nil: a plain queue.NewClient of the broker) and Worker, when
	// set, adjusts each in-process worker's configuration: with both, a benchmark measures
	// what an instrumentation (middleware, observer) costs.
	Client *queue.Client
	Worker func(queue.WorkerConfig) queue.WorkerConfig
}

func (c *Config) setDefaults() {
	if c.Jobs <= 0 {
		c.Jobs = 10000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 10
	}
	if len(c.Phases) == 0 {
		c.Phases = AllPhases
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.LatencySamples <= 0 {
		c.LatencySamples = min(c.Jobs, 1000)
	}
	if c.LatencyInterval <= 0 {
		c.LatencyInterval = 2 * time.Millisecond
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Result is one measurement.
type Result struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
}

// Units of the results.
const (
	UnitJobsPerSecond = "jobs/s"
	UnitMilliseconds  = "ms"
)

// Metric names.
const (
	MetricEnqueueSeq   = "enqueue_seq"
	MetricEnqueueBatch = "enqueue_batch"
	MetricLatencyP50   = "latency_p50"
	MetricLatencyP99   = "latency_p99"
)

// MetricProcess is the name of the process metric at concurrency c: "process_c<c>".
func MetricProcess(c int) string { return "process_c" + strconv.Itoa(c) }

// jobType is the type of the jobs Run enqueues; only its own workers handle it.
const jobType = "dominion.bench"

// Run performs the phases of cfg on b and returns the results in order; each result is also
// passed to emit (if not nil) as soon as it is measured. It removes the queues it used before
// returning, whatever happens; a cleanup failure is part of the returned error.
func Run(ctx context.Context, b queue.Broker, cfg Config, emit func(Result)) (results []Result, err error) {
	cfg.setDefaults()
	client := cfg.Client
	if client == nil {
		client = queue.NewClient(b)
	}
	r := &runner{b: b, client: client, cfg: cfg, prefix: "bench-" + randomHex(4)}
	defer func() {
		if cerr := r.cleanup(ctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	add := func(res Result) {
		res.Value = round(res.Value)
		results = append(results, res)
		if emit != nil {
			emit(res)
		}
	}
	for _, ph := range AllPhases {
		if !slices.Contains(cfg.Phases, ph) {
			continue
		}
		switch ph {
		case PhaseEnqueue:
			err = r.enqueuePhase(ctx, add)
		case PhaseProcess:
			err = r.processPhase(ctx, add)
		case PhaseLatency:
			err = r.latencyPhase(ctx, add)
		}
		if err != nil {
			return results, fmt.Errorf("bench %s: %w", ph, err)
		}
	}
	return results, nil
}

type runner struct {
	b      queue.Broker
	client *queue.Client
	cfg    Config
	prefix string

	mu     sync.Mutex
	queues []string // every queue used, for cleanup
}

// queue returns the name of this run's queue for phase, and remembers it for cleanup.
func (r *runner) queue(phase string) string {
	name := r.prefix + "-" + phase
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.queues, name) {
		r.queues = append(r.queues, name)
	}
	return name
}

// remove removes one queue now (between phases, so that a phase does not run on the jobs
// of another).
func (r *runner) remove(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	// A queue that never got a job (the run was interrupted before) does not exist.
	if err := r.b.RemoveQueue(ctx, name); err != nil && !errors.Is(err, queue.ErrQueueNotFound) {
		return fmt.Errorf("remove queue %s: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queues = slices.DeleteFunc(r.queues, func(q string) bool { return q == name })
	return nil
}

// cleanup removes every queue still there, even after ctx is done.
func (r *runner) cleanup(ctx context.Context) error {
	r.mu.Lock()
	left := slices.Clone(r.queues)
	r.mu.Unlock()
	var errs []error
	for _, name := range left {
		if err := r.remove(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *runner) enqueuePhase(ctx context.Context, add func(Result)) error {
	n := r.cfg.Jobs

	q := r.queue("seq")
	var done atomic.Int64
	stop := r.progress(MetricEnqueueSeq, &done, n)
	start := time.Now()
	for range n {
		if _, err := r.client.Enqueue(ctx, jobType, nil, queue.OnQueue(q)); err != nil {
			stop()
			return err
		}
		done.Add(1)
	}
	elapsed := time.Since(start)
	stop()
	add(Result{MetricEnqueueSeq, perSecond(n, elapsed), UnitJobsPerSecond})
	if err := r.remove(ctx, q); err != nil {
		return err
	}

	q = r.queue("batch")
	done.Store(0)
	stop = r.progress(MetricEnqueueBatch, &done, n)
	start = time.Now()
	err := r.fill(ctx, q, n, &done)
	elapsed = time.Since(start)
	stop()
	if err != nil {
		return err
	}
	add(Result{MetricEnqueueBatch, perSecond(n, elapsed), UnitJobsPerSecond})
	return r.remove(ctx, q)
}

// fill enqueues n jobs on q with EnqueueMany in chunks of BatchSize.
func (r *runner) fill(ctx context.Context, q string, n int, done *atomic.Int64) error {
	reqs := make([]queue.Request, 0, r.cfg.BatchSize)
	for sent := 0; sent < n; {
		reqs = reqs[:0]
		for range min(r.cfg.BatchSize, n-sent) {
			reqs = append(reqs, queue.Request{Type: jobType, Options: []queue.Option{queue.OnQueue(q)}})
		}
		_, errs, err := r.client.EnqueueMany(ctx, reqs)
		if err != nil {
			return err
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		sent += len(reqs)
		done.Store(int64(sent))
	}
	return nil
}

func (r *runner) processPhase(ctx context.Context, add func(Result)) error {
	n, c := r.cfg.Jobs, r.cfg.Concurrency
	metric := MetricProcess(c)
	q := r.queue("process")
	var filled atomic.Int64
	stop := r.progress(metric+" (filling the queue)", &filled, n)
	err := r.fill(ctx, q, n, &filled)
	stop()
	if err != nil {
		return err
	}

	var handled atomic.Int64
	allHandled := make(chan struct{})
	var once sync.Once
	w := r.newWorker(q)
	w.HandleFunc(jobType, func(context.Context, *queue.Job) (any, error) {
		if handled.Add(1) >= int64(n) {
			once.Do(func() { close(allHandled) })
		}
		return nil, nil
	})
	stop = r.progress(metric, &handled, n)
	start := time.Now()
	wait := r.runWorker(ctx, w)
	err = func() error {
		select {
		case <-allHandled:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		// The handlers are done; the last outcomes may still be on their way to the
		// broker: the run ends when the broker shows every job completed.
		return r.waitCompleted(ctx, q, n)
	}()
	elapsed := time.Since(start)
	stop()
	if werr := wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	add(Result{metric, perSecond(n, elapsed), UnitJobsPerSecond})
	return r.remove(ctx, q)
}

// waitCompleted polls the queue's statistics until n jobs are completed.
func (r *runner) waitCompleted(ctx context.Context, q string, n int) error {
	for {
		qs, err := r.client.Queues(ctx)
		if err != nil {
			return err
		}
		for _, s := range qs {
			if s.Name == q && s.Completed >= int64(n) {
				return nil
			}
		}
		t := time.NewTimer(time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
}

func (r *runner) latencyPhase(ctx context.Context, add func(Result)) error {
	n := r.cfg.LatencySamples
	q := r.queue("latency")
	starts := make([]time.Time, n)
	started := make(chan int, n+1)
	w := r.newWorker(q)
	w.HandleFunc(jobType, func(_ context.Context, job *queue.Job) (any, error) {
		now := time.Now()
		var i int
		if err := json.Unmarshal(job.Payload, &i); err != nil || i < -1 || i >= n {
			return nil, queue.NoRetry(fmt.Errorf("bad latency sample payload %q", job.Payload))
		}
		if i >= 0 {
			starts[i] = now
		}
		select {
		case started <- i:
		default: // a job run twice (at-least-once): already counted
		}
		return nil, nil
	})
	wait := r.runWorker(ctx, w)
	sent := make([]time.Time, n)
	var done atomic.Int64
	stop := r.progress("latency", &done, n)
	err := func() error {
		// A first job, not measured, shows that the worker runs and is idle again.
		if _, err := r.client.Enqueue(ctx, jobType, -1, queue.OnQueue(q)); err != nil {
			return err
		}
		if err := receive(ctx, started); err != nil {
			return err
		}
		tick := time.NewTicker(r.cfg.LatencyInterval)
		defer tick.Stop()
		for i := range n {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			sent[i] = time.Now()
			if _, err := r.client.Enqueue(ctx, jobType, i, queue.OnQueue(q)); err != nil {
				return err
			}
			done.Add(1)
		}
		for range n {
			if err := receive(ctx, started); err != nil {
				return err
			}
		}
		return nil
	}()
	stop()
	if werr := wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	lat := make([]float64, n)
	for i := range n {
		lat[i] = float64(starts[i].Sub(sent[i])) / float64(time.Millisecond)
	}
	slices.Sort(lat)
	add(Result{MetricLatencyP50, percentile(lat, 50), UnitMilliseconds})
	add(Result{MetricLatencyP99, percentile(lat, 99), UnitMilliseconds})
	return r.remove(ctx, q)
}

func receive(ctx context.Context, ch <-chan int) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (r *runner) newWorker(q string) *queue.Worker {
	cfg := queue.WorkerConfig{
		ID:              q,
		Queues:          []queue.QueueWeight{{Name: q, Weight: 1}},
		Concurrency:     r.cfg.Concurrency,
		ShutdownTimeout: 10 * time.Second,
		Logger:          r.cfg.Logger,
	}
	if r.cfg.Worker != nil {
		cfg = r.cfg.Worker(cfg)
	}
	return queue.NewWorker(r.b, cfg)
}

// runWorker starts w; the returned function stops it and waits until Run has returned.
func (r *runner) runWorker(ctx context.Context, w *queue.Worker) (stop func() error) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	return func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		return nil
	}
}

// progress prints "metric: done/total" every ProgressEvery until the returned function is
// called.
func (r *runner) progress(what string, done *atomic.Int64, total int) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fmt.Fprintf(r.cfg.Progress, "bench: %s: %d/%d\n", what, done.Load(), total)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func perSecond(n int, d time.Duration) float64 {
	return float64(n) / max(d, time.Microsecond).Seconds()
}

// percentile returns the p-th percentile (nearest rank) of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// round keeps three decimals: enough for milliseconds and for jobs/s.
func round(v float64) float64 {
	return math.Round(v*1000) / 1000
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
