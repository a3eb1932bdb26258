package queue

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Broker is where jobs live. Client and Worker do everything through it, so a broker holds no
// policy (no backoff, no handler logic): it stores jobs and moves them between states, each
// transition in one atomic step (a Lua script in Redis, a transaction in SQLite).
//
// Every broker passes the conformance suite in package queuetest; that suite, not this comment,
// is the precise contract.
type Broker interface {
	// Enqueue stores new jobs. Each job arrives with ID, Queue, Type, Payload, MaxRetries,
	// Timeout, UniqueKey/UniqueFor, ResultTTL and EnqueuedAt set, and State either
	// StatePending or StateScheduled (with RunAt). The returned slice has one entry per job:
	// nil, or ErrDuplicateJob when a job with that ID exists, or ErrDuplicateUnique when
	// another live job holds the unique key. A duplicate changes nothing. The error is for
	// failures of the whole call (connection lost, context done).
	//
	// A job with DependsOn waits (StateWaiting) until every parent has completed, in the
	// same atomic step as the last parent's outcome, and then becomes pending (scheduled when
	// its run-at is still ahead); a parent that ends dead or canceled (or is deleted) cancels
	// it with an error naming the parent, unless RunOnParentFailure is set. A parent already
	// completed counts as done; one that does not exist gives an error wrapping
	// ErrParentNotFound. Parents come before their children in jobs (Client orders them).
	// Enqueue sets the State of a job stored waiting, or canceled at once, to that state.
	// A job with Batch joins that open batch (ErrBatchNotFound, ErrBatchSealed otherwise).
	Enqueue(ctx context.Context, jobs []*Job) ([]error, error)

	// Fetch leases up to req.Max jobs for req.WorkerID: it takes pending jobs from
	// req.Queues in the order given (a paused queue is skipped), marks them active with a
	// lease until now+req.Lease, increments their Attempt and sets StartedAt and WorkerID.
	// Before that it makes due scheduled and retry jobs pending and recovers active jobs
	// whose lease has expired (back to pending, or dead when that was their last attempt).
	// It applies the queues' limits (SetLimits). When nothing is available it waits, without
	// polling in a loop, until a job may be available (an enqueue, a due run-at, a limit's next
	// slot, a running slot freed) or req.Wait has elapsed, and then returns an empty slice. It returns early
	// with ctx's error when ctx is done.
	Fetch(ctx context.Context, req FetchRequest) ([]*Job, error)

	// Finish records the outcome of attempts. An outcome whose job is no longer active
	// under that worker and attempt (deleted, or recovered after its lease ran out) is
	// ignored. An active job whose cancellation was requested becomes canceled whatever
	// its outcome. Processed and failed counters are updated in the same step. A snoozed
	// outcome (Outcome.Snooze) gives the attempt back and changes no counter.
	Finish(ctx context.Context, outcomes []Outcome) error

	// Requeue puts active jobs of a worker that is shutting down back at the front of their
	// queue as pending, and gives back the attempt they had started.
	Requeue(ctx context.Context, workerID string, jobs []*Job) error

	// Heartbeat records the worker as alive (with its current jobs), extends the leases of
	// those jobs to now+lease, and returns the IDs among them whose cancellation was
	// requested.
	Heartbeat(ctx context.Context, w WorkerInfo, lease time.Duration) (cancel []string, err error)
	// RemoveWorker deletes the worker's record when it stops.
	RemoveWorker(ctx context.Context, workerID string) error

	// Get returns the job with that ID, or ErrJobNotFound.
	Get(ctx context.Context, id string) (*Job, error)
	// Cancel cancels a pending, scheduled, retry or waiting job at once (state canceled) and flags an
	// active job so that its worker cancels its context. It returns the job's state after
	// the call; ErrJobNotFound, or ErrInvalidState for a job already finished.
	Cancel(ctx context.Context, id string) (State, error)
	// CancelAll cancels every job of the queue in state (pending, scheduled, retry or waiting;
	// ErrInvalidState for any other state) as Cancel does, each canceled with its finished
	// time and kept for its result TTL, its unique key released, and returns how many. For
	// waiting, every job waiting at the call is canceled and counted, also those that the
	// cancellation of their parent in the same call canceled or released first.
	CancelAll(ctx context.Context, queue string, state State) (int, error)
	// Retry moves a dead or canceled job (or a retry/scheduled job, to run it now) back to
	// pending with its attempt count reset. ErrInvalidState for any other state.
	Retry(ctx context.Context, id string) error
	// RetryAll moves every dead job of a queue back to pending and returns how many.
	RetryAll(ctx context.Context, queue string, state State) (int, error)
	// Delete removes a job that is not active. ErrInvalidState for an active job.
	Delete(ctx context.Context, id string) error
	// DeleteAll removes every job of the queue in that state (not active) and returns how many.
	DeleteAll(ctx context.Context, queue string, state State) (int, error)

	// Pause stops workers from fetching the queue's jobs; Resume lets them again.
	Pause(ctx context.Context, queue string) error
	Resume(ctx context.Context, queue string) error
	// SetLimits stores the queue's limits (checked by the caller; the zero QueueLimits
	// removes them), creating the queue if need be; Fetch applies them from its next call.
	// Fetch does not start a job over a limit, and a job held back by its key's limit does
	// not hold back the jobs of other keys behind it. A job over a limit is not an attempt.
	SetLimits(ctx context.Context, queue string, l QueueLimits) error
	// Limits returns the queue's limits (zero when none).
	Limits(ctx context.Context, queue string) (QueueLimits, error)
	// RemoveQueue deletes the queue and every job, counter and key it has.
	RemoveQueue(ctx context.Context, queue string) error

	// Queues returns the statistics of every queue that has ever had a job, sorted by name.
	Queues(ctx context.Context) ([]QueueStats, error)
	// List returns jobs of a queue in a state, oldest first, skipping offset and returning
	// at most limit. It never reads more jobs than it returns.
	List(ctx context.Context, queue string, state State, offset, limit int) ([]*Job, error)
	// Workers returns the workers whose heartbeat is recent, sorted by ID.
	Workers(ctx context.Context) ([]WorkerInfo, error)

	// ScheduleStore keeps the state of cron schedules (enabled, last tick), so that every
	// scheduler process sees the same.
	ScheduleStore
	// HistoryStore keeps the recent history of the queues' totals (workers record it,
	// dashboards show it).
	HistoryStore
	// EventStore records jobs' progress and delivers their events.
	EventStore
	// BatchStore keeps batches of jobs and enqueues their callbacks.
	BatchStore

	// Ping checks that the broker is reachable.
	Ping(ctx context.Context) error
	// Close releases the broker's connections.
	Close() error
}

