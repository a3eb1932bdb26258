package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// ExecutePayload is the payload of an execute_workflow job.
type ExecutePayload struct {
	WorkflowID string `json:"workflow_id"`
}

// CleanupPayload is the payload of a cleanup_old_workflows job; Days 0 or absent means
// DefaultCleanupDays.
type CleanupPayload struct {
	Days int `json:"days"`
}

// ExecResult is the result stored with a finished execute_workflow job.
type ExecResult struct {
	WorkflowID string       `json:"workflow_id"`
	Status     store.Status `json:"status"`
	Attempt    int          `json:"attempt,omitempty"`
	// StepsRun counts the steps this attempt ran (steps finished by earlier attempts are
	// skipped).
	StepsRun      int     `json:"steps_run"`
	DurationMS    int64   `json:"duration_ms"`
	WeeklySavings float64 `json:"weekly_savings,omitempty"`
	// Note says why nothing (more) was done: already finished, canceled, superseded.
	Note string `json:"note,omitempty"`
}

// CleanupResult is the result of a cleanup_old_workflows job.
type CleanupResult struct {
	Days    int   `json:"days"`
	Deleted int64 `json:"deleted"`
}

// ReportView is a weekly report as JSON: the result of a generate_weekly_report job and the
// answer of GET /api/reports/weekly. Savings are rounded to the cent.
type ReportView struct {
	Week           string    `json:"week"`
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	Total          int64     `json:"total"`
	Completed      int64     `json:"completed"`
	Failed         int64     `json:"failed"`
	Canceled       int64     `json:"canceled"`
	CompletionRate float64   `json:"completion_rate"`
	TotalSavings   float64   `json:"total_savings"`
	AvgDurationMS  float64   `json:"avg_duration_ms"`
	GeneratedAt    time.Time `json:"generated_at"`
}

// ViewReport returns r as a ReportView.
func ViewReport(r store.WeeklyReport) ReportView {
	s := r.Summary
	return ReportView{
		Week: r.Week, From: s.From, To: s.To, Total: s.Total, Completed: s.Completed, Failed: s.Failed,
		Canceled: s.Canceled, CompletionRate: s.CompletionRate,
		TotalSavings:  math.Round(s.TotalSavings*100) / 100,
		AvgDurationMS: float64(s.AvgDuration.Microseconds()) / 1000, GeneratedAt: r.GeneratedAt,
	}
}

// Register registers the job types execute_workflow ({"workflow_id"}),
// execute_workflow_step (StepPayload, enqueued by the engine for graph workflows),
// cleanup_old_workflows ({"days"}, default 30), generate_weekly_report ({}) and
// dominion.notify (NotifyPayload, enqueued by the engine) on w. The
// worker must serve the engine's queue (Config.Queue, default "workflows") for workflows to
// run; the maintenance jobs run on whatever queue they are enqueued on. When the store cannot
// be reached (store.IsUnavailable) the handlers return a queue.Unavailable error, so that an
// outage of the database uses none of the jobs' attempts.
func (e *Engine) Register(w *queue.Worker) {
	w.HandleFunc(JobExecute, waitsOutOutages(e.handleExecute))
	w.HandleFunc(JobStep, waitsOutOutages(e.handleStep))
	w.HandleFunc(JobCleanup, waitsOutOutages(e.handleCleanup))
	w.HandleFunc(JobReport, waitsOutOutages(e.handleReport))
	w.HandleFunc(JobNotify, waitsOutOutages(e.handleNotify))
}

// waitsOutOutages marks the errors of h that say the store is unavailable with
// queue.Unavailable.
func waitsOutOutages(h queue.HandlerFunc) queue.HandlerFunc {
	return func(ctx context.Context, job *queue.Job) (any, error) {
		res, err := h(ctx, job)
		if err != nil && store.IsUnavailable(err) && !queue.IsNoRetry(err) {
			err = queue.Unavailable(err)
		}
		return res, err
	}
}

func (e *Engine) handleExecute(ctx context.Context, job *queue.Job) (any, error) {
	var p ExecutePayload
	if err := job.Decode(&p); err != nil {
		return nil, err
	}
	if p.WorkflowID == "" {
		return nil, queue.NoRetry(fmt.Errorf("job %s: payload has no workflow_id", job.ID))
	}
	// Record the job id before starting (a no-op when Submit or the relay did already):
	// the worker may get here before Submit's MarkEnqueued, and StartAttempt marks the
	// workflow enqueued without a job id, which Cancel needs to cancel this job.
	if err := e.store.MarkEnqueued(ctx, p.WorkflowID, job.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("workflow %s: record job id: %w", p.WorkflowID, err)
	}
	// The queue retries a failed attempt while retries are left; the last one (or a
	// permanent failure) marks the workflow failed.
	last := job.Attempt > job.MaxRetries
	return e.execute(ctx, p.WorkflowID, last)
}

