package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors of batches. Test them with errors.Is.
var (
	ErrBatchNotFound  = errors.New("batch not found")
	ErrBatchSealed    = errors.New("batch is sealed: no job can be added")
	ErrDuplicateBatch = errors.New("a batch with this id already exists")
	// ErrUnsupported: the broker cannot do this (on Redis Cluster: a dependency on a job of
	// another queue, a batch with jobs or callbacks on another queue than its own).
	ErrUnsupported = errors.New("not supported by this broker")
)

// BatchStore keeps batches (part of Broker). A batch counts its jobs' final states in the
// same atomic step as each job's transition, and once it is sealed and every job has
// finished it enqueues its callbacks, in that same step, exactly once.
type BatchStore interface {
	// OpenBatch stores a new open batch (ErrDuplicateBatch when the ID exists).
	OpenBatch(ctx context.Context, b BatchSpec) error
	// SealBatch closes the batch to new jobs (sealing twice is allowed); when all its jobs
	// have finished already, its callbacks are enqueued in the same step. ErrBatchNotFound.
	SealBatch(ctx context.Context, id string) error
	// Batch returns the batch's status, or ErrBatchNotFound.
	Batch(ctx context.Context, id string) (BatchStatus, error)
}

// BatchSpec is a batch as OpenBatch gives it to the broker.
type BatchSpec struct {
	ID string
	// Queue is the queue the batch belongs to (empty: DefaultQueue): a broker may keep the
	// batch with that queue's data, and on Redis Cluster, which keeps each queue in one hash
	// slot, the batch's jobs and callbacks must be on that queue (ErrUnsupported otherwise).
	Queue string
	// OnComplete runs when every job of the sealed batch has finished (completed, dead or
	// canceled); OnSuccess when every one has completed. Nil: none. They are built as the
	// Client builds an enqueued job (state pending), and stored as they are until then.
	OnComplete, OnSuccess *Job
	CreatedAt             time.Time
	// Keep is how long the batch's record is kept after it finished.
	Keep time.Duration
}

