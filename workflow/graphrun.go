package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// Graph execution. A graph workflow (a type whose steps name their needs, Type.Graph) is
// started by its execute_workflow job like any other: store.StartGraph makes it running and
// releases the steps that need nothing, in one transaction; the job enqueues one
// execute_workflow_step job per released step and ends. A step's job runs the step, and
// store.FinishStep records it and releases the steps it unblocked (or completes the
// workflow) in one transaction; the job then enqueues the released steps' jobs.
//
// A step job's id is <the start job's id>:<step name> (<workflow id>:<step> for the first
// attempt, <workflow id>-r<n>:<step> after a retry), so enqueuing it again is harmless:
// the queue refuses the duplicate. A process that dies between a transaction and the
// enqueues it calls for leaves its job unacknowledged: the queue runs it again, it finds
// its step finished and enqueues what the store lists as released (Workflow.Runs); the
// reconciler does the same for a job that was lost.

// JobStep is the job type of one step of a graph workflow (payload StepPayload).
const JobStep = "execute_workflow_step"

// StepPayload is the payload of an execute_workflow_step job.
type StepPayload struct {
	WorkflowID string `json:"workflow_id"`
	Step       string `json:"step"`
	Attempt    int    `json:"attempt"` // the workflow attempt that released the step
}

// StepJobID is the id of the job that runs step of workflow id for its attempt attempt.
func StepJobID(id string, attempt int, step string) string {
	return jobIDFor(store.Workflow{ID: id, Attempts: attempt - 1}) + ":" + step
}

// graphType returns the type of workflow id when it runs as a graph. It reads the workflow
// only when some type is a graph.
func (e *Engine) graphType(ctx context.Context, id string) (Type, bool) {
	if !e.types.hasGraph() {
		return Type{}, false
	}
	w, err := e.store.GetWorkflow(ctx, id)
	if err != nil {
		return Type{}, false // the sequential path reports it
	}
	typ, ok := e.types.Get(w.Type)
	return typ, ok && typ.Graph()
}

// startGraph is the execute_workflow job of graph workflow id: it starts the workflow
// (or finds it running) and enqueues the jobs of its released steps.
func (e *Engine) startGraph(ctx context.Context, id string, typ Type) (ExecResult, error) {
	w, err := e.store.StartGraph(ctx, id, typ.storeGraph())
	if err != nil {
		return e.notStarted(ctx, id, err)
	}
	res := ExecResult{WorkflowID: id, Attempt: w.Attempts, Status: w.Status, WeeklySavings: w.WeeklySavings}
	e.log.InfoContext(ctx, "workflow started", "workflow_id", id, "workflow_type", w.Type,
		"workflow_attempt", w.Attempts, "steps", len(typ.Steps), "steps_finished", len(w.Steps))
	return e.advanced(ctx, w, typ, res)
}

// advanced acts on graph workflow w as the store left it after a transaction: a completed
// workflow is announced; a running one has its released steps' jobs enqueued.
func (e *Engine) advanced(ctx context.Context, w store.Workflow, typ Type, res ExecResult) (ExecResult, error) {
	res.Status = w.Status
	if w.Status == store.StatusCompleted {
		took := w.FinishedAt.Sub(w.StartedAt)
		res.DurationMS = took.Milliseconds()
		e.observe(w, store.StatusCompleted, took)
		e.log.InfoContext(ctx, "workflow completed", "workflow_id", w.ID, "took", took.Round(time.Millisecond),
			"weekly_savings", w.WeeklySavings)
		return res, e.announceAfter(ctx, w)
	}
	n, err := e.enqueueRuns(ctx, w, typ)
	if err != nil {
		return res, fmt.Errorf("workflow %s: enqueue its released steps: %w", w.ID, err)
	}
	res.Note = fmt.Sprintf("%d steps released and not finished", n)
	return res, nil
}

// enqueueRuns enqueues the jobs of the steps that w's attempt released and that have not
// finished; a job enqueued before is left as it is.
func (e *Engine) enqueueRuns(ctx context.Context, w store.Workflow, typ Type) (int, error) {
	if e.client == nil {
		return 0, errNoClient
	}
	var reqs []queue.Request
	for _, r := range w.Runs {
		if r.Attempt != w.Attempts {
			continue
		}
		reqs = append(reqs, queue.Request{Type: JobStep,
			Payload: StepPayload{WorkflowID: w.ID, Step: r.Name, Attempt: r.Attempt},
			Options: []queue.Option{queue.WithID(StepJobID(w.ID, r.Attempt, r.Name)), queue.OnQueue(e.queue),
				queue.MaxRetries(e.retries)}})
	}
	if len(reqs) == 0 {
		return 0, nil
	}
	_, errs, err := e.client.EnqueueMany(ctx, reqs)
	if err != nil {
		return 0, err
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, queue.ErrDuplicateJob) {
			return 0, err
		}
	}
	return len(reqs), nil
}

