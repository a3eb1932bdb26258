package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codex-dominion/dominion/internal/clock"
)

// QueueWeight is one queue a worker serves and its weight (its share of fetches, or its rank
// with strict priority). A weight below 1 counts as 1, one above MaxQueueWeight as
// MaxQueueWeight.
type QueueWeight struct {
	Name   string
	Weight int
}

// MaxQueueWeight bounds the weight of a queue in a worker's draw, so that the sum of the
// weights stays an int (weights of 9223372036854775807 and 1 overflowed it, and the draw
// panicked).
const MaxQueueWeight = 1_000_000

// weight is q's weight in a worker's draw.
func (q QueueWeight) weight() int { return min(max(q.Weight, 1), MaxQueueWeight) }

// WorkerConfig configures a Worker. The zero value of each field means its default.
type WorkerConfig struct {
	// ID names the worker; default host:pid:random.
	ID string
	// Queues to serve (default: "default" with weight 1).
	Queues []QueueWeight
	// StrictPriority serves queues in descending weight order: a lower queue only gets a
	// job when every higher one is empty. Otherwise each fetch orders the queues at random
	// in proportion to their weights.
	StrictPriority bool
	// Concurrency is the number of jobs run at once (default 10).
	Concurrency int
	// ShutdownTimeout is how long Run waits for running jobs once its context is done
	// (default 30 s); jobs still running then are canceled and put back in their queue.
	ShutdownTimeout time.Duration
	// Lease is how long a fetched job stays leased without a heartbeat (default 10 s): when
	// a worker dies, its jobs are back in pending at most Lease plus one fetch later.
	Lease time.Duration
	// HeartbeatInterval is how often the worker extends its leases and checks for canceled
	// jobs (default 1 s; it must be well under Lease).
	HeartbeatInterval time.Duration
	// HistorySlot is how often the worker records the queues' totals in the broker's history
	// (HistoryStore), on its heartbeat: default HistorySlot (10 s); negative: never. Of all
	// workers, the first to record a slot's sample wins; the others' are dropped.
	HistorySlot time.Duration
	// FetchWait bounds one blocking fetch (default 5 s).
	FetchWait time.Duration
	// MaxBatch bounds the jobs fetched in one round trip (default 100).
	MaxBatch int
	// Backoff is the retry delay policy (default DefaultBackoff); Handle can override it
	// per job type.
	Backoff Backoff
	// MaxUnavailableDelay caps the delay before a job whose handler returned an Unavailable
	// error runs again (default 10 s); the delay doubles from 250 ms while outcomes stay
	// Unavailable.
	MaxUnavailableDelay time.Duration
	// ProgressInterval is how often, at most, one job's progress (ReportProgress) is
	// written to the broker (default DefaultProgressInterval).
	ProgressInterval time.Duration
	Middleware       []Middleware
	// Observer, when set, is told when each attempt starts and ends (metrics).
	Observer WorkerObserver
	Logger   *slog.Logger
}