func (e *Engine) handleCleanup(ctx context.Context, job *queue.Job) (any, error) {
	var p CleanupPayload
	if len(job.Payload) > 0 && string(job.Payload) != "null" {
		if err := job.Decode(&p); err != nil {
			return nil, err
		}
	}
	if p.Days < 0 {
		return nil, queue.NoRetry(fmt.Errorf("job %s: days must not be negative (got %d)", job.ID, p.Days))
	}
	if p.Days == 0 {
		p.Days = DefaultCleanupDays
	}
	n, err := e.CleanupOldWorkflows(ctx, p.Days)
	if err != nil {
		return nil, err
	}
	return CleanupResult{Days: p.Days, Deleted: n}, nil
}

func (e *Engine) handleReport(ctx context.Context, _ *queue.Job) (any, error) {
	r, err := e.GenerateWeeklyReport(ctx)
	if err != nil {
		return nil, err
	}
	return ViewReport(r), nil
}

// ExecuteWorkflow runs the workflow's remaining steps now, in the calling goroutine, as one
// final attempt (a failing step marks it failed). Workers run workflows through the
// execute_workflow job instead; this is for tools and tests. A graph workflow is only
// started: its released steps' jobs are enqueued, for workers to run.
func (e *Engine) ExecuteWorkflow(ctx context.Context, id string) (ExecResult, error) {
	return e.execute(ctx, id, true)
}

// attempt is one run of a workflow by execute.
type attempt struct {
	w     store.Workflow // as StartAttempt returned it: w.Attempts is this attempt's number
	last  bool           // a failure is final: the workflow is marked failed
	start time.Time
	log   *slog.Logger
	res   ExecResult // what the job returns, filled in as the attempt goes
}

// took is how long the attempt has run.
func (a *attempt) took() time.Duration { return time.Since(a.start) }

// stepFailure is a step that failed (index -1: before any step).
type stepFailure struct {
	index int
	name  string
	err   error
}

// where names the failed step for messages.
func (f stepFailure) where() string {
	if f.index < 0 {
		return "before the first step"
	}
	return fmt.Sprintf("step %d (%s)", f.index+1, f.name)
}

// execute runs one attempt of workflow id. last says whether a failure is final (the
// workflow is marked failed) or left to the queue's next attempt (the workflow stays running
// and the next attempt resumes at the failed step).
func (e *Engine) execute(ctx context.Context, id string, last bool) (ExecResult, error) {
	if typ, ok := e.graphType(ctx, id); ok {
		return e.startGraph(ctx, id, typ)
	}
	w, err := e.store.StartAttempt(ctx, id)
	if err != nil {
		return e.notStarted(ctx, id, err)
	}
	a := &attempt{w: w, last: last, start: time.Now(),
		log: e.log.With("workflow_id", id, "workflow_type", w.Type, "workflow_attempt", w.Attempts),
		res: ExecResult{WorkflowID: id, Attempt: w.Attempts, Status: store.StatusRunning, WeeklySavings: w.WeeklySavings}}
	typ, ok := e.types.Get(w.Type)
	if !ok {
		err := fmt.Errorf("unknown workflow type %q (not in this worker's configuration; known: %v)", w.Type, e.types.Names())
		return e.fail(ctx, a, stepFailure{index: -1, err: err})
	}
	a.log.InfoContext(ctx, "workflow started", "from_step", w.CurrentStep, "steps", len(typ.Steps))
	if res, stop, err := e.runSteps(ctx, a, typ); stop {
		return res, err
	}
	return e.complete(ctx, a)
}

// notStarted handles a failed start of workflow id: one gone, one finished or canceled
// before this job ran (or a duplicate job), or a store error.
func (e *Engine) notStarted(ctx context.Context, id string, err error) (ExecResult, error) {
	res := ExecResult{WorkflowID: id}
	var se *store.StateError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return res, queue.NoRetry(fmt.Errorf("workflow %s: not found (deleted?)", id))
	case errors.As(err, &se):
		// Nothing to do but its notifications, which a crash may have left unsent
		// (enqueued once).
		res.Status, res.Note = se.Status, "workflow is "+string(se.Status)+": nothing to do"
		e.log.InfoContext(ctx, "workflow job skipped", "workflow_id", id, "status", se.Status)
		return res, e.reannounce(ctx, id, se.Status)
	}
	return res, fmt.Errorf("workflow %s: start attempt: %w", id, err)
}