// stepRun is one execute_workflow_step job at work.
type stepRun struct {
	job   *queue.Job
	w     store.Workflow // as read when the job started
	typ   Type
	index int
	res   ExecResult
}

func (s *stepRun) spec() StepSpec { return s.typ.Steps[s.index] }

// where names the step for messages.
func (s *stepRun) where() string { return fmt.Sprintf("step %d (%s)", s.index+1, s.spec().Name) }

func (e *Engine) handleStep(ctx context.Context, job *queue.Job) (any, error) {
	var p StepPayload
	if err := job.Decode(&p); err != nil {
		return nil, err
	}
	if p.WorkflowID == "" || p.Step == "" || p.Attempt < 1 {
		return nil, queue.NoRetry(fmt.Errorf("job %s: payload needs workflow_id, step and attempt", job.ID))
	}
	w, err := e.store.GetWorkflow(ctx, p.WorkflowID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, queue.NoRetry(fmt.Errorf("workflow %s: not found (deleted?)", p.WorkflowID))
	case err != nil:
		return nil, fmt.Errorf("workflow %s: read it to run step %s: %w", p.WorkflowID, p.Step, err)
	}
	res := ExecResult{WorkflowID: w.ID, Attempt: p.Attempt, Status: w.Status, WeeklySavings: w.WeeklySavings}
	switch {
	case w.Status.Final():
		res.Note = "workflow is " + string(w.Status) + ": nothing to do"
		return res, e.reannounce(ctx, w.ID, w.Status)
	case w.Attempts != p.Attempt:
		res.Note = fmt.Sprintf("superseded by attempt %d", w.Attempts)
		return res, nil
	}
	typ, ok := e.types.Get(w.Type)
	index, known := typ.stepIndex(p.Step)
	if !ok || !known || !typ.Graph() {
		err := fmt.Errorf("workflow type %q has no step %q run as a graph (not in this worker's configuration?)", w.Type, p.Step)
		return e.failGraph(ctx, w, res, p.Step, "step "+p.Step, queue.NoRetry(err))
	}
	run := &stepRun{job: job, w: w, typ: typ, index: index, res: res}
	for _, st := range w.Steps {
		if st.Index == index { // finished before a crash: what it released may not be enqueued
			return e.advanced(ctx, w, typ, res)
		}
	}
	return e.runGraphStep(ctx, run)
}

// runGraphStep runs the step of run and records it.
func (e *Engine) runGraphStep(ctx context.Context, run *stepRun) (ExecResult, error) {
	w, spec := run.w, run.spec()
	if err := e.store.SetStepState(ctx, w.ID, w.Attempts, run.index, store.StepRunning, ""); err != nil {
		return ended(run.res, w.ID, run.where(), err)
	}
	data := newStepData(w)
	data.Step = StepRef{Index: run.index, Name: spec.Name, Kind: spec.Kind, Total: len(run.typ.Steps)}
	start := time.Now()
	out, err := e.tracedStep(ctx, data, spec)
	if err != nil {
		return e.graphStepFailed(ctx, run, err)
	}
	done, err := e.store.FinishStep(ctx, w.ID, store.Step{Index: run.index, Name: spec.Name, Attempt: w.Attempts, Output: out},
		run.typ.storeGraph())
	if err != nil {
		// Not recorded: the job runs again and so does the step (http steps carry an
		// Idempotency-Key for this), unless the workflow ended meanwhile.
		return ended(run.res, w.ID, run.where(), err)
	}
	run.res.StepsRun = 1
	e.log.DebugContext(ctx, "step done", "workflow_id", w.ID, "step", spec.Name, "kind", spec.Kind, "took", time.Since(start))
	return e.advanced(ctx, done, run.typ, run.res)
}

// ended handles a store call about the step where of workflow id that failed with err: a
// workflow that is no longer this attempt's running one ends the job quietly (res, with a
// note); anything else is the job's error.
func ended(res ExecResult, id, where string, err error) (ExecResult, error) {
	var se *store.StateError
	switch {
	case errors.As(err, &se):
		res.Status, res.Note = se.Status, "workflow is "+string(se.Status)
		return res, nil
	case errors.Is(err, store.ErrStaleAttempt), errors.Is(err, store.ErrNotFound):
		res.Note = "workflow is no longer run by this attempt"
		return res, nil
	}
	return res, fmt.Errorf("workflow %s: %s: %w", id, where, err)
}

