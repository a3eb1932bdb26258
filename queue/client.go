package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Client enqueues jobs and inspects and steers queues. It is safe for concurrent use.
type Client struct {
	broker  Broker
	mw      []EnqueueMiddleware
	enqueue EnqueueFunc // the broker's Enqueue wrapped in mw
}

// NewClient returns a Client on broker.
func NewClient(broker Broker, opts ...ClientOption) *Client {
	c := &Client{broker: broker}
	if broker != nil {
		c.enqueue = broker.Enqueue
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Broker returns the broker the client works on.
func (c *Client) Broker() Broker { return c.broker }

// Option sets one property of a job at enqueue.
type Option func(*Job)

// OnQueue puts the job on queue name (default "default").
func OnQueue(name string) Option { return func(j *Job) { j.Queue = name } }

// MaxRetries sets how many times a failed job is retried (default 3): it runs at most n+1 times.
func MaxRetries(n int) Option { return func(j *Job) { j.MaxRetries = n } }

// Timeout bounds one attempt: the handler's context is canceled after d.
func Timeout(d time.Duration) Option { return func(j *Job) { j.Timeout = d } }

// Priority sets the job's priority within its queue, from MinPriority to MaxPriority (higher
// runs first; default DefaultPriority, 0). Priorities order jobs inside one queue; across
// queues the worker's strict or weighted queue selection applies as before.
func Priority(p int) Option { return func(j *Job) { j.Priority = p } }

// Deadline sets when the job must be finished by: a job that has not finished by t is not
// started again and ends dead with the error "deadline exceeded" (see Job.Deadline).
func Deadline(t time.Time) Option { return func(j *Job) { j.Deadline = t } }

// DeadlineIn sets the job's deadline d after its enqueue (see Deadline): for a schedule's jobs,
// each within d of its tick.
func DeadlineIn(d time.Duration) Option {
	return func(j *Job) { j.Deadline = time.Now().Add(d) }
}

// RunAt delays the job until t (state scheduled until then).
func RunAt(t time.Time) Option { return func(j *Job) { j.RunAt = t } }

// RunIn delays the job by d.
func RunIn(d time.Duration) Option {
	return func(j *Job) { j.RunAt = time.Now().Add(d) }
}

// WithID gives the job its ID instead of a generated one; a second enqueue with the same ID is
// refused with ErrDuplicateJob while the first job exists.
func WithID(id string) Option { return func(j *Job) { j.ID = id } }

// Unique refuses, with ErrDuplicateUnique, a second job with the same key on the same queue for
// d after the enqueue or until the first job finishes (completed, dead or canceled) or is
// deleted, whichever comes first. An empty key means the job's type and payload.
func Unique(key string, d time.Duration) Option {
	return func(j *Job) {
		j.UniqueKey = key
		if key == "" {
			j.UniqueKey = j.Type + ":" + string(j.Payload)
		}
		j.UniqueFor = d
	}
}

// WithMetadata sets one metadata entry of the job (see Job.Metadata).
func WithMetadata(key, value string) Option {
	return func(j *Job) {
		if j.Metadata == nil {
			j.Metadata = make(map[string]string, 1)
		}
		j.Metadata[key] = value
	}
}

// ResultTTL keeps a completed or canceled job, and its result, for d (default 24 h).
func ResultTTL(d time.Duration) Option { return func(j *Job) { j.ResultTTL = d } }

// Request is one job to enqueue with EnqueueMany.
type Request struct {
	Type    string
	Payload any
	Options []Option
}

// Enqueue stores one job of type typ with payload (marshaled as JSON; a json.RawMessage or
// []byte is taken as it is) and returns it. It costs one round trip to the broker.
func (c *Client) Enqueue(ctx context.Context, typ string, payload any, opts ...Option) (*Job, error) {
	return c.enqueueOne(ctx, c.enqueue, typ, payload, opts)
}

// EnqueueVia is Enqueue with the job stored by store, through the client's middleware,
// instead of by the broker's Enqueue: store is, for instance, the Enqueue of a transaction
// that also holds the caller's own writes (sqlitebroker.Tx), so that the job and those
// writes commit together. Give it a ctx from InTransaction(ctx, tx), so that what the
// middleware records of the job (a count of enqueued jobs) waits for the commit.
func (c *Client) EnqueueVia(ctx context.Context, store EnqueueFunc, typ string, payload any, opts ...Option) (*Job, error) {
	return c.enqueueOne(ctx, wrap(store, c.mw), typ, payload, opts)
}

// enqueueOne builds one job and stores it with enqueue.
func (c *Client) enqueueOne(ctx context.Context, enqueue EnqueueFunc, typ string, payload any, opts []Option) (*Job, error) {
	job, err := c.build(typ, payload, opts)
	if err != nil {
		return nil, err
	}
	errs, err := enqueue(ctx, []*Job{job})
	if err != nil {
		return nil, fmt.Errorf("enqueue %s on queue %s: %w", typ, job.Queue, err)
	}
	if errs[0] != nil {
		return nil, fmt.Errorf("enqueue %s (id %s) on queue %s: %w", typ, job.ID, job.Queue, errs[0])
	}
	return job, nil
}

// EnqueueMany stores many jobs in few round trips. It returns the jobs and one error per job
// (nil when that job was stored); the error is for a failure of the whole call, in which case
// any subset of the jobs may have been stored.
func (c *Client) EnqueueMany(ctx context.Context, reqs []Request) ([]*Job, []error, error) {
	built := make([]Job, len(reqs)) // one allocation for every job
	jobs := make([]*Job, len(reqs))
	ids := &idSource{batch: len(reqs)}
	for i, r := range reqs {
		jobs[i] = &built[i]
		if err := c.fill(jobs[i], ids, r.Type, r.Payload, r.Options); err != nil {
			return nil, nil, fmt.Errorf("enqueue many: job %d: %w", i, err)
		}
	}
	order, err := parentsFirst(jobs)
	if err != nil {
		return nil, nil, fmt.Errorf("enqueue many: %w", err)
	}
	if order == nil { // no job has parents: the broker takes them as they are
		errs, err := c.enqueue(ctx, jobs)
		if err != nil {
			return nil, nil, fmt.Errorf("enqueue %d jobs: %w", len(jobs), err)
		}
		return jobs, errs, nil
	}
	sorted := make([]*Job, len(jobs))
	for k, i := range order {
		sorted[k] = jobs[i]
	}
	got, err := c.enqueue(ctx, sorted)
	if err != nil {
		return nil, nil, fmt.Errorf("enqueue %d jobs: %w", len(jobs), err)
	}
	errs := make([]error, len(jobs))
	for k, i := range order {
		errs[i] = got[k]
	}
	return jobs, errs, nil
}

// ErrInvalidJob is wrapped by the errors of jobs refused before they reach the broker.
var ErrInvalidJob = errors.New("invalid job")

// build returns the job of type typ with payload and opts, validated.
func (c *Client) build(typ string, payload any, opts []Option) (*Job, error) {
	job := new(Job)
	if err := c.fill(job, nil, typ, payload, opts); err != nil {
		return nil, err
	}
	return job, nil
}

// fill makes *job the job of type typ with payload and opts, validated; ids gives it its ID
// unless an option did (nil: NewID).
func (c *Client) fill(job *Job, ids *idSource, typ string, payload any, opts []Option) error {
	if typ == "" {
		return fmt.Errorf("%w: empty job type", ErrInvalidJob)
	}
	raw, err := marshalPayload(payload)
	if err != nil {
		return fmt.Errorf("%w: %s payload: %w", ErrInvalidJob, typ, err)
	}
	now := time.Now()
	*job = Job{
		Type: typ, Payload: raw, Queue: DefaultQueue, MaxRetries: DefaultMaxRetries,
		ResultTTL: DefaultResultTTL, EnqueuedAt: now,
	}
	for _, opt := range opts {
		opt(job)
	}
	switch {
	case job.ID != "":
	case ids != nil:
		job.ID = ids.next(now)
	default:
		job.ID = NewID()
	}
	return c.validate(job, now)
}

func (c *Client) validate(job *Job, now time.Time) error {
	if err := CheckQueueName(job.Queue); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJob, err)
	}
	switch {
	case len(job.ID) > 200 || !validName(job.ID):
		return fmt.Errorf("%w: job id %q: use at most 200 letters, digits, '.', '_', '-' or ':'", ErrInvalidJob, job.ID)
	case job.MaxRetries < 0:
		return fmt.Errorf("%w: max retries %d is negative", ErrInvalidJob, job.MaxRetries)
	case job.Timeout < 0:
		return fmt.Errorf("%w: timeout %s is negative", ErrInvalidJob, job.Timeout)
	case job.Priority < MinPriority || job.Priority > MaxPriority:
		return fmt.Errorf("%w: priority %d is out of range (%d to %d)", ErrInvalidJob, job.Priority, MinPriority, MaxPriority)
	case !job.Deadline.IsZero() && job.RunAt.After(job.Deadline):
		return fmt.Errorf("%w: run-at %s is after the deadline %s", ErrInvalidJob, job.RunAt.Format(time.RFC3339Nano), job.Deadline.Format(time.RFC3339Nano))
	case len(job.Payload) > MaxPayloadBytes:
		return fmt.Errorf("%w: payload of %d bytes is over the %d-byte limit", ErrInvalidJob, len(job.Payload), MaxPayloadBytes)
	case CheckRateKey(job.RateKey) != nil:
		return fmt.Errorf("%w: rate key %w", ErrInvalidJob, CheckRateKey(job.RateKey))
	case metadataSize(job.Metadata) > MaxMetadataBytes:
		return fmt.Errorf("%w: metadata of %d bytes is over the %d-byte limit", ErrInvalidJob, metadataSize(job.Metadata), MaxMetadataBytes)
	case job.Batch != "" && (len(job.Batch) > 200 || !validName(job.Batch)):
		return fmt.Errorf("%w: batch id %q: use at most 200 letters, digits, '.', '_', '-' or ':'", ErrInvalidJob, job.Batch)
	}
	if err := checkParents(job); err != nil {
		return err
	}
	job.State = StatePending
	if job.RunAt.After(now) {
		job.State = StateScheduled
	} else {
		job.RunAt = time.Time{}
	}
	return nil
}

