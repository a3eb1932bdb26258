package jobtest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Broker is a queue.Broker that keeps everything in memory. It is safe for concurrent use.
// Make one with NewBroker.
type Broker struct {
	mu        sync.Mutex
	jobs      map[string]*entry
	queues    map[string]*queueInfo
	uniques   map[uniqueKey]uniqueHold
	workers   map[string]workerRecord
	schedules map[string]queue.ScheduleState
	history   []queue.Sample // oldest first, one per slot
	events    eventLog
	children  map[string][]string // parent ID → IDs of jobs waiting for it
	batches   map[string]*batch
	seq       uint64
	offset    time.Duration // added to the clock when deciding whether a run-at is due
	nextDue   time.Time     // earliest time housekeeping may have work; zero for none
	changed   chan struct{} // closed and replaced at every change a waiter may care about
	closed    bool
}

// entry is one stored job and what the broker keeps about it.
type entry struct {
	job    queue.Job
	seq    uint64    // insertion order among equal positions
	ord    int64     // position among its queue's pending jobs
	lease  time.Time // active: when the lease runs out
	waits  int       // waiting: parents not finished yet
	expire time.Time // completed or canceled: when the job is deleted
}

type queueInfo struct {
	pending           []*entry // sorted by (priority, highest first; ord; seq)
	paused            bool
	processed, failed int64
	limit             *limitState // nil: no limits
}

type uniqueKey struct{ queue, key string }

type uniqueHold struct {
	jobID   string
	expires time.Time // zero: held until the job finishes
}

type workerRecord struct {
	info    queue.WorkerInfo
	expires time.Time
}

var _ queue.Broker = (*Broker)(nil)

// errClosed is returned by every method of a closed Broker.
var errClosed = errors.New("jobtest: broker closed")

// NewBroker returns an empty in-memory broker.
func NewBroker() *Broker {
	return &Broker{
		jobs: map[string]*entry{}, queues: map[string]*queueInfo{}, uniques: map[uniqueKey]uniqueHold{},
		workers: map[string]workerRecord{}, schedules: map[string]queue.ScheduleState{},
		children: map[string][]string{}, batches: map[string]*batch{},
		changed: make(chan struct{}),
	}
}

// lock takes the broker's lock, or returns errClosed (unlocked) when it is closed.
func (b *Broker) lock() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	return nil
}

// broadcast wakes every waiting Fetch and WaitIdle. Call with b.mu held.
func (b *Broker) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// noteDue records that housekeeping has work at t (real time).
func (b *Broker) noteDue(t time.Time) {
	if b.nextDue.IsZero() || t.Before(b.nextDue) {
		b.nextDue = t
	}
}

// dueAt is the real time at which a run-at falls due, given the clock's offset.
func (b *Broker) dueAt(runAt time.Time) time.Time { return runAt.Add(-b.offset) }

func (b *Broker) queue(name string) *queueInfo {
	q := b.queues[name]
	if q == nil {
		q = &queueInfo{}
		b.queues[name] = q
	}
	return q
}

// Enqueue stores new jobs; a job whose ID exists, or whose unique key is held, is refused
// with ErrDuplicateJob or ErrDuplicateUnique and changes nothing.
func (b *Broker) Enqueue(ctx context.Context, jobs []*queue.Job) ([]error, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	now := time.Now()
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		errs[i] = b.insert(j, now)
	}
	b.broadcast()
	return errs, nil
}

func (b *Broker) insert(j *queue.Job, now time.Time) error {
	if _, ok := b.jobs[j.ID]; ok {
		return queue.ErrDuplicateJob
	}
	if err := b.checkGraph(j); err != nil {
		return err
	}
	if j.UniqueKey != "" {
		k := uniqueKey{j.Queue, j.UniqueKey}
		if h, ok := b.uniques[k]; ok && (h.expires.IsZero() || h.expires.After(now)) {
			return queue.ErrDuplicateUnique
		}
		h := uniqueHold{jobID: j.ID}
		if j.UniqueFor > 0 {
			h.expires = now.Add(j.UniqueFor)
		}
		b.uniques[k] = h
	}
	b.seq++
	e := &entry{job: *copyJob(j), seq: b.seq}
	if e.job.EnqueuedAt.IsZero() {
		e.job.EnqueuedAt = now
	}
	b.jobs[j.ID] = e
	q := b.queue(j.Queue)
	b.emit(e, queue.EventEnqueued, "")
	b.joinBatch(e)
	if b.wait(e, now) {
		j.State = e.job.State
		return nil
	}
	b.place(q, e, now)
	return nil
}