// graphStepFailed handles a failed try of run's step: the worker stopping (the job goes
// back to its queue), the job canceled (the workflow is canceled, every branch with it), a
// failure the queue retries (the workflow stays running), or the last failure, which fails
// the workflow and cancels its other branches.
func (e *Engine) graphStepFailed(ctx context.Context, run *stepRun, stepErr error) (ExecResult, error) {
	w, bg := run.w, context.WithoutCancel(ctx)
	msg := fmt.Sprintf("%s: %v", run.where(), stepErr)
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, queue.ErrShuttingDown):
			return run.res, fmt.Errorf("workflow %s interrupted at %s: %w", w.ID, run.where(), cause)
		case errors.Is(cause, queue.ErrJobCanceled):
			e.cancelWithJob(bg, w)
			run.res.Status, run.res.Note = store.StatusCanceled, "job canceled"
			return run.res, fmt.Errorf("workflow %s canceled at %s: %w", w.ID, run.where(), cause)
		}
	}
	cur, err := e.store.GetWorkflow(bg, w.ID)
	switch {
	case err != nil:
		return run.res, fmt.Errorf("workflow %s: %s; and reading the workflow failed: %w", w.ID, msg, err)
	case cur.Status != store.StatusRunning || cur.Attempts != w.Attempts:
		run.res.Status, run.res.Note = cur.Status, "workflow is "+string(cur.Status)
		return run.res, nil
	}
	if run.job.Attempt <= run.job.MaxRetries && !queue.IsNoRetry(stepErr) {
		if err := e.store.SetStepState(bg, w.ID, w.Attempts, run.index, store.StepFailed, msg); err != nil {
			e.log.WarnContext(ctx, "recording a step's failed try failed", "workflow_id", w.ID, "step", run.spec().Name, "err", err)
		}
		e.log.WarnContext(ctx, "workflow step failed; its job will be retried", "workflow_id", w.ID, "step", run.spec().Name, "err", stepErr)
		return run.res, fmt.Errorf("workflow %s: %s", w.ID, msg)
	}
	return e.failGraph(ctx, cur, run.res, run.spec().Name, run.where(), stepErr)
}

// failGraph fails running graph workflow w for the failure err of step (where names it for
// messages), and cancels the jobs of its other steps.
func (e *Engine) failGraph(ctx context.Context, w store.Workflow, res ExecResult, step, where string, err error) (ExecResult, error) {
	bg := context.WithoutCancel(ctx)
	msg := fmt.Sprintf("%s: %v", where, err)
	took := time.Since(w.StartedAt)
	if index, ok := e.stepIndexOf(w.Type, step); ok { // the dashboard shows which step failed
		_ = e.store.SetStepState(bg, w.ID, w.Attempts, index, store.StepFailed, msg)
	}
	done, ferr := e.store.FinishWorkflow(bg, w.ID, store.Result{Attempt: w.Attempts, Status: store.StatusFailed, Error: msg, Duration: took})
	if ferr != nil {
		return ended(res, w.ID, where, ferr)
	}
	e.cancelRuns(bg, w, step)
	res.Status, res.Note = store.StatusFailed, msg
	e.observe(w, store.StatusFailed, took)
	e.log.WarnContext(ctx, "workflow failed", "workflow_id", w.ID, "step", where, "err", err)
	if err := e.announceAfter(ctx, done); err != nil {
		return res, err
	}
	return res, queue.NoRetry(fmt.Errorf("workflow %s failed: %s", w.ID, msg))
}

// stepIndexOf returns the index of the step called step in type typ.
func (e *Engine) stepIndexOf(typ, step string) (int, bool) {
	t, ok := e.types.Get(typ)
	if !ok {
		return 0, false
	}
	return t.stepIndex(step)
}

// cancelWithJob cancels workflow w because one of its jobs was canceled in the queue
// (dashboard, CLI) rather than through Engine.Cancel, and the jobs of its other branches.
func (e *Engine) cancelWithJob(ctx context.Context, w store.Workflow) {
	if _, err := e.store.CancelWorkflow(ctx, w.ID); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			e.log.WarnContext(ctx, "job canceled; canceling its workflow failed", "workflow_id", w.ID, "err", err)
		}
		return
	}
	e.observe(w, store.StatusCanceled, time.Since(w.StartedAt))
	e.cancelRuns(ctx, w, "")
}

// cancelRuns cancels the jobs of the steps that w's attempt released and that have not
// finished, but step's. A failure is logged: a step job that runs later finds its workflow
// ended.
func (e *Engine) cancelRuns(ctx context.Context, w store.Workflow, step string) {
	if e.client == nil {
		return
	}
	for _, r := range w.Runs {
		if r.Attempt != w.Attempts || r.Name == step {
			continue
		}
		id := StepJobID(w.ID, r.Attempt, r.Name)
		if _, err := e.client.Cancel(ctx, id); err != nil &&
			!errors.Is(err, queue.ErrJobNotFound) && !errors.Is(err, queue.ErrInvalidState) {
			e.log.WarnContext(ctx, "workflow ended; a step's job could not be canceled (it will stop by itself)",
				"workflow_id", w.ID, "job_id", id, "err", err)
		}
	}
}
