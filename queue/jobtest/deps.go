package jobtest

import (
	"context"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// batch is one batch's record.
type batch struct {
	status                queue.BatchStatus
	onComplete, onSuccess *queue.Job
}

// final reports whether st is a state a job does not leave by itself.
func final(st queue.State) bool {
	return st == queue.StateCompleted || st == queue.StateDead || st == queue.StateCanceled
}

// checkGraph refuses a job whose parent does not exist or whose batch is not open.
func (b *Broker) checkGraph(j *queue.Job) error {
	for _, p := range j.DependsOn {
		if _, ok := b.jobs[p]; !ok {
			return fmt.Errorf("%w: %s", queue.ErrParentNotFound, p)
		}
	}
	if j.Batch == "" {
		return nil
	}
	bt, ok := b.batches[j.Batch]
	switch {
	case !ok:
		return fmt.Errorf("%w: %s", queue.ErrBatchNotFound, j.Batch)
	case bt.status.Sealed:
		return fmt.Errorf("%w: %s", queue.ErrBatchSealed, j.Batch)
	}
	return nil
}

// joinBatch counts a new job in its batch.
func (b *Broker) joinBatch(e *entry) {
	if bt := b.batches[e.job.Batch]; bt != nil {
		bt.status.Total++
		bt.status.Pending++
	}
}

// wait makes a new job with parents waiting for those not finished, or canceled at once by
// one that failed; it reports whether the job is not runnable now.
func (b *Broker) wait(e *entry, now time.Time) bool {
	for _, p := range e.job.DependsOn {
		pe := b.jobs[p]
		switch st := pe.job.State; {
		case st == queue.StateCompleted:
		case final(st) && !e.job.RunOnParentFailure:
			b.cancelForParent(e, p, string(st), now)
			return true
		case final(st):
		default:
			e.waits++
			b.children[p] = append(b.children[p], e.job.ID)
		}
	}
	if e.waits == 0 {
		return false
	}
	e.job.State = queue.StateWaiting
	return true
}

// cancelForParent cancels e because its parent ended as how.
func (b *Broker) cancelForParent(e *entry, parent, how string, now time.Time) {
	e.waits = 0
	e.job.Errors = append(e.job.Errors, queue.AttemptError{Error: queue.ParentFailedError(parent, how), At: now})
	b.finished(e, queue.StateCanceled, now)
}

// ended settles the dependents and the batch of a job that ended as how (a final state, or
// "deleted").
func (b *Broker) ended(e *entry, how queue.State, now time.Time) {
	kids := b.children[e.job.ID]
	delete(b.children, e.job.ID)
	for _, id := range kids {
		c := b.jobs[id]
		if c == nil || c.job.State != queue.StateWaiting {
			continue
		}
		if how != queue.StateCompleted && !c.job.RunOnParentFailure {
			b.cancelForParent(c, e.job.ID, string(how), now)
			continue
		}
		if c.waits--; c.waits == 0 {
			b.place(b.queue(c.job.Queue), c, now)
			b.broadcast()
		}
	}
	b.batchCount(e.job.Batch, how, 1, now)
}

// batchCount adds n to the count of state st of batch id (a deleted job counts as
// canceled), and enqueues the callbacks of a sealed batch whose last job finished.
func (b *Broker) batchCount(id string, st queue.State, n int64, now time.Time) {
	bt := b.batches[id]
	if bt == nil {
		return
	}
	s := &bt.status
	switch st {
	case queue.StateCompleted:
		s.Completed += n
	case queue.StateDead:
		s.Dead += n
	default:
		s.Canceled += n
	}
	s.Pending -= n
	b.fire(bt, now)
}

// batchLeaves uncounts a job of a batch that leaves its final state (retried).
func (b *Broker) batchLeaves(e *entry) {
	if final(e.job.State) {
		b.batchCount(e.job.Batch, e.job.State, -1, time.Now())
	}
}

// fire enqueues the callbacks of bt if it is sealed, finished, and has not fired yet.
func (b *Broker) fire(bt *batch, now time.Time) {
	s := &bt.status
	if !s.Sealed || s.Pending > 0 || !s.FinishedAt.IsZero() {
		return
	}
	s.FinishedAt = now
	if bt.onComplete != nil {
		_ = b.insert(bt.onComplete, now) // its ID is new: generated at OpenBatch
	}
	if bt.onSuccess != nil && s.Dead+s.Canceled == 0 {
		_ = b.insert(bt.onSuccess, now)
	}
	b.broadcast()
}

// OpenBatch stores a new open batch.
func (b *Broker) OpenBatch(ctx context.Context, spec queue.BatchSpec) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if _, ok := b.batches[spec.ID]; ok {
		return fmt.Errorf("jobtest: open batch %s: %w", spec.ID, queue.ErrDuplicateBatch)
	}
	bt := &batch{status: queue.BatchStatus{ID: spec.ID, CreatedAt: spec.CreatedAt}}
	if spec.OnComplete != nil {
		bt.onComplete, bt.status.OnComplete = copyJob(spec.OnComplete), spec.OnComplete.ID
	}
	if spec.OnSuccess != nil {
		bt.onSuccess, bt.status.OnSuccess = copyJob(spec.OnSuccess), spec.OnSuccess.ID
	}
	b.batches[spec.ID] = bt
	return nil
}

// SealBatch closes the batch to new jobs, and enqueues its callbacks if it has finished.
func (b *Broker) SealBatch(ctx context.Context, id string) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	bt := b.batches[id]
	if bt == nil {
		return fmt.Errorf("jobtest: seal batch %s: %w", id, queue.ErrBatchNotFound)
	}
	bt.status.Sealed = true
	b.fire(bt, time.Now())
	return nil
}

// Batch returns the batch's status.
func (b *Broker) Batch(ctx context.Context, id string) (queue.BatchStatus, error) {
	if err := b.lock(); err != nil {
		return queue.BatchStatus{}, err
	}
	defer b.mu.Unlock()
	bt := b.batches[id]
	if bt == nil {
		return queue.BatchStatus{}, fmt.Errorf("jobtest: batch %s: %w", id, queue.ErrBatchNotFound)
	}
	return bt.status, nil
}