func metadataSize(md map[string]string) int {
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	return n
}

// MaxQueueName is the length of the longest queue name, in bytes.
const MaxQueueName = 100

// CheckQueueName says what is wrong with name as a queue name, or returns nil: a queue name
// is 1 to MaxQueueName letters, digits, '.', '_', '-' or ':'. Every queue name Dominion
// accepts (enqueue, schedules, a worker's --queues) is checked here.
func CheckQueueName(name string) error {
	switch {
	case name == "":
		return errors.New("empty queue name")
	case len(name) > MaxQueueName || !validName(name):
		return fmt.Errorf("queue name %q: use at most 100 letters, digits, '.', '_', '-' or ':'", name)
	}
	return nil
}

// validName reports whether s has only letters, digits, '.', '_', '-' and ':'.
func validName(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '_' || r == '-' || r == ':'
		if !ok {
			return false
		}
	}
	return true
}

func marshalPayload(payload any) (json.RawMessage, error) {
	switch p := payload.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if len(p) > 0 && !json.Valid(p) {
			return nil, errors.New("not valid JSON")
		}
		return p, nil
	case []byte:
		if len(p) > 0 && !json.Valid(p) {
			return nil, errors.New("not valid JSON")
		}
		return p, nil
	}
	return json.Marshal(payload)
}