// runSteps runs the steps of typ from the workflow's current one. stop says the attempt
// ends here (with res and err): a step failed, or the workflow is no longer this attempt's.
func (e *Engine) runSteps(ctx context.Context, a *attempt, typ Type) (res ExecResult, stop bool, err error) {
	base := newStepData(a.w)
	for i := a.w.CurrentStep; i < len(typ.Steps); i++ {
		spec := typ.Steps[i]
		// Cancel between steps: the store is the authority (the job's context is also
		// canceled by Engine.Cancel, but the queue may be unreachable).
		if res, stop, err := e.interrupted(ctx, a); stop {
			a.log.InfoContext(ctx, "workflow stopped before step", "step", spec.Name, "status", res.Status, "note", res.Note, "err", err)
			return res, true, err
		}
		// Outside a job (ExecuteWorkflow called directly) there is no progress to report.
		_ = queue.ReportProgress(ctx, i*100/len(typ.Steps), fmt.Sprintf("step %d of %d: %s", i+1, len(typ.Steps), spec.Name))
		data := base
		data.Step = StepRef{Index: i, Name: spec.Name, Kind: spec.Kind, Total: len(typ.Steps)}
		stepStart := time.Now()
		out, err := e.tracedStep(ctx, data, spec)
		if err != nil {
			res, err := e.fail(ctx, a, stepFailure{index: i, name: spec.Name, err: err})
			return res, true, err
		}
		err = e.store.RecordStep(ctx, a.w.ID, store.Step{Index: i, Name: spec.Name, Attempt: a.w.Attempts, Output: out})
		if err != nil {
			if res, stop, _ := e.interrupted(context.WithoutCancel(ctx), a); stop && res.Note != "" {
				return res, true, nil
			}
			// The step's effect happened but is not recorded: the next attempt runs it
			// again (http steps carry an Idempotency-Key for this).
			a.res.DurationMS = a.took().Milliseconds()
			return a.res, true, fmt.Errorf("workflow %s: record step %d (%s): %w", a.w.ID, i+1, spec.Name, err)
		}
		if base.Outputs == nil {
			base.Outputs = map[string]json.RawMessage{}
		}
		base.Outputs[spec.Name] = out
		a.res.StepsRun++
		a.log.DebugContext(ctx, "step done", "step", spec.Name, "kind", spec.Kind, "took", time.Since(stepStart))
	}
	return a.res, false, nil
}

// complete records the attempt's success: the workflow is completed.
func (e *Engine) complete(ctx context.Context, a *attempt) (ExecResult, error) {
	took := a.took()
	done, err := e.store.FinishWorkflow(ctx, a.w.ID, store.Result{
		Attempt: a.w.Attempts, Status: store.StatusCompleted, Duration: took, Savings: a.w.WeeklySavings,
	})
	a.res.DurationMS = took.Milliseconds()
	if err != nil {
		if res, stop, _ := e.interrupted(context.WithoutCancel(ctx), a); stop && res.Note != "" {
			return res, nil
		}
		return a.res, fmt.Errorf("workflow %s: finish: %w", a.w.ID, err)
	}
	a.res.Status = store.StatusCompleted
	e.observe(a.w, store.StatusCompleted, took)
	a.log.InfoContext(ctx, "workflow completed", "took", took.Round(time.Millisecond), "steps_run", a.res.StepsRun,
		"weekly_savings", a.w.WeeklySavings)
	return a.res, e.announceAfter(ctx, done)
}

// interrupted reports whether attempt a must stop now (stop true), and with what: the
// workflow is no longer run by this attempt (canceled, finished, deleted, or taken over by a
// newer attempt: a result with its Note, and no error), or the store cannot be reached (an
// error: the job waits for it, see Register). Any other failure to read the workflow lets
// the attempt go on: the next store call reports it.
func (e *Engine) interrupted(ctx context.Context, a *attempt) (res ExecResult, stop bool, err error) {
	res = a.res
	res.DurationMS = a.took().Milliseconds()
	cur, err := e.store.GetWorkflow(ctx, a.w.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		res.Status, res.Note = "", "workflow was deleted"
		return res, true, nil
	case store.IsUnavailable(err):
		return res, true, fmt.Errorf("workflow %s: check it is still running: %w", a.w.ID, err)
	case err != nil:
		return res, false, nil
	case cur.Status != store.StatusRunning:
		res.Status, res.Note = cur.Status, "workflow is "+string(cur.Status)
		return res, true, nil
	case cur.Attempts != a.w.Attempts:
		res.Status, res.Note = cur.Status, fmt.Sprintf("superseded by attempt %d", cur.Attempts)
		return res, true, nil
	}
	return res, false, nil
}