// BatchStatus is what a batch counts. Pending counts the jobs not finished yet, whatever
// their state (pending, waiting, scheduled, active, retry).
type BatchStatus struct {
	ID        string `json:"id"`
	Sealed    bool   `json:"sealed"`
	Total     int64  `json:"total"`
	Pending   int64  `json:"pending"`
	Completed int64  `json:"completed"`
	Dead      int64  `json:"dead"`
	Canceled  int64  `json:"canceled"`
	// OnComplete and OnSuccess are the IDs of the callback jobs (empty when none); they
	// exist once the batch has finished (OnSuccess only if no job ended dead or canceled).
	OnComplete string    `json:"on_complete,omitempty"`
	OnSuccess  string    `json:"on_success,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// FinishedAt is when the batch, sealed, saw its last job finish (zero until then).
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Finished reports whether the batch is sealed and every job of it has finished.
func (s BatchStatus) Finished() bool { return !s.FinishedAt.IsZero() }

// BatchKeep is how long a finished batch's record is kept.
const BatchKeep = 7 * 24 * time.Hour

// BatchMetadataKey is the metadata key (Job.Metadata) that gives a callback job its batch ID.
const BatchMetadataKey = "batch"

// BatchOption sets one property of a batch at OpenBatch.
type BatchOption func(*batchOptions)

type batchOptions struct {
	id, queue             string
	onComplete, onSuccess *Request
}

// BatchID gives the batch its ID instead of a generated one.
func BatchID(id string) BatchOption { return func(o *batchOptions) { o.id = id } }

// BatchQueue names the queue the batch belongs to (BatchSpec.Queue). Without it, a batch of
// EnqueueBatch whose jobs are all on one queue belongs to that queue; any other batch to the
// queue of its OnComplete callback, else of its OnSuccess, else to DefaultQueue. On Redis
// Cluster its jobs and callbacks must be on that queue.
func BatchQueue(name string) BatchOption { return func(o *batchOptions) { o.queue = name } }

// OnComplete enqueues a job of type typ when every job of the sealed batch has finished,
// whatever the outcome. It is enqueued exactly once, in the same atomic step as the last
// job's outcome, with the batch's ID in its metadata (BatchMetadataKey).
func OnComplete(typ string, payload any, opts ...Option) BatchOption {
	return func(o *batchOptions) { o.onComplete = &Request{Type: typ, Payload: payload, Options: opts} }
}

// OnSuccess enqueues a job of type typ, as OnComplete does, when every job of the sealed
// batch has completed (none dead or canceled).
func OnSuccess(typ string, payload any, opts ...Option) BatchOption {
	return func(o *batchOptions) { o.onSuccess = &Request{Type: typ, Payload: payload, Options: opts} }
}

// InBatch adds the job to the open batch with that ID (ErrBatchNotFound, ErrBatchSealed).
func InBatch(id string) Option { return func(j *Job) { j.Batch = id } }

// OpenBatch stores a new open batch and returns its ID: add jobs to it with InBatch, then
// SealBatch it. Its callbacks run once it is sealed and all its jobs have finished.
func (c *Client) OpenBatch(ctx context.Context, opts ...BatchOption) (string, error) {
	var o batchOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.id == "" {
		o.id = NewID()
	}
	if len(o.id) > 200 || !validName(o.id) {
		return "", fmt.Errorf("open batch: %w: batch id %q: use at most 200 letters, digits, '.', '_', '-' or ':'", ErrInvalidJob, o.id)
	}
	spec := BatchSpec{ID: o.id, Queue: o.queue, CreatedAt: time.Now(), Keep: BatchKeep}
	var err error
	if spec.OnComplete, err = c.callback(o.id, o.onComplete); err != nil {
		return "", fmt.Errorf("open batch %s: on complete: %w", o.id, err)
	}
	if spec.OnSuccess, err = c.callback(o.id, o.onSuccess); err != nil {
		return "", fmt.Errorf("open batch %s: on success: %w", o.id, err)
	}
	if spec.Queue == "" {
		spec.Queue = DefaultQueue
		if cb := cmp.Or(spec.OnComplete, spec.OnSuccess); cb != nil {
			spec.Queue = cb.Queue
		}
	}
	if err := CheckQueueName(spec.Queue); err != nil {
		return "", fmt.Errorf("open batch %s: %w: %w", o.id, ErrInvalidJob, err)
	}
	if err := c.broker.OpenBatch(ctx, spec); err != nil {
		return "", fmt.Errorf("open batch %s: %w", o.id, err)
	}
	return o.id, nil
}

// callback builds the callback job of batch id (nil for none).
func (c *Client) callback(id string, r *Request) (*Job, error) {
	if r == nil {
		return nil, nil
	}
	job, err := c.build(r.Type, r.Payload, append(r.Options, WithMetadata(BatchMetadataKey, id)))
	switch {
	case err != nil:
		return nil, err
	case len(job.DependsOn) > 0 || job.Batch != "" || job.UniqueKey != "" || !job.Deadline.IsZero():
		return nil, fmt.Errorf("%w: a callback has no DependsOn, InBatch, Unique or Deadline", ErrInvalidJob)
	case job.State != StatePending:
		return nil, fmt.Errorf("%w: a callback runs when its batch finishes, not at a run-at", ErrInvalidJob)
	}
	return job, nil
}

// SealBatch closes the batch to new jobs; its callbacks run once all its jobs have finished
// (at once, in the same step, if they have already).
func (c *Client) SealBatch(ctx context.Context, id string) error {
	if err := c.broker.SealBatch(ctx, id); err != nil {
		return fmt.Errorf("seal batch %s: %w", id, err)
	}
	return nil
}

// EnqueueBatch opens a batch with opts, enqueues reqs in it and seals it, and returns the
// batch's ID with the jobs and their errors as EnqueueMany does. A failure before the seal
// leaves the batch open: seal it (or add the missing jobs) with its ID. When every request
// is on one queue, the batch belongs to it unless opts has BatchQueue.
func (c *Client) EnqueueBatch(ctx context.Context, reqs []Request, opts ...BatchOption) (string, []*Job, []error, error) {
	if q := sameQueue(reqs); q != "" {
		opts = append([]BatchOption{BatchQueue(q)}, opts...) // a BatchQueue given wins
	}
	id, err := c.OpenBatch(ctx, opts...)
	if err != nil {
		return "", nil, nil, err
	}
	in := make([]Request, len(reqs))
	for i, r := range reqs {
		in[i] = Request{Type: r.Type, Payload: r.Payload, Options: append(r.Options[:len(r.Options):len(r.Options)], InBatch(id))}
	}
	jobs, errs, err := c.EnqueueMany(ctx, in)
	if err != nil {
		return id, nil, nil, fmt.Errorf("batch %s: %w", id, err)
	}
	if err := c.SealBatch(ctx, id); err != nil {
		return id, jobs, errs, err
	}
	return id, jobs, errs, nil
}

// sameQueue returns the queue of every request when they are all on one, else "".
func sameQueue(reqs []Request) string {
	q := ""
	for _, r := range reqs {
		j := Job{Queue: DefaultQueue}
		for _, opt := range r.Options {
			opt(&j)
		}
		if q != "" && j.Queue != q {
			return ""
		}
		q = j.Queue
	}
	return q
}

// Batch returns the status of the batch with that ID, or an error wrapping ErrBatchNotFound.
func (c *Client) Batch(ctx context.Context, id string) (BatchStatus, error) {
	s, err := c.broker.Batch(ctx, id)
	if err != nil {
		return s, fmt.Errorf("batch %s: %w", id, err)
	}
	return s, nil
}
