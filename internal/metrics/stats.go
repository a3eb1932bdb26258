package metrics

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/codex-dominion/dominion/queue"
)

// Sources are where the gauges of the shared state are read: the broker's queue statistics
// and live workers, and the workflow store's outbox. A nil source is left out.
type Sources struct {
	Queues  func(ctx context.Context) ([]queue.QueueStats, error)
	Workers func(ctx context.Context) ([]queue.WorkerInfo, error)
	// Outbox returns how many accepted workflows wait to be enqueued.
	Outbox func(ctx context.Context) (int64, error)
}

// statsInterval is the least time between two reads of the sources.
const statsInterval = time.Second

// MaxQueueSeries bounds the queues the broker statistics report one by one: clients choose
// queue names, so past the first MaxQueueSeries queues by name the rest are summed under
// queue="other".
const MaxQueueSeries = 100

// statsTimeout bounds one read of the sources.
const statsTimeout = 2 * time.Second

// WatchStats registers the gauges read from src: jobs per queue and state, the broker's
// processed and failed counters, paused queues, the age of the oldest pending job, live
// workers and their busy and total slots, and outbox rows waiting. Every process that
// shares a broker reports the same values: aggregate them with max, not sum.
func (m *Metrics) WatchStats(src Sources) {
	m.reg.MustRegister(&statsCollector{src: src})
}

var (
	descJobs      = desc("queue_jobs", "Jobs in the broker per queue and state.", "queue", "state")
	descProcessed = desc("queue_processed_total", "Attempts finished per queue, as the broker counts them (all processes).", "queue")
	descFailed    = desc("queue_failed_total", "Failed attempts per queue, as the broker counts them (all processes).", "queue")
	descPaused    = desc("queue_paused", "1 when the queue is paused.", "queue")
	descOldest    = desc("queue_oldest_pending_age_seconds", "Age of the oldest pending job of the queue (0 when none).", "queue")
	descWorkers   = desc("workers_live", "Workers with a recent heartbeat, in every process on the broker.")
	descBusy      = desc("workers_busy_slots", "Jobs running in all live workers.")
	descSlots     = desc("workers_slots", "Concurrency of all live workers together.")
	descOutbox    = desc("outbox_waiting", "Accepted workflows waiting to be enqueued (the outbox).")
	descUp        = desc("stats_up", "1 when the last read of the broker and store statistics succeeded.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// statsCollector reads the sources at most once per statsInterval and serves the last
// reading in between.
type statsCollector struct {
	src Sources

	mu      sync.Mutex
	readAt  time.Time
	metrics []prometheus.Metric
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descProcessed, descFailed, descPaused, descOldest, descWorkers, descBusy, descSlots, descOutbox, descUp} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.readAt) >= statsInterval {
		c.metrics = c.read(now)
		c.readAt = now
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *statsCollector) read(now time.Time) []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	var out []prometheus.Metric
	up := 1.0
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	if c.src.Queues != nil {
		qs, err := c.src.Queues(ctx)
		if err != nil {
			up = 0
		}
		for _, q := range boundQueues(qs) {
			for _, st := range queue.States {
				gauge(descJobs, float64(q.Count(st)), q.Name, string(st))
			}
			out = append(out, prometheus.MustNewConstMetric(descProcessed, prometheus.CounterValue, float64(q.Processed), q.Name),
				prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(q.Failed), q.Name))
			gauge(descPaused, b2f(q.Paused), q.Name)
			age := 0.0
			if !q.OldestPending.IsZero() {
				age = max(now.Sub(q.OldestPending).Seconds(), 0)
			}
			gauge(descOldest, age, q.Name)
		}
	}
	if c.src.Workers != nil {
		ws, err := c.src.Workers(ctx)
		if err != nil {
			up = 0
		} else {
			busy, slots := 0, 0
			for _, w := range ws {
				busy += len(w.Jobs)
				slots += w.Concurrency
			}
			gauge(descWorkers, float64(len(ws)))
			gauge(descBusy, float64(busy))
			gauge(descSlots, float64(slots))
		}
	}
	if c.src.Outbox != nil {
		if n, err := c.src.Outbox(ctx); err != nil {
			up = 0
		} else {
			gauge(descOutbox, float64(n))
		}
	}
	gauge(descUp, up)
	return out
}

// boundQueues returns qs when they are at most MaxQueueSeries, else the first
// MaxQueueSeries by name and the sum of the others, named Other (a queue named Other is
// then summed with them).
func boundQueues(qs []queue.QueueStats) []queue.QueueStats {
	if len(qs) <= MaxQueueSeries {
		return qs
	}
	qs = slices.SortedFunc(slices.Values(qs), func(a, b queue.QueueStats) int { return strings.Compare(a.Name, b.Name) })
	out := make([]queue.QueueStats, 0, MaxQueueSeries+1)
	other := queue.QueueStats{Name: Other}
	for _, q := range qs {
		if len(out) < MaxQueueSeries && q.Name != Other {
			out = append(out, q)
			continue
		}
		addQueue(&other, q)
	}
	return append(out, other)
}

// addQueue adds q's counts to sum: sum is paused when either is, and its oldest pending job
// is the older of the two.
func addQueue(sum *queue.QueueStats, q queue.QueueStats) {
	to := []*int64{&sum.Pending, &sum.Active, &sum.Scheduled, &sum.Retry, &sum.Dead, &sum.Completed, &sum.Canceled, &sum.Processed, &sum.Failed}
	for i, v := range []int64{q.Pending, q.Active, q.Scheduled, q.Retry, q.Dead, q.Completed, q.Canceled, q.Processed, q.Failed} {
		*to[i] += v
	}
	sum.Paused = sum.Paused || q.Paused
	if !q.OldestPending.IsZero() && (sum.OldestPending.IsZero() || q.OldestPending.Before(sum.OldestPending)) {
		sum.OldestPending = q.OldestPending
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
