package jobtest

import (
	"context"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Cancel cancels a pending, scheduled, retry or waiting job at once and flags an active one for its
// worker. It returns the job's state after the call.
func (b *Broker) Cancel(ctx context.Context, id string) (queue.State, error) {
	if err := b.lock(); err != nil {
		return "", err
	}
	defer b.mu.Unlock()
	e, ok := b.jobs[id]
	if !ok {
		return "", fmt.Errorf("jobtest: cancel job %s: %w", id, queue.ErrJobNotFound)
	}
	switch e.job.State {
	case queue.StatePending, queue.StateScheduled, queue.StateRetry, queue.StateWaiting:
		b.cancelNow(e, time.Now())
		return queue.StateCanceled, nil
	case queue.StateActive:
		e.job.CancelRequested = true
		return queue.StateActive, nil
	}
	return "", fmt.Errorf("jobtest: cancel job %s: %w: job is %s", id, queue.ErrInvalidState, e.job.State)
}

func (b *Broker) cancelNow(e *entry, now time.Time) {
	if e.job.State == queue.StatePending {
		b.unpend(e)
	}
	b.finished(e, queue.StateCanceled, now)
}

// CancelAll cancels every job of the queue in state st (pending, scheduled, retry or waiting) and
// returns how many.
func (b *Broker) CancelAll(ctx context.Context, q string, st queue.State) (int, error) {
	switch st {
	case queue.StatePending, queue.StateScheduled, queue.StateRetry, queue.StateWaiting:
	default:
		return 0, fmt.Errorf("jobtest: cancel %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	if st != queue.StateWaiting {
		return b.each(q, st, func(e *entry, now time.Time) { b.cancelNow(e, now) })
	}
	// A waiting job's cancellation cancels or releases others of them first: take them all,
	// then cancel those not canceled yet.
	if err := b.lock(); err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	var waiting []*entry
	for _, e := range b.jobs {
		if e.job.Queue == q && e.job.State == queue.StateWaiting {
			waiting = append(waiting, e)
		}
	}
	now := time.Now()
	for _, e := range waiting {
		if e.job.State != queue.StateCanceled {
			b.cancelNow(e, now)
		}
	}
	if len(waiting) > 0 {
		b.broadcast()
	}
	return len(waiting), nil
}

// each calls fn for every job of queue q in state st, under the lock, and returns how many.
func (b *Broker) each(q string, st queue.State, fn func(e *entry, now time.Time)) (int, error) {
	if err := b.lock(); err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	now := time.Now()
	n := 0
	for _, e := range b.jobs {
		if e.job.Queue == q && e.job.State == st {
			fn(e, now)
			n++
		}
	}
	if n > 0 {
		b.broadcast()
	}
	return n, nil
}

func retryable(st queue.State) bool {
	switch st {
	case queue.StateDead, queue.StateCanceled, queue.StateRetry, queue.StateScheduled:
		return true
	}
	return false
}

// Retry moves a dead, canceled, retry or scheduled job to the end of its queue as pending,
// with its attempt count reset and its error history kept.
func (b *Broker) Retry(ctx context.Context, id string) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	e, ok := b.jobs[id]
	if !ok {
		return fmt.Errorf("jobtest: retry job %s: %w", id, queue.ErrJobNotFound)
	}
	if !retryable(e.job.State) {
		return fmt.Errorf("jobtest: retry job %s: %w: job is %s", id, queue.ErrInvalidState, e.job.State)
	}
	b.retry(e, time.Now())
	b.broadcast()
	return nil
}

func (b *Broker) retry(e *entry, now time.Time) {
	j := &e.job
	j.Attempt, j.RunAt, j.FinishedAt, j.CancelRequested = 0, time.Time{}, time.Time{}, false
	j.RetriedAt = now
	e.expire = time.Time{}
	b.batchLeaves(e)
	b.push(b.queue(j.Queue), e, now.UnixNano())
	b.emit(e, queue.EventRetried, "")
}

// RetryAll moves every job of the queue in state st (dead, canceled, retry or scheduled)
// back to pending and returns how many.
func (b *Broker) RetryAll(ctx context.Context, q string, st queue.State) (int, error) {
	if !retryable(st) {
		return 0, fmt.Errorf("jobtest: retry %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	return b.each(q, st, b.retry)
}

// Delete removes a job that is not active.
func (b *Broker) Delete(ctx context.Context, id string) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	e, ok := b.jobs[id]
	if !ok {
		return fmt.Errorf("jobtest: delete job %s: %w", id, queue.ErrJobNotFound)
	}
	if e.job.State == queue.StateActive {
		return fmt.Errorf("jobtest: delete job %s: %w: job is active", id, queue.ErrInvalidState)
	}
	b.remove(e)
	return nil
}

// DeleteAll removes every job of the queue in state st (any state but active) and returns
// how many.
func (b *Broker) DeleteAll(ctx context.Context, q string, st queue.State) (int, error) {
	if _, err := queue.ParseState(string(st)); err != nil || st == queue.StateActive {
		return 0, fmt.Errorf("jobtest: delete %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	return b.each(q, st, func(e *entry, _ time.Time) { b.remove(e) })
}

// Pause stops Fetch from taking the queue's jobs. ErrQueueNotFound for a queue that has
// never had a job.
func (b *Broker) Pause(ctx context.Context, q string) error { return b.setPaused(q, true) }

// Resume lets Fetch take the queue's jobs again. ErrQueueNotFound as for Pause.
func (b *Broker) Resume(ctx context.Context, q string) error { return b.setPaused(q, false) }

func (b *Broker) setPaused(q string, paused bool) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	info := b.queues[q]
	if info == nil {
		return fmt.Errorf("jobtest: pause or resume queue %s: %w", q, queue.ErrQueueNotFound)
	}
	info.paused = paused
	b.broadcast()
	return nil
}

// RemoveQueue deletes the queue and every job, counter and unique key it has.
func (b *Broker) RemoveQueue(ctx context.Context, q string) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if _, ok := b.queues[q]; !ok {
		return fmt.Errorf("jobtest: remove queue %s: %w", q, queue.ErrQueueNotFound)
	}
	for id, e := range b.jobs {
		if e.job.Queue == q {
			delete(b.jobs, id)
		}
	}
	for k := range b.uniques {
		if k.queue == q {
			delete(b.uniques, k)
		}
	}
	delete(b.queues, q)
	b.broadcast()
	return nil
}
