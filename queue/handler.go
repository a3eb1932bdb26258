package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Handler runs jobs of one type. The result, if not nil, is stored as JSON with the completed
// job. Returning an error fails the attempt: the job is retried after a backoff, or goes to
// dead when it was its last attempt or the error is marked with NoRetry. An error marked
// with Unavailable (a dependency is down) does not count as an attempt: the job waits and
// runs again.
//
// A handler must return when ctx is done: ctx carries the job's timeout, a Cancel of the job
// and the worker's shutdown. ctx's cause (context.Cause) says which.
type Handler interface {
	ProcessJob(ctx context.Context, job *Job) (result any, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *Job) (any, error)

// ProcessJob calls f.
func (f HandlerFunc) ProcessJob(ctx context.Context, job *Job) (any, error) { return f(ctx, job) }

// Middleware wraps every handler of a worker: logging, metrics, tracing.
type Middleware func(Handler) Handler

// Backoff says how long to wait before attempt n+1 after attempt n failed.
type Backoff func(attempt int) time.Duration

// DefaultBackoff is exponential with jitter: after attempt n it waits a random duration in
// [d/2, d] where d = min(2^(n-1) seconds, 1 hour); so about 0.5–1 s, 1–2 s, 2–4 s, …
// The jitter spreads out the retries of jobs that failed together.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := time.Hour
	if attempt <= 12 {
		d = min(time.Second<<(attempt-1), time.Hour)
	}
	return Jitter(d)
}

// Causes of a handler's context being canceled, as context.Cause reports them.
var (
	ErrJobCanceled  = errors.New("job canceled")
	ErrShuttingDown = errors.New("worker shutting down")
	// ErrLeaseLost: the worker's lease on this attempt ran out and the job was fetched again
	// as a new attempt, so this one's outcome would be ignored.
	ErrLeaseLost = errors.New("job lease lost: the job runs again as a new attempt")
)

// LoggingMiddleware logs each attempt's end at debug level, and failures at warn level.
func LoggingMiddleware(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, job *Job) (any, error) {
			start := time.Now()
			res, err := next.ProcessJob(ctx, job)
			attrs := []any{"job_id", job.ID, "type", job.Type, "queue", job.Queue, "attempt", job.Attempt, "took", time.Since(start)}
			switch {
			case err != nil && errors.Is(context.Cause(ctx), ErrShuttingDown):
				log.InfoContext(ctx, "job interrupted by shutdown", attrs...)
			case IsUnavailable(err):
				// The worker logs the outage once; its jobs wait without using attempts.
				log.DebugContext(ctx, "job waits for an unavailable dependency", append(attrs, "err", err)...)
			case err != nil:
				log.WarnContext(ctx, "job failed", append(attrs, "err", err)...)
			default:
				log.DebugContext(ctx, "job done", attrs...)
			}
			return res, err
		})
	}
}