func (c *WorkerConfig) setDefaults() {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s:%d:%04x", host, os.Getpid(), rand.N(1<<16))
	}
	if len(c.Queues) == 0 {
		c.Queues = []QueueWeight{{Name: DefaultQueue, Weight: 1}}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 10
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = min(time.Second, c.Lease/3)
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 5 * time.Second
	}
	if c.HistorySlot == 0 {
		c.HistorySlot = HistorySlot
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 100
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.MaxUnavailableDelay <= 0 {
		c.MaxUnavailableDelay = DefaultMaxUnavailableDelay
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Worker fetches jobs from its queues and runs the handler registered for each job's type.
type Worker struct {
	broker   Broker
	cfg      WorkerConfig
	log      *slog.Logger
	handlers map[string]registered
	types    []string // the keys of handlers, sorted: set by Run
	started  time.Time
	// historySlot is the history slot last recorded (used by the heartbeat loop only).
	historySlot time.Time
	// down logs the broker's outages as the fetch, heartbeat and completer loops see them.
	down *downLog

	slots    chan struct{}    // a token per running job: the concurrency limit
	runs     chan *runningJob // fetched jobs, to the runners (see runner)
	outcomes chan Outcome
	mu       sync.Mutex
	running  map[string]*runningJob
	// recording counts, per job, the outcomes handed to the completer and not yet recorded
	// by the broker: their leases are still extended, so that a broker that refuses outcomes
	// for a while (an outage, a failover, WAIT without a replica) does not let them expire
	// and the jobs run again while their outcomes wait to be recorded.
	recording map[string]int
	reporting sync.WaitGroup // jobs whose outcome is still to be sent
	processed atomic.Int64
	failed    atomic.Int64
	outage    *outage
}

type registered struct {
	handler Handler
	backoff Backoff
}

type runningJob struct {
	job      *Job
	ctx      context.Context // the handler's
	cancel   context.CancelCauseFunc
	progress *progressReporter
}

// What a worker logs when the queue goes away and when it is back.
const (
	workerDownMsg = "the queue is unreachable: the worker retries with backoff until it answers"
	workerBackMsg = "the queue answers again: the worker runs jobs"
)

// NewWorker returns a worker on broker; register handlers, then call Run.
func NewWorker(broker Broker, cfg WorkerConfig) *Worker {
	cfg.setDefaults()
	log := cfg.Logger.With("worker", cfg.ID)
	return &Worker{
		broker:    broker,
		cfg:       cfg,
		log:       log,
		outage:    &outage{log: log, max: cfg.MaxUnavailableDelay},
		down:      &downLog{log: log, down: workerDownMsg, back: workerBackMsg},
		handlers:  map[string]registered{},
		slots:     make(chan struct{}, cfg.Concurrency),
		runs:      make(chan *runningJob, cfg.Concurrency),
		outcomes:  make(chan Outcome, cfg.Concurrency),
		running:   map[string]*runningJob{},
		recording: map[string]int{},
	}
}

// ID returns the worker's ID.
func (w *Worker) ID() string { return w.cfg.ID }

// HandlerOption customises one registered handler.
type HandlerOption func(*registered)

// WithBackoff gives jobs of this type their own retry delay policy.
func WithBackoff(b Backoff) HandlerOption { return func(r *registered) { r.backoff = b } }

// Handle registers h for jobs of type typ. Register every handler before Run.
func (w *Worker) Handle(typ string, h Handler, opts ...HandlerOption) {
	for i := len(w.cfg.Middleware) - 1; i >= 0; i-- {
		h = w.cfg.Middleware[i](h)
	}
	r := registered{handler: h, backoff: w.cfg.Backoff}
	for _, opt := range opts {
		opt(&r)
	}
	w.handlers[typ] = r
}

// HandleFunc registers fn for jobs of type typ.
func (w *Worker) HandleFunc(typ string, fn func(ctx context.Context, job *Job) (any, error), opts ...HandlerOption) {
	w.Handle(typ, HandlerFunc(fn), opts...)
}

// Run fetches and runs jobs until ctx is done, then shuts down gracefully: it stops fetching,
// waits up to ShutdownTimeout for running jobs, cancels those still running and puts them back
// in their queue, records every outcome and removes the worker's record. It returns nil after
// a graceful shutdown. On a broker that stops answering, recording the outcomes waits for it
// (none is lost), but the rest does not: an idle worker on a Redis that hangs stops within
// a few seconds (stopGrace).
func (w *Worker) Run(ctx context.Context) error {
	w.started = time.Now()
	w.types = slices.Sorted(maps.Keys(w.handlers))
	// Broker calls that must outlive ctx (the last outcomes, requeue) use this context.
	bg := context.WithoutCancel(ctx)
	jobsCtx, cancelJobs := context.WithCancelCause(bg)
	defer cancelJobs(ErrShuttingDown)

	w.heartbeat(bg)
	hbCtx, stopHeartbeat := context.WithCancel(bg)
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeatLoop(hbCtx) }()
	completerDone := make(chan struct{})
	go func() { defer close(completerDone); w.completer(bg) }()

	for range w.cfg.Concurrency {
		go w.runner()
	}
	w.log.Info("worker started", "queues", w.cfg.Queues, "concurrency", w.cfg.Concurrency)
	w.fetchLoop(ctx, jobsCtx)
	close(w.runs) // the runners end once they are done with their jobs

	w.log.Info("worker stopping: waiting for running jobs", "running", w.runningCount(), "timeout", w.cfg.ShutdownTimeout)
	w.drain(bg)
	w.reporting.Wait()
	close(w.outcomes)
	<-completerDone
	stopHeartbeat()
	clock.AtMost(clock.Real(), hbDone, stopGrace)
	rctx, cancel := context.WithTimeout(bg, 2*stopGrace)
	defer cancel()
	if err := w.broker.RemoveWorker(rctx, w.cfg.ID); err != nil {
		w.log.Warn("remove worker record", "err", err)
	}
	w.log.Info("worker stopped", "processed", w.processed.Load(), "failed", w.failed.Load())
	return nil
}

// stopGrace bounds what a stopping worker waits for its last calls, those that nothing
// depends on, when the broker does not answer (a Redis that hangs): the heartbeat in flight
// (every job is finished or given back by then) and, twice this, the removal of its record
// (which expires by itself).
const stopGrace = time.Second

// fetchLoop fetches as many jobs as there are free slots, until ctx is done.
func (w *Worker) fetchLoop(ctx, jobsCtx context.Context) {
	retry := newReconnectDelay()
	for {
		n := w.acquire(ctx)
		if n == 0 {
			return
		}
		began := time.Now()
		jobs, err := w.broker.Fetch(ctx, FetchRequest{
			WorkerID: w.cfg.ID, Queues: w.order(), Max: n, Lease: w.cfg.Lease, Wait: w.cfg.FetchWait,
		})
		w.release(n - len(jobs))
		if ctx.Err() != nil && len(jobs) == 0 {
			return
		}
		w.down.report(began, err, "call", "fetch")
		if err != nil {
			if !sleepCtx(ctx, retry.next()) {
				return
			}
			continue
		}
		retry.reset()
		for _, job := range jobs {
			w.start(jobsCtx, job)
		}
	}
}

// acquire takes one slot, waiting for it, then as many more as are free up to MaxBatch. It
// returns 0 when ctx is done first.
func (w *Worker) acquire(ctx context.Context) int {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1 + w.tryAcquire(w.cfg.MaxBatch-1)
	// A busy worker whose jobs are short frees slots one at a time: wait a moment for a
	// fuller batch, so that one round trip fetches many jobs. An idle worker has every
	// slot free and does not wait. Four fifths of the slots, not half: a fetch and the
	// finish of its jobs cost the broker a fixed part per call (a round trip, a script's
	// setup), which 40 jobs share out better than 25 (docs/BENCHMARKS.md, session 12), while
	// a fifth of the jobs still run as the fetch is on its way.
	if want := min(w.cfg.MaxBatch, w.cfg.Concurrency*4/5); n < want {
		t := time.NewTimer(batchLinger)
		defer t.Stop()
		for n < want {
			select {
			case w.slots <- struct{}{}:
				n++
			case <-t.C:
				return n
			case <-ctx.Done():
				return n
			}
		}
	}
	return n
}

// tryAcquire takes up to max free slots without waiting and returns how many it took.
func (w *Worker) tryAcquire(max int) int {
	n := 0
	for n < max {
		select {
		case w.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (w *Worker) release(n int) {
	for range n {
		<-w.slots
	}
}

// order returns the queues in the order to serve them for one fetch.
func (w *Worker) order() []string {
	qs := slices.Clone(w.cfg.Queues)
	if w.cfg.StrictPriority {
		slices.SortStableFunc(qs, func(a, b QueueWeight) int { return cmp.Compare(b.Weight, a.Weight) })
	} else {
		weightedShuffle(qs)
	}
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name
	}
	return names
}

// weightedShuffle orders qs so that each position is drawn among the rest in proportion to
// the weights: with critical=6,default=3,low=1, critical comes first in 60% of fetches.
func weightedShuffle(qs []QueueWeight) {
	for i := range qs {
		total := 0
		for _, q := range qs[i:] {
			total += q.weight()
		}
		r := rand.N(total)
		for j := i; j < len(qs); j++ {
			r -= qs[j].weight()
			if r < 0 {
				qs[i], qs[j] = qs[j], qs[i]
				break
			}
		}
	}
}

func (w *Worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// drain waits up to ShutdownTimeout for running jobs, then cancels the rest and requeues them.
func (w *Worker) drain(ctx context.Context) {
	done, stop := make(chan struct{}), make(chan struct{})
	defer close(stop)
	go func() {
		for range w.cfg.Concurrency {
			select {
			case w.slots <- struct{}{}:
			case <-stop:
				return
			}
		}
		close(done)
	}()
	timer := time.NewTimer(w.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	w.mu.Lock()
	abandoned := make([]*Job, 0, len(w.running))
	for id, r := range w.running {
		r.cancel(ErrShuttingDown)
		abandoned = append(abandoned, r.job)
		delete(w.running, id)
		w.reporting.Done()
	}
	w.mu.Unlock()
	if len(abandoned) == 0 {
		return
	}
	// Give the canceled handlers a moment to return, so that a job is not running here
	// while another worker already runs it again. A handler that ignores its context for
	// longer than this can still overlap with the next attempt.
	grace := time.NewTimer(abandonGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
	}
	w.log.Warn("shutdown timeout: putting unfinished jobs back in their queue", "jobs", len(abandoned))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.broker.Requeue(rctx, w.cfg.ID, abandoned); err != nil {
		w.log.Error("requeue unfinished jobs; their leases will expire and they will be recovered", "err", err)
	}
}

var errNoHandler = errors.New("no handler registered for this job type")

// batchLinger is how long a busy worker waits for more free slots before it fetches.
const batchLinger = 200 * time.Microsecond

// abandonGrace is how long a shutdown waits for handlers it canceled before requeueing their jobs.
const abandonGrace = time.Second

// String returns "name=weight", the form of the worker's --queues flag.
func (q QueueWeight) String() string { return fmt.Sprintf("%s=%d", q.Name, q.Weight) }

// FormatQueues returns the queues in the form of the worker's --queues flag:
// "workflows=3,default=1".
func FormatQueues(qs []QueueWeight) string {
	parts := make([]string, len(qs))
	for i, q := range qs {
		parts[i] = q.String()
	}
	return strings.Join(parts, ",")
}