// place makes a new or released job scheduled (run-at ahead) or pending.
func (b *Broker) place(q *queueInfo, e *entry, now time.Time) {
	if e.job.RunAt.After(now.Add(b.offset)) {
		e.job.State = queue.StateScheduled
		b.noteDue(b.dueAt(e.job.RunAt))
		return
	}
	b.push(q, e, now.UnixNano())
}

// push makes e pending at position ord of its queue.
func (b *Broker) push(q *queueInfo, e *entry, ord int64) {
	e.job.State, e.ord = queue.StatePending, ord
	i, _ := slices.BinarySearchFunc(q.pending, e, comparePos)
	q.pending = slices.Insert(q.pending, i, e)
}

// front is the position (ord) before every pending job of q: the front of each priority.
func (q *queueInfo) front(now time.Time) int64 {
	front := now.UnixNano()
	for _, e := range q.pending {
		front = min(front, e.ord-1)
	}
	return front
}

func comparePos(a, b *entry) int {
	if c := cmp.Compare(b.job.Priority, a.job.Priority); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ord, b.ord); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// unpend removes a pending job from its queue's list.
func (b *Broker) unpend(e *entry) {
	q := b.queues[e.job.Queue]
	if q == nil {
		return
	}
	if i := slices.Index(q.pending, e); i >= 0 {
		q.pending = slices.Delete(q.pending, i, i+1)
	}
}

// finished moves e to a final state at t: completed and canceled jobs are kept for their
// result TTL, and the unique key is released.
func (b *Broker) finished(e *entry, st queue.State, t time.Time) {
	e.job.State, e.job.FinishedAt = st, t
	e.lease, e.expire = time.Time{}, time.Time{}
	if st == queue.StateCompleted || st == queue.StateCanceled {
		e.expire = t.Add(e.job.ResultTTL)
		b.noteDue(e.expire)
	}
	b.release(e)
	msg := ""
	if st == queue.StateDead {
		msg = lastError(&e.job)
	}
	b.emit(e, queue.EventKind(st), msg)
	b.ended(e, st, t)
}

// release frees the unique key e holds, if any.
func (b *Broker) release(e *entry) {
	if e.job.UniqueKey == "" {
		return
	}
	k := uniqueKey{e.job.Queue, e.job.UniqueKey}
	if h, ok := b.uniques[k]; ok && h.jobID == e.job.ID {
		delete(b.uniques, k)
	}
}

// remove deletes e from the broker; a job not finished counts as canceled for its batch and
// its dependents.
func (b *Broker) remove(e *entry) {
	if e.job.State == queue.StatePending {
		b.unpend(e)
	}
	b.release(e)
	delete(b.jobs, e.job.ID)
	if !final(e.job.State) {
		b.ended(e, "deleted", time.Now())
	}
}

// Get returns a copy of the job with that ID, or ErrJobNotFound.
func (b *Broker) Get(ctx context.Context, id string) (*queue.Job, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	e, ok := b.jobs[id]
	if !ok {
		return nil, fmt.Errorf("jobtest: get job %s: %w", id, queue.ErrJobNotFound)
	}
	return copyJob(&e.job), nil
}

// copyJob returns a copy of j that shares no memory with it.
func copyJob(j *queue.Job) *queue.Job {
	c := *j
	c.Payload = bytes.Clone(j.Payload)
	c.Result = bytes.Clone(j.Result)
	c.Errors = slices.Clone(j.Errors)
	c.Metadata = maps.Clone(j.Metadata)
	c.DependsOn = slices.Clone(j.DependsOn)
	return &c
}

// Ping reports whether the broker is open.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.lock(); err != nil {
		return err
	}
	b.mu.Unlock()
	return nil
}

// Close ends the broker: waiting calls return, and every later call fails.
func (b *Broker) Close() error {
	if err := b.lock(); err != nil {
		return nil
	}
	defer b.mu.Unlock()
	b.closed = true
	b.broadcast()
	return nil
}
