package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

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
// cleanup_old_workflows ({"days"}, default 30) and generate_weekly_report ({}) on w. The
// worker must serve the engine's queue (Config.Queue, default "workflows") for workflows to
// run; the maintenance jobs run on whatever queue they are enqueued on.
func (e *Engine) Register(w *queue.Worker) {
	w.HandleFunc(JobExecute, e.handleExecute)
	w.HandleFunc(JobCleanup, e.handleCleanup)
	w.HandleFunc(JobReport, e.handleReport)
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
// execute_workflow job instead; this is for tools and tests.
func (e *Engine) ExecuteWorkflow(ctx context.Context, id string) (ExecResult, error) {
	return e.execute(ctx, id, true)
}

// execute runs one attempt of workflow id. last says whether a failure is final (the
// workflow is marked failed) or left to the queue's next attempt (the workflow stays running
// and the next attempt resumes at the failed step).
func (e *Engine) execute(ctx context.Context, id string, last bool) (ExecResult, error) {
	res := ExecResult{WorkflowID: id}
	w, err := e.store.StartAttempt(ctx, id)
	if err != nil {
		var se *store.StateError
		switch {
		case errors.Is(err, store.ErrNotFound):
			return res, queue.NoRetry(fmt.Errorf("workflow %s: not found (deleted?)", id))
		case errors.As(err, &se):
			// Finished or canceled before this job ran (or a duplicate job): nothing to do.
			res.Status, res.Note = se.Status, "workflow is "+string(se.Status)+": nothing to do"
			e.log.Info("workflow job skipped", "workflow_id", id, "status", se.Status)
			return res, nil
		}
		return res, fmt.Errorf("workflow %s: start attempt: %w", id, err)
	}
	start := time.Now()
	res.Attempt, res.Status, res.WeeklySavings = w.Attempts, store.StatusRunning, w.WeeklySavings
	log := e.log.With("workflow_id", id, "type", w.Type, "attempt", w.Attempts)
	typ, ok := e.types.Get(w.Type)
	if !ok {
		err := fmt.Errorf("unknown workflow type %q (not in this worker's configuration; known: %v)", w.Type, e.types.Names())
		return e.fail(ctx, log, w, -1, "", err, last, start, res)
	}
	log.Info("workflow started", "from_step", w.CurrentStep, "steps", len(typ.Steps))
	base := newStepData(w)
	for i := w.CurrentStep; i < len(typ.Steps); i++ {
		spec := typ.Steps[i]
		// Cancel between steps: the store is the authority (the job's context is also
		// canceled by Engine.Cancel, but the queue may be unreachable).
		if stop, r := e.stillOurs(ctx, w, res); stop {
			r.DurationMS = time.Since(start).Milliseconds()
			log.Info("workflow stopped before step", "step", spec.Name, "status", r.Status, "note", r.Note)
			return r, nil
		}
		data := base
		data.Step = StepRef{Index: i, Name: spec.Name, Kind: spec.Kind, Total: len(typ.Steps)}
		stepStart := time.Now()
		out, err := e.runStep(ctx, data, spec)
		if err != nil {
			return e.fail(ctx, log, w, i, spec.Name, err, last, start, res)
		}
		err = e.store.RecordStep(ctx, id, store.Step{Index: i, Name: spec.Name, Attempt: w.Attempts, Output: out})
		if err != nil {
			if stop, r := e.stillOurs(context.WithoutCancel(ctx), w, res); stop {
				r.DurationMS = time.Since(start).Milliseconds()
				return r, nil
			}
			// The step's effect happened but is not recorded: the next attempt runs it
			// again (http steps carry an Idempotency-Key for this).
			return res, fmt.Errorf("workflow %s: record step %d (%s): %w", id, i+1, spec.Name, err)
		}
		if base.Outputs == nil {
			base.Outputs = map[string]json.RawMessage{}
		}
		base.Outputs[spec.Name] = out
		res.StepsRun++
		log.Debug("step done", "step", spec.Name, "kind", spec.Kind, "took", time.Since(stepStart))
	}
	took := time.Since(start)
	_, err = e.store.FinishWorkflow(ctx, id, store.Result{
		Attempt: w.Attempts, Status: store.StatusCompleted, Duration: took, Savings: w.WeeklySavings,
	})
	res.DurationMS = took.Milliseconds()
	if err != nil {
		if stop, r := e.stillOurs(context.WithoutCancel(ctx), w, res); stop {
			r.DurationMS = res.DurationMS
			return r, nil
		}
		return res, fmt.Errorf("workflow %s: finish: %w", id, err)
	}
	res.Status = store.StatusCompleted
	log.Info("workflow completed", "took", took.Round(time.Millisecond), "steps_run", res.StepsRun,
		"weekly_savings", w.WeeklySavings)
	return res, nil
}

// stillOurs reports whether the attempt must stop because the workflow is no longer running
// under it (canceled, or taken over by a newer attempt), and the result to return then.
func (e *Engine) stillOurs(ctx context.Context, w store.Workflow, res ExecResult) (bool, ExecResult) {
	cur, err := e.store.GetWorkflow(ctx, w.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			res.Status, res.Note = "", "workflow was deleted"
			return true, res
		}
		return false, res // the next store call reports the problem
	}
	switch {
	case cur.Status != store.StatusRunning:
		res.Status, res.Note = cur.Status, "workflow is "+string(cur.Status)
		return true, res
	case cur.Attempts != w.Attempts:
		res.Status, res.Note = cur.Status, fmt.Sprintf("superseded by attempt %d", cur.Attempts)
		return true, res
	}
	return false, res
}

