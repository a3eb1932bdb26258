package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// State is where a job is in its life. The transitions are:
//
//	waiting ──(every parent completed)──┐
//	scheduled ──(run-at reached)──► pending ──(fetched)──► active ──► completed
//	                                   ▲                     │
//	retry ◄──(failed, retries left)────┼─────────────────────┤
//	  └──(backoff elapsed)─────────────┘                     ├──► dead     (retries exhausted, or NoRetry)
//	                                                         └──► canceled (Cancel while active)
//
// A job enqueued with DependsOn is waiting until its parents complete (a parent that ends dead
// or canceled cancels it, unless it runs anyway: RunOnParentFailure).
// A pending, scheduled, waiting or retry job can be canceled directly; a dead or canceled job can be
// retried (it goes back to pending). An active job whose lease runs out (its worker died) goes
// back to pending, or to dead when that was its last attempt.
type State string

const (
	StateScheduled State = "scheduled"
	// StateWaiting: the job waits for its parents (DependsOn) to complete.
	StateWaiting   State = "waiting"
	StatePending   State = "pending"
	StateActive    State = "active"
	StateRetry     State = "retry"
	StateCompleted State = "completed"
	StateDead      State = "dead"
	StateCanceled  State = "canceled"
)

// States lists every state in the order the command line and the dashboard show them.
var States = []State{StatePending, StateActive, StateScheduled, StateWaiting, StateRetry, StateDead, StateCompleted, StateCanceled}

// ParseState returns the State named s, or an error listing the valid names.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown job state %q (valid: pending, active, scheduled, waiting, retry, dead, completed, canceled)", s)
}

// Job is one unit of work and everything recorded about it. Its JSON form (MarshalJSON) gives
// durations as whole milliseconds in fields ending in _ms, as the HTTP API does.
type Job struct {
	ID      string          `json:"id"`
	Queue   string          `json:"queue"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	State   State           `json:"state"`

	// Attempt counts the runs started so far: 1 during the first run.
	Attempt    int           `json:"attempt"`
	MaxRetries int           `json:"max_retries"`
	Timeout    time.Duration `json:"-"` // JSON: timeout_ms
	// RunAt is when a scheduled or retrying job becomes pending.
	RunAt time.Time `json:"run_at,omitzero"`
	// Priority orders the pending jobs of a queue: higher runs first, FIFO within a priority,
	// from MinPriority to MaxPriority; DefaultPriority (0, the zero value) is in the middle.
	Priority int `json:"priority"`
	// Deadline, when set, is when the job must be finished by: a job not finished by then is
	// not started again and ends dead with the error "deadline exceeded", and a running
	// job's context ends at the deadline (or its timeout, whichever is first).
	Deadline  time.Time     `json:"deadline,omitzero"`
	UniqueKey string        `json:"unique_key,omitempty"`
	UniqueFor time.Duration `json:"-"` // JSON: unique_ttl_ms
	ResultTTL time.Duration `json:"-"` // JSON: result_ttl_ms
	// Metadata is small key–value data that travels with the job and is not its input: the
	// trace context of the request that enqueued it (traceparent), for instance. Set it with
	// WithMetadata or an EnqueueMiddleware.
	Metadata map[string]string `json:"metadata,omitempty"`
	// RateKey puts the job under its queue's limits for that key (see QueueLimits, RateKey).
	RateKey string `json:"rate_key,omitempty"`
	// DependsOn are the IDs of the jobs this one waits for (see DependsOn); the job is
	// waiting until every one of them has completed.
	DependsOn []string `json:"depends_on,omitempty"`
	// RunOnParentFailure: a parent that ends dead or canceled counts as finished for this job
	// instead of canceling it (see RunOnParentFailure).
	RunOnParentFailure bool `json:"run_on_parent_failure,omitempty"`
	// Batch is the ID of the batch the job belongs to (see InBatch), empty when none.
	Batch string `json:"batch,omitempty"`

	Result json.RawMessage `json:"result,omitempty"`
	// Errors holds one entry per failed attempt, oldest first.
	Errors []AttemptError `json:"errors,omitempty"`

	EnqueuedAt time.Time `json:"enqueued_at,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// RetriedAt is when Retry or RetryAll last sent the job back to pending (zero if never).
	RetriedAt time.Time `json:"retried_at,omitzero"`
	// WorkerID is the worker that ran (or is running) the latest attempt.
	WorkerID string `json:"worker_id,omitempty"`
	// CancelRequested is set when Cancel was called while the job was active.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Progress is the latest progress the job's handler reported (ReportProgress), in this
	// attempt or an earlier one; nil when none was.
	Progress *Progress `json:"progress,omitempty"`
}

// AttemptError is the record of one failed attempt.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
	Stack   string    `json:"stack,omitempty"`
	At      time.Time `json:"at"`
}

// Decode unmarshals the job's payload into v. A payload that does not decode is a permanent
// failure: the returned error is marked NoRetry, so a handler can return it as it is.
func (j *Job) Decode(v any) error {
	if len(j.Payload) == 0 {
		return NoRetry(fmt.Errorf("job %s (%s): empty payload", j.ID, j.Type))
	}
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return NoRetry(fmt.Errorf("job %s (%s): decode payload: %w", j.ID, j.Type, err))
	}
	return nil
}

// Defaults applied by the Client when an option is not given.
const (
	DefaultQueue      = "default"
	DefaultMaxRetries = 3
	DefaultResultTTL  = 24 * time.Hour
	// MaxPayloadBytes bounds a job's payload; a larger one is refused at enqueue.
	MaxPayloadBytes = 1 << 20
	// MaxMetadataBytes bounds the total size of a job's metadata keys and values.
	MaxMetadataBytes = 4 << 10
)

// Priorities: a queue's pending jobs run highest priority first, FIFO within a priority. A
// job's priority is a whole number from MinPriority to MaxPriority; DefaultPriority, the
// middle, is what a job gets without the Priority option, so that a job can go ahead of the
// default (1 to 5) or behind it (-1 to -5). A job that comes back to pending (promoted after
// a delay or backoff, recovered after a lost lease, requeued at shutdown, retried) keeps its
// priority; requeued and recovered jobs go to the front of their priority.
const (
	MinPriority     = -5
	DefaultPriority = 0
	MaxPriority     = 5
)

// ErrDeadlineExceeded is the error recorded for a job that went dead because its Deadline
// passed before it finished.
var ErrDeadlineExceeded = errors.New("deadline exceeded")
