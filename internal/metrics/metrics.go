package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/codex-dominion/dominion/queue"
)

const namespace = "dominion"

// Metrics is one process's registry and the instruments the other packages' hooks feed.
// Build it with New; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	enqueued *prometheus.CounterVec
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
	pickup   *prometheus.HistogramVec
	busy     prometheus.Gauge
	slots    prometheus.Gauge
	ticks    *prometheus.CounterVec

	wfFinished *prometheus.CounterVec
	wfSavings  *prometheus.CounterVec
	wfDuration *prometheus.HistogramVec

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	mu    sync.RWMutex
	jobs  map[jobKey]*jobSeries
	other func() *jobSeries // the series of the pairs past MaxJobSeries
	http  map[httpKey]*httpSeries
}

// MaxJobSeries bounds the distinct (queue, type) label pairs of the job metrics: clients
// choose both (POST /api/jobs takes any), so past this many pairs a process counts the
// jobs of any new pair under queue="other", type="other".
const MaxJobSeries = 200

// Other is the queue and type label of the jobs past MaxJobSeries.
const Other = "other"

// New returns a registry with the Go runtime and process collectors and Dominion's
// instruments.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), jobs: map[jobKey]*jobSeries{}, http: map[httpKey]*httpSeries{}}
	m.other = sync.OnceValue(func() *jobSeries { return m.newSeries(Other, Other) })
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	jobLabels := []string{"queue", "type"}
	m.enqueued = m.counter("jobs_enqueued_total", "Jobs stored by this process's clients.", jobLabels...)
	m.finished = m.counter("jobs_finished_total",
		"Attempts run by this process's workers, by how they ended: completed, retried (failed, will run again), dead, canceled, or interrupted (shutdown; back in its queue).",
		"queue", "type", "outcome")
	m.duration = m.histogram("job_duration_seconds", "How long handlers ran.", jobBuckets, jobLabels...)
	m.pickup = m.histogram("job_pickup_latency_seconds",
		"Time from when a job could run (enqueued, or its run-at) to when a worker started it.", jobBuckets, jobLabels...)
	m.busy = m.gauge("worker_busy_slots", "Jobs this process's worker is running now.")
	m.slots = m.gauge("worker_slots", "Jobs this process's worker may run at once (its concurrency).")
	m.ticks = m.counter("scheduler_ticks_total", "Cron ticks handled by this process's scheduler, by result: enqueued, duplicate (another scheduler enqueued it), failed.", "schedule", "result")
	m.wfFinished = m.counter("workflows_finished_total", "Workflows that reached a final status in this process.", "type", "status")
	m.wfSavings = m.counter("workflow_weekly_savings_dollars_total", "Sum of the weekly savings of the workflows completed in this process.", "type")
	m.wfDuration = m.histogram("workflow_duration_seconds", "Duration of the workflows that reached a final status in this process.", jobBuckets, "type", "status")
	m.httpRequests = m.counter("http_requests_total", "HTTP requests answered, by route pattern, method and status.", "route", "method", "status")
	m.httpDuration = m.histogram("http_request_duration_seconds", "HTTP request durations, by route pattern, method and status.", httpBuckets, "route", "method", "status")
	return m
}

var (
	jobBuckets  = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	httpBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

func (m *Metrics) counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	m.reg.MustRegister(h)
	return h
}

func (m *Metrics) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	m.reg.MustRegister(g)
	return g
}

// Registry returns the registry, for more collectors (Stats) and for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format, for GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WorkerSlots records the concurrency of this process's worker.
func (m *Metrics) WorkerSlots(n int) { m.slots.Set(float64(n)) }

type jobKey struct{ queue, typ string }

// jobSeries are the resolved series of one (queue, type), so that the per-job path does no
// label lookup.
type jobSeries struct {
	enqueued  prometheus.Counter
	duration  prometheus.Observer
	pickup    prometheus.Observer
	completed prometheus.Counter
	retried   prometheus.Counter
	dead      prometheus.Counter
	canceled  prometheus.Counter
	requeued  prometheus.Counter
}

// series returns the series of (q, typ), or those of ("other", "other") once MaxJobSeries
// pairs have theirs.
func (m *Metrics) series(q, typ string) *jobSeries {
	k := jobKey{q, typ}
	m.mu.RLock()
	s, ok := m.jobs[k]
	full := len(m.jobs) >= MaxJobSeries
	m.mu.RUnlock()
	if ok {
		return s
	}
	if full {
		return m.other()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.jobs[k]; ok {
		return s
	}
	if len(m.jobs) >= MaxJobSeries {
		return m.other()
	}
	s = m.newSeries(q, typ)
	m.jobs[k] = s
	return s
}

func (m *Metrics) newSeries(q, typ string) *jobSeries {
	outcome := func(o string) prometheus.Counter { return m.finished.WithLabelValues(q, typ, o) }
	return &jobSeries{
		enqueued: m.enqueued.WithLabelValues(q, typ), duration: m.duration.WithLabelValues(q, typ),
		pickup: m.pickup.WithLabelValues(q, typ), completed: outcome("completed"), retried: outcome("retried"),
		dead: outcome("dead"), canceled: outcome("canceled"), requeued: outcome("interrupted"),
	}
}

// EnqueueMiddleware counts the jobs a client stores; jobs enqueued into a transaction
// (queue.InTransaction) once it has committed.
func (m *Metrics) EnqueueMiddleware() queue.EnqueueMiddleware {
	return func(next queue.EnqueueFunc) queue.EnqueueFunc {
		return func(ctx context.Context, jobs []*queue.Job) ([]error, error) {
			errs, err := next(ctx, jobs)
			if err != nil {
				return errs, err
			}
			queue.AfterCommit(ctx, func() {
				for i, j := range jobs {
					if errs[i] == nil {
						m.series(j.Queue, j.Type).enqueued.Inc()
					}
				}
			})
			return errs, nil
		}
	}
}

// JobStarted implements queue.WorkerObserver.
func (m *Metrics) JobStarted(j *queue.Job) {
	m.busy.Inc()
	from := j.EnqueuedAt
	if j.RunAt.After(from) {
		from = j.RunAt
	}
	if !from.IsZero() && !j.StartedAt.IsZero() {
		m.series(j.Queue, j.Type).pickup.Observe(max(j.StartedAt.Sub(from), 0).Seconds())
	}
}

// JobFinished implements queue.WorkerObserver.
func (m *Metrics) JobFinished(j *queue.Job, end queue.State, took time.Duration) {
	m.busy.Dec()
	s := m.series(j.Queue, j.Type)
	s.duration.Observe(took.Seconds())
	switch end {
	case queue.StateCompleted:
		s.completed.Inc()
	case queue.StateRetry:
		s.retried.Inc()
	case queue.StateDead:
		s.dead.Inc()
	case queue.StateCanceled:
		s.canceled.Inc()
	default:
		s.requeued.Inc()
	}
}

// Tick implements queue.SchedulerObserver.
func (m *Metrics) Tick(schedule string, r queue.TickResult) {
	m.ticks.WithLabelValues(schedule, string(r)).Inc()
}

// WorkflowFinished implements workflow.Observer.
func (m *Metrics) WorkflowFinished(typ, status string, took time.Duration, weeklySavings float64) {
	m.wfFinished.WithLabelValues(typ, status).Inc()
	m.wfDuration.WithLabelValues(typ, status).Observe(took.Seconds())
	if status == "completed" {
		m.wfSavings.WithLabelValues(typ).Add(weeklySavings)
	}
}