// fail handles a failed step (index -1: before any step). A failure that is final (last
// attempt, or a permanent error) marks the workflow failed; otherwise the error goes back to
// the queue, which retries the job with backoff, and the workflow stays running.
func (e *Engine) fail(ctx context.Context, log *slog.Logger, w store.Workflow, index int, name string, stepErr error, last bool, start time.Time, res ExecResult) (ExecResult, error) {
	res.DurationMS = time.Since(start).Milliseconds()
	where := "before the first step"
	if index >= 0 {
		where = fmt.Sprintf("step %d (%s)", index+1, name)
	}
	msg := fmt.Sprintf("%s: %v", where, stepErr)
	bg := context.WithoutCancel(ctx)
	if stop, r := e.stillOurs(bg, w, res); stop {
		log.Info("workflow stopped during step", "step", name, "status", r.Status, "note", r.Note)
		return r, nil
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, queue.ErrShuttingDown):
			// Interrupted, not failed: the job goes back to its queue and the next
			// attempt resumes at this step.
			log.Info("workflow interrupted by shutdown", "step", name)
			return res, fmt.Errorf("workflow %s interrupted at %s: %w", w.ID, where, cause)
		case errors.Is(cause, queue.ErrJobCanceled):
			// The job was canceled in the queue (dashboard, CLI) rather than through
			// Engine.Cancel: the workflow is canceled too, or it would stay running.
			if _, err := e.store.CancelWorkflow(bg, w.ID); err != nil && !errors.Is(err, store.ErrConflict) {
				log.Warn("job canceled; canceling its workflow failed", "err", err)
			}
			res.Status, res.Note = store.StatusCanceled, "job canceled"
			log.Info("workflow canceled with its job", "step", name)
			return res, fmt.Errorf("workflow %s canceled at %s: %w", w.ID, where, cause)
		}
	}
	if !last && !queue.IsNoRetry(stepErr) {
		log.Warn("workflow step failed; the job will be retried", "step", name, "err", stepErr)
		return res, fmt.Errorf("workflow %s: %s", w.ID, msg)
	}
	_, err := e.store.FinishWorkflow(bg, w.ID, store.Result{
		Attempt: w.Attempts, Status: store.StatusFailed, Error: msg, Duration: time.Since(start),
	})
	if err != nil {
		if stop, r := e.stillOurs(bg, w, res); stop {
			return r, nil
		}
		return res, fmt.Errorf("workflow %s: %s; and recording the failure failed: %w", w.ID, msg, err)
	}
	res.Status, res.Note = store.StatusFailed, msg
	log.Warn("workflow failed", "step", name, "err", stepErr)
	return res, queue.NoRetry(fmt.Errorf("workflow %s failed: %s", w.ID, msg))
}
