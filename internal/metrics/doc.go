// Package metrics is Dominion's Prometheus instrumentation: one private registry per process
// (no global state), with the Go runtime and process collectors, and adapters for the hooks
// of the other packages — queue.EnqueueMiddleware, queue.WorkerObserver,
// queue.SchedulerObserver, workflow.Observer and an HTTP middleware — so that none of those
// packages depends on Prometheus.
//
// What it promises:
//
//   - Labels are bounded: queue, type, state, outcome, schedule, result, route (the matched
//     pattern, never the raw path), method and status; never a job, workflow or request id.
//     Clients choose queues and types, so the job metrics have at most MaxJobSeries
//     (queue, type) pairs; further pairs are counted under queue and type "other". The
//     broker statistics report at most MaxQueueSeries queues, the rest summed as "other".
//   - The per-job path allocates nothing in label lookup: the series of each (queue, type)
//     are resolved once and cached.
//   - Gauges read from the broker and the store (jobs per queue and state, live workers,
//     outbox rows waiting) are read at most once a second, however often /metrics is
//     scraped; those reads are bounded by a timeout, and a failed read is reported by
//     dominion_stats_up 0 rather than by stale numbers.
//
// docs/observability.md lists every metric.
package metrics
