package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"
)

// start registers one fetched job as running and hands it to a runner; its slot is released
// when it returns.
func (w *Worker) start(jobsCtx context.Context, job *Job) {
	progress := &progressReporter{w: w, job: job}
	ctx, cancel := context.WithCancelCause(&jobContext{Context: jobsCtx, job: job, progress: progress})
	run := &runningJob{job: job, cancel: cancel, ctx: ctx, progress: progress}
	w.reporting.Add(1)
	w.mu.Lock()
	if stale, ok := w.running[job.ID]; ok {
		// Our lease on an earlier attempt ran out (no heartbeat got through in time) and the
		// broker gave the job back to us as a new attempt: the earlier one is abandoned.
		stale.cancel(ErrLeaseLost)
		w.reporting.Done()
	}
	w.running[job.ID] = run
	w.mu.Unlock()
	w.runs <- run // never blocks: it holds a slot per job, and has room for every slot
}

// runner runs the jobs that start hands over until Run closes w.runs. Run starts one per
// slot, so that a job waits for none, and a job costs no goroutine start nor stack growth.
func (w *Worker) runner() {
	for run := range w.runs {
		w.runJob(run)
	}
}

// runJob runs one job's handler and sends its outcome to the completer.
func (w *Worker) runJob(run *runningJob) {
	defer w.release(1)
	defer run.cancel(nil)
	job, ctx := run.job, run.ctx
	obs := w.cfg.Observer
	if obs != nil {
		obs.JobStarted(job)
	}
	began := time.Now()
	result, err := w.call(ctx, job)
	took := time.Since(began)
	w.mu.Lock()
	mine := w.running[job.ID] == run
	if mine {
		delete(w.running, job.ID)
		w.recording[job.ID]++
	}
	w.mu.Unlock()
	if !mine { // abandoned (shutdown or lost lease): the broker already has the job back
		if obs != nil {
			obs.JobFinished(job, StatePending, took)
		}
		return
	}
	run.progress.settle()
	out := w.outcome(ctx, job, result, err)
	if obs != nil {
		obs.JobFinished(job, endState(ctx, out), took)
	}
	w.outcomes <- out
	w.reporting.Done()
}

// jobContext carries a running job and its progress reporter: one context for both values.
type jobContext struct {
	context.Context
	job      *Job
	progress *progressReporter
}

func (c *jobContext) Value(key any) any {
	switch key.(type) {
	case jobKey:
		return c.job
	case progressKey:
		return c.progress
	}
	return c.Context.Value(key)
}

// endState is how an attempt ends as observers see it: the outcome's state, canceled for
// a job whose handler was stopped by a Cancel, pending for a snoozed one.
func endState(ctx context.Context, out Outcome) State {
	switch {
	case out.Snooze:
		return StatePending
	case out.State == StateDead && errors.Is(context.Cause(ctx), ErrJobCanceled):
		return StateCanceled
	}
	return out.State
}

// call runs the job's handler with its timeout, turning a panic into an error with the stack.
func (w *Worker) call(ctx context.Context, job *Job) (result any, err error) {
	reg, ok := w.handlers[job.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %q (worker %s)", errNoHandler, job.Type, w.cfg.ID)
	}
	if job.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, job.Timeout, fmt.Errorf("job timed out after %s", job.Timeout))
		defer cancel()
	}
	if !job.Deadline.IsZero() { // the context ends at the earlier of deadline and timeout
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, job.Deadline, ErrDeadlineExceeded)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: string(debug.Stack())}
		}
	}()
	result, err = reg.handler.ProcessJob(ctx, job)
	if err != nil && ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%v)", err, cause)
		}
	}
	return result, err
}

