package jobtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Fetch leases up to req.Max pending jobs from req.Queues in order, skipping paused queues,
// after making due delayed and retry jobs pending, recovering expired leases and deleting
// expired results. With nothing to take it waits for a change, the next due time or req.Wait.
func (b *Broker) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	if len(req.Queues) == 0 {
		return nil, errors.New("jobtest: fetch: no queues given")
	}
	req.Max = max(req.Max, 1)
	if req.Lease <= 0 {
		req.Lease = 10 * time.Second
	}
	deadline := time.Now().Add(req.Wait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err // a stopping worker must not lease jobs it will not run
		}
		if err := b.lock(); err != nil {
			return nil, err
		}
		now := time.Now()
		if b.housekeep(now) {
			b.broadcast()
		}
		jobs, slot := b.take(req, now)
		changed, next := b.changed, b.nextDue
		b.mu.Unlock()
		if len(jobs) > 0 || !now.Before(deadline) {
			return jobs, nil
		}
		until := deadline
		for _, t := range []time.Time{next, slot} {
			if !t.IsZero() && t.Before(until) {
				until = t
			}
		}
		if err := waitChange(ctx, changed, until.Sub(now)); err != nil {
			return nil, err
		}
	}
}

// waitChange waits until changed is closed, d has elapsed or ctx is done.
func waitChange(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// housekeep makes due scheduled and retry jobs pending, recovers active jobs whose lease ran
// out and deletes completed and canceled jobs past their result TTL. It scans the jobs only
// when something is due, and reports whether a job became pending.
func (b *Broker) housekeep(now time.Time) (promoted bool) {
	if b.nextDue.IsZero() || now.Before(b.nextDue) {
		return false
	}
	b.nextDue = time.Time{}
	for _, e := range b.jobs {
		switch e.job.State {
		case queue.StateScheduled, queue.StateRetry:
			due := b.dueAt(e.job.RunAt)
			if due.After(now) {
				b.noteDue(due)
				continue
			}
			b.push(b.queue(e.job.Queue), e, e.job.RunAt.UnixNano())
			promoted = true
		case queue.StateActive:
			if e.lease.After(now) {
				b.noteDue(e.lease)
				continue
			}
			b.recover(e, now)
			promoted = true
		case queue.StateCompleted, queue.StateCanceled:
			if e.expire.After(now) {
				b.noteDue(e.expire)
				continue
			}
			b.remove(e)
		}
	}
	return promoted
}

// recover ends the attempt of an active job whose worker stopped heartbeating: back to
// the front of pending (of its priority), or dead after its last attempt, or canceled when that was asked.
func (b *Broker) recover(e *entry, now time.Time) {
	j := &e.job
	j.Errors = append(j.Errors, queue.AttemptError{
		Attempt: j.Attempt, At: now,
		Error: "lease expired: worker " + j.WorkerID + " stopped heartbeating",
	})
	q := b.queue(j.Queue)
	q.processed++
	q.failed++
	switch {
	case j.CancelRequested:
		b.finished(e, queue.StateCanceled, now)
	case j.Attempt > j.MaxRetries:
		b.finished(e, queue.StateDead, now)
	default:
		e.lease = time.Time{}
		b.push(q, e, q.front(now))
		b.emit(e, queue.EventFailed, lastError(j))
	}
}

// take leases pending jobs of the request's queues, front of each queue first (highest
// priority first). A job whose deadline has passed goes dead instead, never started. It
// returns the jobs and when a job held back by a rate limit may start (zero: none).
func (b *Broker) take(req queue.FetchRequest, now time.Time) ([]*queue.Job, time.Time) {
	var jobs []*queue.Job
	var slot time.Time
	for _, name := range req.Queues {
		q := b.queues[name]
		if q == nil || q.paused {
			continue
		}
		if q.limit != nil {
			got, at := b.takeLimited(name, q, req, now, req.Max-len(jobs))
			jobs = append(jobs, got...)
			if !at.IsZero() && (slot.IsZero() || at.Before(slot)) {
				slot = at
			}
		} else {
			n := 0
			for _, e := range q.pending {
				if len(jobs) == req.Max {
					break
				}
				n++
				if !b.expired(e, now) {
					jobs = append(jobs, b.lease(e, req, now))
				}
			}
			q.pending = q.pending[n:]
		}
		if len(jobs) == req.Max {
			break
		}
	}
	return jobs, slot
}

// expired makes a pending job whose deadline has passed dead, never started, and reports
// whether it did.
func (b *Broker) expired(e *entry, now time.Time) bool {
	j := &e.job
	if j.Deadline.IsZero() || b.dueAt(j.Deadline).After(now) {
		return false
	}
	j.Errors = append(j.Errors, queue.AttemptError{Attempt: j.Attempt, Error: queue.ErrDeadlineExceeded.Error(), At: now})
	b.finished(e, queue.StateDead, now)
	return true
}

// lease makes pending job e active under the request's worker and returns a copy of it.
func (b *Broker) lease(e *entry, req queue.FetchRequest, now time.Time) *queue.Job {
	j := &e.job
	j.State, j.Attempt, j.StartedAt, j.FinishedAt, j.WorkerID = queue.StateActive, j.Attempt+1, now, time.Time{}, req.WorkerID
	e.lease = now.Add(req.Lease)
	b.noteDue(e.lease)
	b.emit(e, queue.EventStarted, "")
	return copyJob(j)
}

// Finish records the outcomes of attempts. An outcome whose job is no longer active under
// that worker and attempt is ignored; a job whose cancellation was requested ends canceled;
// a snoozed outcome gives its attempt back and counts nothing.
func (b *Broker) Finish(ctx context.Context, outcomes []queue.Outcome) error {
	for _, o := range outcomes {
		switch o.State {
		case queue.StateCompleted, queue.StateRetry, queue.StateDead:
		default:
			return fmt.Errorf("jobtest: finish job %s: outcome state %q (want completed, retry or dead)", o.JobID, o.State)
		}
	}
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	for _, o := range outcomes {
		e, ok := b.jobs[o.JobID]
		if ok && e.job.State == queue.StateActive && e.job.WorkerID == o.WorkerID && e.job.Attempt == o.Attempt {
			b.finish(e, o)
		}
	}
	b.broadcast()
	return nil
}

func (b *Broker) finish(e *entry, o queue.Outcome) {
	j := &e.job
	at := o.FinishedAt
	if at.IsZero() {
		at = time.Now()
	}
	snooze := o.Snooze && o.State == queue.StateRetry // the attempt does not count
	q := b.queue(j.Queue)
	if snooze {
		j.Attempt--
	} else {
		q.processed++
		if o.State != queue.StateCompleted {
			q.failed++
		}
	}
	if len(o.Result) > 0 {
		j.Result = append([]byte(nil), o.Result...)
	}
	msg := ""
	if o.Error != nil && !snooze {
		ae := *o.Error
		msg = ae.Error
		if ae.Attempt == 0 {
			ae.Attempt = o.Attempt
		}
		if ae.At.IsZero() {
			ae.At = at
		}
		j.Errors = append(j.Errors, ae)
	}
	switch {
	case j.CancelRequested:
		b.finished(e, queue.StateCanceled, at)
	case o.State == queue.StateRetry:
		j.State, j.FinishedAt, j.RunAt, e.lease = queue.StateRetry, at, o.RetryAt, time.Time{}
		b.noteDue(b.dueAt(o.RetryAt))
		b.emit(e, queue.EventFailed, msg)
	default:
		b.finished(e, o.State, at)
	}
}

// Requeue puts a stopping worker's active jobs back in front of their queues as pending and
// gives back the attempt they had started; a job whose cancellation was requested ends
// canceled instead.
func (b *Broker) Requeue(ctx context.Context, workerID string, jobs []*queue.Job) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	now := time.Now()
	for i := len(jobs) - 1; i >= 0; i-- { // last first: each goes in front
		e, ok := b.jobs[jobs[i].ID]
		if !ok || e.job.State != queue.StateActive || e.job.WorkerID != workerID || e.job.Attempt != jobs[i].Attempt {
			continue
		}
		e.job.Attempt--
		if e.job.CancelRequested {
			b.finished(e, queue.StateCanceled, now)
			continue
		}
		q := b.queue(e.job.Queue)
		e.lease, e.job.FinishedAt = time.Time{}, time.Time{}
		b.push(q, e, q.front(now))
		b.emit(e, queue.EventRetried, "")
	}
	b.broadcast()
	return nil
}

// Heartbeat records the worker as alive for twice the lease, extends the leases of its jobs
// and returns those whose cancellation was requested.
func (b *Broker) Heartbeat(ctx context.Context, w queue.WorkerInfo, lease time.Duration) ([]string, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	if lease <= 0 {
		lease = 10 * time.Second
	}
	now := time.Now()
	w.Heartbeat = now.UTC()
	w.Queues, w.Jobs = append([]string(nil), w.Queues...), append([]string(nil), w.Jobs...)
	b.workers[w.ID] = workerRecord{info: w, expires: now.Add(2 * lease)}
	var cancel []string
	for _, id := range w.Jobs {
		e, ok := b.jobs[id]
		if !ok || e.job.State != queue.StateActive || e.job.WorkerID != w.ID {
			continue
		}
		e.lease = now.Add(lease)
		if e.job.CancelRequested {
			cancel = append(cancel, id)
		}
	}
	return cancel, nil
}

// RemoveWorker deletes the worker's record.
func (b *Broker) RemoveWorker(ctx context.Context, workerID string) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	delete(b.workers, workerID)
	return nil
}