// fail handles a failed step. A failure that is final (last attempt, or a permanent error)
// marks the workflow failed; otherwise the error goes back to the queue, which retries the
// job with backoff, and the workflow stays running.
func (e *Engine) fail(ctx context.Context, a *attempt, f stepFailure) (ExecResult, error) {
	a.res.DurationMS = a.took().Milliseconds()
	msg := fmt.Sprintf("%s: %v", f.where(), f.err)
	bg := context.WithoutCancel(ctx)
	if res, stop, err := e.interrupted(bg, a); stop {
		a.log.InfoContext(ctx, "workflow stopped during step", "step", f.name, "status", res.Status, "note", res.Note, "err", err)
		return res, err
	}
	if ctx.Err() != nil {
		if res, ok, err := e.failedByContext(ctx, a, f); ok {
			return res, err
		}
	}
	if !a.last && !queue.IsNoRetry(f.err) {
		return e.retryLater(ctx, a, f, msg)
	}
	done, err := e.store.FinishWorkflow(bg, a.w.ID, store.Result{
		Attempt: a.w.Attempts, Status: store.StatusFailed, Error: msg, Duration: a.took(),
	})
	if err != nil {
		if res, stop, _ := e.interrupted(bg, a); stop && res.Note != "" {
			return res, nil
		}
		return a.res, fmt.Errorf("workflow %s: %s; and recording the failure failed: %w", a.w.ID, msg, err)
	}
	a.res.Status, a.res.Note = store.StatusFailed, msg
	e.observe(a.w, store.StatusFailed, a.took())
	a.log.WarnContext(ctx, "workflow failed", "step", f.name, "err", f.err)
	if err := e.announceAfter(ctx, done); err != nil {
		return a.res, err
	}
	return a.res, queue.NoRetry(fmt.Errorf("workflow %s failed: %s", a.w.ID, msg))
}

// retryLater records that attempt a failed and that the queue runs the workflow again (a
// retried metric; the workflow stays running, with msg as its error), and returns the error
// that makes the queue retry the job. If the store cannot record it, the job waits for the
// store instead (see Register): the attempt then counts for neither.
func (e *Engine) retryLater(ctx context.Context, a *attempt, f stepFailure, msg string) (ExecResult, error) {
	bg := context.WithoutCancel(ctx)
	err := e.store.RecordRetriedAttempt(bg, a.w.ID, store.Result{
		Attempt: a.w.Attempts, Status: store.StatusRetried, Error: msg, Duration: a.took(),
	})
	if err != nil {
		if res, stop, _ := e.interrupted(bg, a); stop && res.Note != "" {
			return res, nil
		}
		return a.res, fmt.Errorf("workflow %s: %s; and recording the failed attempt failed: %w", a.w.ID, msg, err)
	}
	a.log.WarnContext(ctx, "workflow step failed; the job will be retried", "step", f.name, "err", f.err)
	return a.res, fmt.Errorf("workflow %s: %s", a.w.ID, msg)
}

// failedByContext handles a step that failed because the job's context ended: the worker
// shutting down (the job goes back to its queue) or the job canceled in the queue (the
// workflow is canceled too). ok is false for any other cause (a timeout is a failure).
func (e *Engine) failedByContext(ctx context.Context, a *attempt, f stepFailure) (res ExecResult, ok bool, err error) {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, queue.ErrShuttingDown):
		// Interrupted, not failed: the job goes back to its queue and the next attempt
		// resumes at this step.
		a.log.InfoContext(ctx, "workflow interrupted by shutdown", "step", f.name)
		return a.res, true, fmt.Errorf("workflow %s interrupted at %s: %w", a.w.ID, f.where(), cause)
	case errors.Is(cause, queue.ErrJobCanceled):
		// The job was canceled in the queue (dashboard, CLI) rather than through
		// Engine.Cancel: the workflow is canceled too, or it would stay running.
		if _, err := e.store.CancelWorkflow(context.WithoutCancel(ctx), a.w.ID); err != nil && !errors.Is(err, store.ErrConflict) {
			a.log.WarnContext(ctx, "job canceled; canceling its workflow failed", "err", err)
		} else if err == nil {
			e.observe(a.w, store.StatusCanceled, a.took())
		}
		a.res.Status, a.res.Note = store.StatusCanceled, "job canceled"
		a.log.InfoContext(ctx, "workflow canceled with its job", "step", f.name)
		return a.res, true, fmt.Errorf("workflow %s canceled at %s: %w", a.w.ID, f.where(), cause)
	}
	return a.res, false, nil
}

// tracedStep runs one step in a span of its own when the attempt is traced (a span in ctx,
// from the tracer the process configured); otherwise it just runs it.
func (e *Engine) tracedStep(ctx context.Context, data StepData, spec StepSpec) (json.RawMessage, error) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return e.runStep(ctx, data, spec)
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, "step "+spec.Name,
		trace.WithAttributes(attribute.String("dominion.step.kind", spec.Kind), attribute.Int("dominion.step.index", data.Step.Index)))
	defer span.End()
	out, err := e.runStep(ctx, data, spec)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return out, err
}

// tracerName names the workflow engine's spans' instrumentation.
const tracerName = "github.com/codex-dominion/dominion/workflow"