// Get returns the job with that ID, or an error wrapping ErrJobNotFound.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	job, err := c.broker.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	return job, nil
}

// Cancel cancels a pending, scheduled, retrying or waiting job at once; a running job's context is
// canceled, and the job ends canceled when its handler returns. It returns the state after the
// call (canceled, or active while the running handler stops).
func (c *Client) Cancel(ctx context.Context, id string) (State, error) {
	st, err := c.broker.Cancel(ctx, id)
	if err != nil {
		return st, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return st, nil
}

// CancelAll cancels every job of queue in state (pending, scheduled, retry or waiting) at once and
// returns how many. Running jobs are not touched: cancel them one by one with Cancel.
func (c *Client) CancelAll(ctx context.Context, queue string, state State) (int, error) {
	n, err := c.broker.CancelAll(ctx, queue, state)
	if err != nil {
		return n, fmt.Errorf("cancel all %s jobs of queue %s: %w", state, queue, err)
	}
	return n, nil
}

// Retry sends a dead, canceled, retrying or scheduled job back to pending, to run now with its
// attempts reset.
func (c *Client) Retry(ctx context.Context, id string) error {
	if err := c.broker.Retry(ctx, id); err != nil {
		return fmt.Errorf("retry job %s: %w", id, err)
	}
	return nil
}

// RetryAll sends every job of queue in state (dead, canceled or retry) back to pending and
// returns how many.
func (c *Client) RetryAll(ctx context.Context, queue string, state State) (int, error) {
	n, err := c.broker.RetryAll(ctx, queue, state)
	if err != nil {
		return n, fmt.Errorf("retry all %s jobs of queue %s: %w", state, queue, err)
	}
	return n, nil
}

// Delete removes a job that is not running.
func (c *Client) Delete(ctx context.Context, id string) error {
	if err := c.broker.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

// DeleteAll removes every job of queue in state (any state but active) and returns how many.
func (c *Client) DeleteAll(ctx context.Context, queue string, state State) (int, error) {
	n, err := c.broker.DeleteAll(ctx, queue, state)
	if err != nil {
		return n, fmt.Errorf("delete all %s jobs of queue %s: %w", state, queue, err)
	}
	return n, nil
}

// RemoveQueue deletes queue and every job, counter and key it has. Jobs running at that
// moment finish, but their outcome is not recorded.
func (c *Client) RemoveQueue(ctx context.Context, queue string) error {
	if err := c.broker.RemoveQueue(ctx, queue); err != nil {
		return fmt.Errorf("remove queue %s: %w", queue, err)
	}
	return nil
}

// Pause stops workers from starting jobs of queue; running jobs finish. A queue that does
// not exist (has never had a job) is refused with an error wrapping ErrQueueNotFound that
// names the queues there are, so that a misspelled name creates no phantom queue.
func (c *Client) Pause(ctx context.Context, queue string) error {
	if err := c.broker.Pause(ctx, queue); err != nil {
		return c.queueError(ctx, "pause", queue, err)
	}
	return nil
}

// Resume lets workers start jobs of a paused queue again. A queue that does not exist is
// refused as Pause refuses it.
func (c *Client) Resume(ctx context.Context, queue string) error {
	if err := c.broker.Resume(ctx, queue); err != nil {
		return c.queueError(ctx, "resume", queue, err)
	}
	return nil
}

// Queue returns the statistics of the queue name, or an error wrapping ErrQueueNotFound that
// names the queues there are.
func (c *Client) Queue(ctx context.Context, name string) (QueueStats, error) {
	qs, err := c.Queues(ctx)
	if err != nil {
		return QueueStats{}, err
	}
	for _, q := range qs {
		if q.Name == name {
			return q, nil
		}
	}
	return QueueStats{}, unknownQueue(name, qs)
}

// queueError wraps the error of action (pause, resume) on queue q; an unknown queue's error
// names the queues there are.
func (c *Client) queueError(ctx context.Context, action, q string, err error) error {
	if !errors.Is(err, ErrQueueNotFound) {
		return fmt.Errorf("%s queue %s: %w", action, q, err)
	}
	qs, _ := c.broker.Queues(ctx) // best effort: only to name the queues there are
	return fmt.Errorf("%s: %w", action, unknownQueue(q, qs))
}

// unknownQueue is the error for a queue name that is not among qs.
func unknownQueue(name string, qs []QueueStats) error {
	known := "there are none"
	if len(qs) > 0 {
		names := make([]string, len(qs))
		for i, q := range qs {
			names[i] = q.Name
		}
		known = "there are: " + strings.Join(names, ", ")
	}
	return fmt.Errorf("%w: %q (%s)", ErrQueueNotFound, name, known)
}

// SetLimits stores the limits of queue in the broker, so that every worker applies them from
// its next fetch; the zero QueueLimits removes them. A queue that has never had a job is
// created, so that its limits are set before its first job.
func (c *Client) SetLimits(ctx context.Context, queue string, l QueueLimits) error {
	if err := CheckQueueName(queue); err != nil {
		return fmt.Errorf("set limits of queue %s: %w", queue, err)
	}
	if err := l.Check(); err != nil {
		return fmt.Errorf("set limits of queue %s: %w", queue, err)
	}
	if err := c.broker.SetLimits(ctx, queue, l); err != nil {
		return fmt.Errorf("set limits of queue %s: %w", queue, err)
	}
	return nil
}

// Limits returns the limits of queue (zero when it has none).
func (c *Client) Limits(ctx context.Context, queue string) (QueueLimits, error) {
	l, err := c.broker.Limits(ctx, queue)
	if err != nil {
		return l, fmt.Errorf("limits of queue %s: %w", queue, err)
	}
	return l, nil
}

// Queues returns every queue's counts per state, counters and paused flag.
func (c *Client) Queues(ctx context.Context) ([]QueueStats, error) {
	qs, err := c.broker.Queues(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue statistics: %w", err)
	}
	return qs, nil
}

// List returns at most limit jobs of queue in state, oldest first, after skipping offset.
func (c *Client) List(ctx context.Context, queue string, state State, offset, limit int) ([]*Job, error) {
	if offset < 0 || limit < 0 {
		return nil, fmt.Errorf("list %s jobs of queue %s: offset %d and limit %d must not be negative", state, queue, offset, limit)
	}
	jobs, err := c.broker.List(ctx, queue, state, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("list %s jobs of queue %s: %w", state, queue, err)
	}
	return jobs, nil
}

// Workers returns the live workers and the jobs each is running.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	ws, err := c.broker.Workers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return ws, nil
}
