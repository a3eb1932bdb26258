package queue

import (
	"context"
	"time"
)

// This file holds the hooks through which a program watches the library at work (metrics,
// tracing, logs) without the library depending on any of them.

// EnqueueFunc stores jobs, as Broker.Enqueue does.
type EnqueueFunc func(ctx context.Context, jobs []*Job) ([]error, error)

// EnqueueMiddleware wraps a Client's calls to its broker's Enqueue. It sees each job fully
// built and validated, and may add to its Metadata (a trace context, for instance) before
// calling next; after next it sees what was stored (a nil entry in the returned slice).
type EnqueueMiddleware func(next EnqueueFunc) EnqueueFunc

// Committer is a transaction that can run functions once it has committed, and never if it
// rolls back (sqlitebroker.Tx).
type Committer interface {
	AfterCommit(f func())
}

// inTxKey is the context key of the transaction an enqueue stores its jobs in.
type inTxKey struct{}

// InTransaction returns ctx for a Client's enqueue into transaction tx (EnqueueVia with tx's
// Enqueue): its jobs are stored only if tx commits, so what middleware records of them waits
// for the commit (AfterCommit).
func InTransaction(ctx context.Context, tx Committer) context.Context {
	return context.WithValue(ctx, inTxKey{}, tx)
}

// AfterCommit runs f once the jobs of an enqueue made with ctx are stored for good: at once,
// or, for an enqueue into a transaction (InTransaction), once that transaction has
// committed, and never if it rolls back. An EnqueueMiddleware that records what was stored
// (a count of enqueued jobs) does it in f, so that a rolled-back transaction, which a caller
// may then run again, is not counted.
func AfterCommit(ctx context.Context, f func()) {
	if tx, ok := ctx.Value(inTxKey{}).(Committer); ok {
		tx.AfterCommit(f)
		return
	}
	f()
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithEnqueueMiddleware wraps the client's enqueues in mw, the first one outermost.
func WithEnqueueMiddleware(mw ...EnqueueMiddleware) ClientOption {
	return func(c *Client) {
		c.mw = append(c.mw, mw...)
		if c.broker != nil {
			c.enqueue = wrap(c.broker.Enqueue, c.mw)
		}
	}
}

// wrap wraps store in mw, the first one outermost.
func wrap(store EnqueueFunc, mw []EnqueueMiddleware) EnqueueFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		store = mw[i](store)
	}
	return store
}

// WorkerObserver is told when a worker starts and ends an attempt. Its methods are called
// on the worker's hot path, from the goroutine running the job: they must be quick and must
// not block.
type WorkerObserver interface {
	// JobStarted is called when the attempt starts, before the handler runs. The job's
	// StartedAt is set; EnqueuedAt and, for a delayed or retried job, RunAt say since when
	// it was waiting.
	JobStarted(job *Job)
	// JobFinished is called when the handler has returned, with how long it ran and how the
	// attempt ends: StateCompleted, StateRetry (it will run again), StateDead or
	// StateCanceled. An attempt cut short by the worker's shutdown, whose job goes back to
	// its queue, and one whose handler found a dependency unavailable (Unavailable: the
	// attempt does not count), end with StatePending.
	JobFinished(job *Job, end State, took time.Duration)
}

// TickResult is what became of one cron tick.
type TickResult string

const (
	// TickEnqueued: this scheduler enqueued the tick's job.
	TickEnqueued TickResult = "enqueued"
	// TickDuplicate: another scheduler had enqueued it already.
	TickDuplicate TickResult = "duplicate"
	// TickFailed: the enqueue failed (it is tried again after a backoff).
	TickFailed TickResult = "failed"
)

// SchedulerObserver is told about every tick a Scheduler handles.
type SchedulerObserver interface {
	Tick(schedule string, result TickResult)
}

type jobKey struct{}

// JobFromContext returns the job whose handler got ctx (a Worker puts it there), so that
// code called by a handler can name the job in its logs.
func JobFromContext(ctx context.Context) (*Job, bool) {
	j, ok := ctx.Value(jobKey{}).(*Job)
	return j, ok
}

// ContextWithJob returns ctx carrying job, as a Worker passes it to the job's handler.
func ContextWithJob(ctx context.Context, job *Job) context.Context {
	return context.WithValue(ctx, jobKey{}, job)
}