type panicError struct {
	value any
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// outcome turns what the handler returned into the outcome the broker records.
func (w *Worker) outcome(ctx context.Context, job *Job, result any, err error) Outcome {
	now := time.Now()
	out := Outcome{JobID: job.ID, Queue: job.Queue, WorkerID: w.cfg.ID, Attempt: job.Attempt, FinishedAt: now}
	canceled := errors.Is(context.Cause(ctx), ErrJobCanceled)
	if err != nil && IsUnavailable(err) && !IsNoRetry(err) && !canceled {
		out.State, out.Snooze = StateRetry, true
		out.RetryAt = now.Add(w.outage.snooze(job, err))
		if !pastDeadline(job, out.RetryAt) {
			return out
		}
		w.processed.Add(1)
		w.failed.Add(1)
		out.State, out.Snooze, out.RetryAt = StateDead, false, time.Time{}
		out.Error = &AttemptError{Attempt: job.Attempt, Error: deadlineError(err), At: now}
		return out
	}
	w.outage.ok()
	w.processed.Add(1)
	if err == nil {
		raw, merr := marshalResult(result)
		if merr == nil {
			out.State, out.Result = StateCompleted, raw
			return out
		}
		err = NoRetry(fmt.Errorf("encode result: %w", merr))
	}
	w.failed.Add(1)
	ae := &AttemptError{Attempt: job.Attempt, Error: err.Error(), At: now}
	var pe *panicError
	if errors.As(err, &pe) {
		ae.Stack = pe.stack
	}
	out.Error = ae
	if IsNoRetry(err) || canceled || job.Attempt > job.MaxRetries {
		out.State = StateDead
		return out
	}
	out.State = StateRetry
	out.RetryAt = now.Add(w.backoff(job.Type)(job.Attempt))
	if pastDeadline(job, out.RetryAt) { // it would not run again: dead now
		out.State, out.RetryAt = StateDead, time.Time{}
		ae.Error = deadlineError(err)
	}
	return out
}

// deadlineError is the error recorded for a job that ends dead at its deadline, after an
// attempt that failed with err.
func deadlineError(err error) string { return ErrDeadlineExceeded.Error() + ": " + err.Error() }

// pastDeadline reports whether job has a deadline that falls before t.
func pastDeadline(job *Job, t time.Time) bool {
	return !job.Deadline.IsZero() && t.After(job.Deadline)
}

func (w *Worker) backoff(typ string) Backoff {
	if reg, ok := w.handlers[typ]; ok && reg.backoff != nil {
		return reg.backoff
	}
	return w.cfg.Backoff
}

func marshalResult(result any) (json.RawMessage, error) {
	switch r := result.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return r, nil
	}
	return json.Marshal(result)
}

// completer records outcomes in batches: it takes one, then every other already waiting, and
// finishes them in one broker call. A failed call is retried until it succeeds, so that no
// outcome is lost while the broker is briefly unreachable.
func (w *Worker) completer(ctx context.Context) {
	batch := make([]Outcome, 0, w.cfg.MaxBatch)
	retry := newReconnectDelay()
	for out := range w.outcomes {
		batch = append(batch[:0], out)
	more:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-w.outcomes:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		for {
			began := time.Now()
			err := w.broker.Finish(ctx, batch)
			w.down.report(began, err, "call", "record job outcomes", "jobs", len(batch))
			if err == nil {
				retry.reset()
				w.recorded(batch)
				break
			}
			if !sleepCtx(ctx, retry.next()) {
				return
			}
		}
	}
}

// recorded forgets the outcomes the broker has recorded: their leases are no longer extended.
func (w *Worker) recorded(batch []Outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, out := range batch {
		if w.recording[out.JobID]--; w.recording[out.JobID] <= 0 {
			delete(w.recording, out.JobID)
		}
	}
}

// heartbeatLoop extends the leases of running jobs and cancels those whose cancellation was
// requested, every HeartbeatInterval until ctx is done.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.heartbeat(ctx)
			w.recordHistory(ctx, now)
		}
	}
}

func (w *Worker) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Lease/2)
	defer cancel()
	began := time.Now()
	cancelIDs, err := w.broker.Heartbeat(ctx, w.info(), w.cfg.Lease)
	if err != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return // stopping
	}
	w.down.report(began, err, "call", "heartbeat")
	if err != nil {
		return
	}
	if len(cancelIDs) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range cancelIDs {
		if r, ok := w.running[id]; ok {
			r.cancel(ErrJobCanceled)
		}
	}
}

func (w *Worker) info() WorkerInfo {
	host, _ := os.Hostname()
	names := make([]string, len(w.cfg.Queues))
	for i, q := range w.cfg.Queues {
		names[i] = q.Name
	}
	w.mu.Lock()
	ids := make([]string, 0, len(w.running)+len(w.recording))
	for id := range w.running {
		ids = append(ids, id)
	}
	for id := range w.recording {
		if _, ok := w.running[id]; !ok {
			ids = append(ids, id)
		}
	}
	w.mu.Unlock()
	return WorkerInfo{
		ID: w.cfg.ID, Host: host, PID: os.Getpid(), Queues: names, Types: w.types, Concurrency: w.cfg.Concurrency,
		StartedAt: w.started, Heartbeat: time.Now(), Jobs: ids,
		Processed: w.processed.Load(), Failed: w.failed.Load(),
	}
}
