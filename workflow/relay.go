package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// relayBatch is how many outbox rows the relay reads at a time.
const relayBatch = 100

var errNoClient = errors.New("no queue client configured")

// Wake makes the relay look at the outbox now. Submit and Retry call it when they could not
// enqueue; call it too when the queue is known to be back.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// RunRelay is the outbox relay; run one in every serve process. Until ctx is done, it
// enqueues the workflows waiting in the outbox (store.PendingEnqueue: accepted, but not yet
// handed to the queue), each under its job id (the workflow id for a first run), so that a
// workflow enqueued by Submit, by this relay and by another process's relay runs once. It
// looks at the outbox when it starts, when woken (Wake; Submit wakes it on a queue failure)
// and once per Config.RelaySweep; while rows are waiting and the queue refuses them it
// retries with capped exponential backoff and jitter (a random wait in [d/2, d], d doubling
// from RelayMinInterval up to RelayMaxInterval), logging one line when the queue refuses
// them and one when the outbox is drained. Alongside, it runs
// Reconcile every Config.ReconcileInterval.
func (e *Engine) RunRelay(ctx context.Context) {
	if e.client == nil {
		e.log.Warn("outbox relay idle: no queue client")
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { e.runReconciler(ctx) })
	delay := time.Duration(0)
	failing, all := false, false
	for {
		n, waiting, err := e.relayOnce(ctx, all)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if !failing {
				e.log.Warn("outbox relay: cannot enqueue waiting workflows yet; retrying", "err", err)
			}
			failing = true
		case failing && !waiting:
			e.log.Info("outbox relay: queue is back, outbox drained", "enqueued", n)
			failing = false
		case n > 0:
			e.log.Info("outbox relay: enqueued waiting workflows", "enqueued", n)
		}
		var timer *time.Timer
		var wake <-chan struct{}
		if err != nil || waiting {
			delay = min(max(2*delay, e.cfg.RelayMinInterval), e.cfg.RelayMaxInterval)
			timer = time.NewTimer(queue.Jitter(delay))
			// Rows are already waiting: a wake-up would add nothing but load.
		} else {
			delay = 0
			wake = e.wake
			if e.cfg.RelaySweep > 0 {
				timer = time.NewTimer(e.cfg.RelaySweep)
			}
		}
		var tick <-chan time.Time
		if timer != nil {
			tick = timer.C
		}
		// Woken, or retrying after a failure: every waiting row is the relay's to enqueue.
		// On a sweep, rows just accepted are left to the Submit that is enqueuing them.
		all = err != nil || waiting
		select {
		case <-ctx.Done():
		case <-wake:
			all = true
		case <-tick:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// RelayOnce enqueues what waits in the outbox now and returns how many workflows it
// enqueued; an error means some are still waiting.
func (e *Engine) RelayOnce(ctx context.Context) (int, error) {
	n, _, err := e.relayOnce(ctx, true)
	return n, err
}

// relayOnce drains the outbox; waiting reports rows left behind. Unless all is set, it
// leaves the rows accepted within the last Config.EnqueueTimeout alone: their Submit is
// still enqueuing them, and a relay that raced it would only make its enqueue a duplicate
// (and cut the job's trace off from the request's). A later sweep takes them if their
// Submit died.
func (e *Engine) relayOnce(ctx context.Context, all bool) (n int, waiting bool, err error) {
	for {
		rows, err := e.store.PendingEnqueue(ctx, relayBatch)
		if err != nil {
			return n, true, fmt.Errorf("read outbox: %w", err)
		}
		if !all {
			rows = e.settled(rows)
		}
		for _, w := range rows {
			ectx, cancel := context.WithTimeout(ctx, e.cfg.EnqueueTimeout)
			_, err := e.enqueue(ectx, w)
			cancel()
			if err != nil {
				return n, true, fmt.Errorf("workflow %s: %w", w.ID, err)
			}
			n++
		}
		if len(rows) < relayBatch {
			return n, false, nil
		}
	}
}

// settled returns the rows, oldest first, accepted before the last Config.EnqueueTimeout.
func (e *Engine) settled(rows []store.Workflow) []store.Workflow {
	cutoff := e.clock.Now().Add(-e.cfg.EnqueueTimeout)
	for i, w := range rows {
		if w.CreatedAt.After(cutoff) {
			return rows[:i]
		}
	}
	return rows
}

// enqueue hands w to the queue as an execute_workflow job with id jobIDFor(w) and records it
// as enqueued. A job that already has that id is adopted (it is this workflow's job, enqueued
// by a racing Submit or relay), or re-armed when it finished without running the workflow.
func (e *Engine) enqueue(ctx context.Context, w store.Workflow) (string, error) {
	if e.client == nil {
		return "", errNoClient
	}
	jobID := jobIDFor(w)
	_, err := e.client.Enqueue(ctx, JobExecute, ExecutePayload{WorkflowID: w.ID},
		queue.WithID(jobID), queue.OnQueue(e.queue), queue.MaxRetries(e.retries))
	if errors.Is(err, queue.ErrDuplicateJob) {
		err = e.adopt(ctx, w, jobID)
	}
	if err != nil {
		return "", err
	}
	if err := e.store.MarkEnqueued(ctx, w.ID, jobID); err != nil {
		return "", fmt.Errorf("mark enqueued as job %s: %w", jobID, err)
	}
	return jobID, nil
}

// adopt deals with an existing job of id jobID when w waits in the outbox: a live job will
// run w; a finished one (it ran while w was canceled, say, and w was retried since) is sent
// back to pending, or replaced.
func (e *Engine) adopt(ctx context.Context, w store.Workflow, jobID string) error {
	job, err := e.client.Get(ctx, jobID)
	if errors.Is(err, queue.ErrJobNotFound) { // expired or deleted meanwhile
		return e.enqueueAgain(ctx, w, jobID)
	}
	if err != nil {
		return err
	}
	switch job.State {
	case queue.StatePending, queue.StateScheduled, queue.StateRetry, queue.StateActive:
		return nil
	}
	// Finished. Is w still waiting (not handled by someone else meanwhile)?
	cur, err := e.store.GetWorkflow(ctx, w.ID)
	if err != nil {
		return err
	}
	if cur.Status != store.StatusQueued || cur.Enqueued() {
		return nil
	}
	switch job.State {
	case queue.StateDead, queue.StateCanceled:
		if err := e.client.Retry(ctx, jobID); err != nil && !errors.Is(err, queue.ErrInvalidState) {
			return err
		}
		return nil
	default: // completed: a completed job cannot be retried; replace it
		if err := e.client.Delete(ctx, jobID); err != nil &&
			!errors.Is(err, queue.ErrJobNotFound) && !errors.Is(err, queue.ErrInvalidState) {
			return err
		}
		return e.enqueueAgain(ctx, w, jobID)
	}
}

func (e *Engine) enqueueAgain(ctx context.Context, w store.Workflow, jobID string) error {
	_, err := e.client.Enqueue(ctx, JobExecute, ExecutePayload{WorkflowID: w.ID},
		queue.WithID(jobID), queue.OnQueue(e.queue), queue.MaxRetries(e.retries))
	if errors.Is(err, queue.ErrDuplicateJob) {
		return nil // someone else did it
	}
	return err
}
