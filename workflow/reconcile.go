package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// Reconciled counts what one Reconcile pass did.
type Reconciled struct {
	Checked   int // in-flight workflows whose job was looked at
	Failed    int // job dead: the workflow is failed with the job's last error
	Canceled  int // job canceled: the workflow is canceled
	Requeued  int // job gone (expired, deleted, lost) or completed without finishing the workflow
	Untouched int // a live job runs the workflow, or the workflow changed meanwhile
}

// Changed reports whether the pass changed any workflow.
func (r Reconciled) Changed() bool { return r.Failed+r.Canceled+r.Requeued > 0 }

// Reconcile makes sure that every workflow handed to the queue and not finished has a live
// job, so that none stays queued or running for good: its execute_workflow job may have
// died (retries used up, say during an outage before this version), been canceled or deleted
// in the queue, or been lost with a Redis that kept no data. It looks at the workflows that
// have not changed for Config.ReconcileAfter and, for each, at its job (for a running graph
// workflow, at the jobs of its released steps that have not finished): a dead job fails
// the workflow with the job's last error; a canceled job cancels it; a job that is gone, or
// that completed without finishing the workflow, is enqueued again under the same id. Each
// change is guarded by the workflow's status and attempt, so a workflow that moved on
// meanwhile is left alone. RunRelay calls it every Config.ReconcileInterval.
func (e *Engine) Reconcile(ctx context.Context) (Reconciled, error) {
	var r Reconciled
	if e.client == nil {
		return r, errNoClient
	}
	before := e.clock.Now().Add(-e.cfg.ReconcileAfter)
	after := ""
	for {
		ws, err := e.store.InFlight(ctx, before, after, relayBatch)
		if err != nil {
			return r, fmt.Errorf("reconcile: %w", err)
		}
		for _, w := range ws {
			if err := e.reconcileOne(ctx, w, &r); err != nil {
				return r, fmt.Errorf("reconcile workflow %s (job %s): %w", w.ID, w.JobID, err)
			}
			after = w.ID
		}
		if len(ws) < relayBatch {
			return r, nil
		}
	}
}

// reconcileOne checks the job of in-flight workflow w and acts on it; for a running graph
// workflow, the jobs of the steps its attempt released.
func (e *Engine) reconcileOne(ctx context.Context, w store.Workflow, r *Reconciled) error {
	r.Checked++
	if typ, ok := e.types.Get(w.Type); ok && typ.Graph() && w.Status == store.StatusRunning {
		return e.reconcileGraph(ctx, w, typ, r)
	}
	return e.reconcileJob(ctx, w, JobExecute, w.JobID, func() error { return e.enqueueAgain(ctx, w, w.JobID) }, r)
}

// reconcileGraph checks the job of each step that running graph workflow w's attempt
// released and that has not finished; the first that ends the workflow (dead or canceled)
// ends the pass over it.
func (e *Engine) reconcileGraph(ctx context.Context, w store.Workflow, typ Type, r *Reconciled) error {
	full, err := e.store.GetWorkflow(ctx, w.ID)
	if moved(err) {
		r.Untouched++
		return nil
	}
	if err != nil {
		return err
	}
	for _, run := range full.Runs {
		if run.Attempt != full.Attempts {
			continue
		}
		jobID := StepJobID(w.ID, run.Attempt, run.Name)
		before := r.Failed + r.Canceled
		err := e.reconcileJob(ctx, full, JobStep, jobID, func() error {
			_, err := e.enqueueRuns(ctx, store.Workflow{ID: w.ID, Attempts: full.Attempts, Runs: []store.StepRun{run}}, typ)
			return err
		}, r)
		if err != nil || r.Failed+r.Canceled > before {
			return err
		}
	}
	return nil
}

// reconcileJob checks job jobID (of type kind) of in-flight workflow w and acts on it: a job
// that is gone or completed is enqueued again by requeue, a dead job fails the workflow, a
// canceled one cancels it.
func (e *Engine) reconcileJob(ctx context.Context, w store.Workflow, kind, jobID string, requeue func() error, r *Reconciled) error {
	job, err := e.client.Get(ctx, jobID)
	if err != nil && !errors.Is(err, queue.ErrJobNotFound) {
		return err
	}
	log := e.log.With("workflow_id", w.ID, "job_id", jobID, "status", w.Status)
	switch {
	case err != nil, job.State == queue.StateCompleted:
		if err == nil {
			if err := e.client.Delete(ctx, jobID); err != nil && !errors.Is(err, queue.ErrJobNotFound) {
				return err
			}
		}
		if err := requeue(); err != nil {
			return err
		}
		r.Requeued++
		log.Warn("reconcile: the workflow's job was gone or finished without it; enqueued it again")
	case job.State == queue.StateDead:
		reason := "its " + kind + " job " + jobID + " is dead"
		if n := len(job.Errors); n > 0 {
			reason += ": " + job.Errors[n-1].Error
		}
		failed, err := e.store.AbandonWorkflow(ctx, w.ID, w.Attempts, reason)
		if moved(err) {
			r.Untouched++
			return nil
		}
		if err != nil {
			return err
		}
		e.cancelRuns(ctx, w, "")
		if err := e.announce(ctx, failed); err != nil {
			log.Warn("reconcile: the workflow is failed; its notifications could not be enqueued", "err", err)
		}
		r.Failed++
		log.Warn("reconcile: the workflow's job is dead; the workflow is failed", "reason", reason)
	case job.State == queue.StateCanceled:
		if _, err := e.store.CancelWorkflow(ctx, w.ID); err != nil {
			if moved(err) {
				r.Untouched++
				return nil
			}
			return err
		}
		e.cancelRuns(ctx, w, "")
		r.Canceled++
		log.Info("reconcile: the workflow's job was canceled; so is the workflow")
	default:
		r.Untouched++
	}
	return nil
}

// moved reports whether err says the workflow changed since it was read (finished, deleted,
// or a new attempt started): the reconciler then leaves it alone.
func moved(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrStaleAttempt) || errors.Is(err, store.ErrNotFound)
}

// runReconciler runs Reconcile every Config.ReconcileInterval until ctx is done. A pass that
// fails (the store or the queue unreachable) is logged once until one succeeds again.
func (e *Engine) runReconciler(ctx context.Context) {
	if e.cfg.ReconcileInterval < 0 {
		return
	}
	t := time.NewTicker(e.cfg.ReconcileInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r, err := e.Reconcile(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			e.log.Warn("reconcile: cannot check in-flight workflows yet; retrying", "err", err)
		case err == nil && failing:
			e.log.Info("reconcile: checking in-flight workflows again")
		}
		failing = err != nil
		if r.Changed() {
			e.log.Info("reconcile: in-flight workflows without a live job fixed", "checked", r.Checked,
				"failed", r.Failed, "canceled", r.Canceled, "requeued", r.Requeued)
		}
	}
}