// FetchRequest is what a worker asks of Broker.Fetch.
type FetchRequest struct {
	WorkerID string
	Queues   []string      // in the order to serve them
	Max      int           // at most this many jobs
	Lease    time.Duration // how long the lease lasts before it must be extended
	Wait     time.Duration // how long to wait when nothing is available
}

// Outcome is the result of one attempt, as the worker reports it.
type Outcome struct {
	JobID    string
	Queue    string
	WorkerID string
	Attempt  int
	// State is StateCompleted, StateRetry (with RetryAt) or StateDead.
	State   State
	RetryAt time.Time
	// Snooze (with StateRetry) says the attempt does not count (its handler returned an
	// Unavailable error): the job waits until RetryAt with its attempt given back, and
	// neither an error nor the queue's processed and failed counters are recorded.
	Snooze bool
	Result json.RawMessage
	// Error is set for StateRetry and StateDead.
	Error *AttemptError
	// FinishedAt is when the handler returned.
	FinishedAt time.Time
}

// QueueStats is a queue's number of jobs in each state and its counters.
type QueueStats struct {
	Name      string `json:"name"`
	Pending   int64  `json:"pending"`
	Active    int64  `json:"active"`
	Scheduled int64  `json:"scheduled"`
	Retry     int64  `json:"retry"`
	Dead      int64  `json:"dead"`
	Completed int64  `json:"completed"`
	Canceled  int64  `json:"canceled"`
	// Waiting counts the jobs waiting for their parents (DependsOn).
	Waiting int64 `json:"waiting"`
	// Processed counts finished attempts, successful or not; Failed counts failed attempts.
	Processed int64 `json:"processed"`
	Failed    int64 `json:"failed"`
	Paused    bool  `json:"paused"`
	// PendingByPriority counts the pending jobs of each priority that has any (nil when
	// none is pending).
	PendingByPriority map[int]int64 `json:"pending_by_priority,omitempty"`
	// Limits are the queue's limits (nil when none).
	Limits *QueueLimits `json:"limits,omitempty"`
	// OldestPending is when the oldest pending job was enqueued (zero when none).
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// Count returns the number of jobs in state st.
func (s QueueStats) Count(st State) int64 {
	switch st {
	case StatePending:
		return s.Pending
	case StateActive:
		return s.Active
	case StateScheduled:
		return s.Scheduled
	case StateRetry:
		return s.Retry
	case StateDead:
		return s.Dead
	case StateCompleted:
		return s.Completed
	case StateCanceled:
		return s.Canceled
	case StateWaiting:
		return s.Waiting
	}
	return 0
}

// WorkerInfo describes a live worker process.
type WorkerInfo struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Queues      []string  `json:"queues"`
	Concurrency int       `json:"concurrency"`
	StartedAt   time.Time `json:"started_at"`
	Heartbeat   time.Time `json:"last_heartbeat"`
	// Types are the job types it has handlers for, sorted.
	Types []string `json:"types"`
	// Jobs are the IDs of the jobs it is running now, and of those whose outcome it has not
	// yet got recorded (their leases are extended until it is).
	Jobs      []string `json:"jobs"`
	Processed int64    `json:"processed"`
	Failed    int64    `json:"failed"`
}

// Errors returned by brokers, Client and Worker. Test them with errors.Is.
var (
	ErrJobNotFound     = errors.New("job not found")
	ErrDuplicateJob    = errors.New("a job with this id already exists")
	ErrDuplicateUnique = errors.New("a job with this unique key already exists")
	ErrInvalidState    = errors.New("job is not in a state that allows this")
	ErrQueueNotFound   = errors.New("queue not found")
)
