package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// WorkflowOf returns the id of the workflow that job runs when it is an execute_workflow or
// execute_workflow_step job. Such a job is the workflow's: retrying it means retrying the
// workflow (Engine.Retry, which resumes after the last finished step under a new job), never
// sending the old job back to pending, which would find the workflow finished and do
// nothing.
func WorkflowOf(job *queue.Job) (id string, ok bool) {
	if job == nil || (job.Type != JobExecute && job.Type != JobStep) {
		return "", false
	}
	var p ExecutePayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.WorkflowID == "" {
		return "", false
	}
	return p.WorkflowID, true
}

// Jobs is what RetryJob and RetryJobs need of the queue. *queue.Client satisfies it.
type Jobs interface {
	Get(ctx context.Context, id string) (*queue.Job, error)
	List(ctx context.Context, queue string, state queue.State, offset, limit int) ([]*queue.Job, error)
	Retry(ctx context.Context, id string) error
	RetryAll(ctx context.Context, queue string, state queue.State) (int, error)
}

// Retrier retries a failed or canceled workflow. *Engine satisfies it.
type Retrier interface {
	Retry(ctx context.Context, id string) (store.Workflow, error)
}

// ErrWorkflowJob is returned when a workflow's job is to be retried where no
// workflow service (Retrier) is at hand: the workflow must be retried instead.
var ErrWorkflowJob = errors.New("the job runs a workflow, which is retried as a whole")

// JobRetry is what RetryJob did: the job was sent back to pending, or, when it ran a
// workflow, that workflow was retried.
type JobRetry struct {
	JobID string
	// State is the job's state after the call: pending, or, for a workflow's job, the state
	// it was left in.
	State queue.State
	// WorkflowID is the workflow the job ran, when retrying the job meant retrying it (set
	// even when that retry failed).
	WorkflowID string
	// Workflow, when set, is that workflow retried: it is queued again under a new job
	// (Workflow.JobID), and the job itself was left as it was.
	Workflow *store.Workflow
}

// RetryJob retries job id, with one meaning wherever it is asked for (CLI, API, dashboard):
// a workflow's job (execute_workflow) has its workflow retried through wf, which resumes
// after the last finished step under a new job, and is itself left as it is (a workflow that
// is not failed or canceled is refused: store.ErrConflict); any other job goes back to
// pending with its attempts reset, as does a workflow's job that waits for a retry or its
// time (it just runs now). With wf nil, a workflow's job is refused with ErrWorkflowJob.
func RetryJob(ctx context.Context, jobs Jobs, wf Retrier, id string) (JobRetry, error) {
	job, err := jobs.Get(ctx, id)
	if err != nil {
		return JobRetry{}, fmt.Errorf("retry job %s: %w", id, err)
	}
	if wid, ok := finishedWorkflowJob(job); ok {
		res := JobRetry{JobID: id, State: job.State, WorkflowID: wid}
		w, err := retryWorkflowOf(ctx, wf, id, wid)
		if err != nil {
			return res, err
		}
		res.Workflow = &w
		return res, nil
	}
	if err := jobs.Retry(ctx, id); err != nil {
		return JobRetry{JobID: id, State: job.State}, err
	}
	return JobRetry{JobID: id, State: queue.StatePending}, nil
}

// finishedWorkflowJob returns the workflow that job runs when retrying the job means
// retrying the workflow: any workflow's job but one that waits for its next attempt or its
// time (retry, scheduled), which a plain retry just runs now. A dead or canceled job (or one
// still stopping after its workflow was canceled) would find its workflow finished.
func finishedWorkflowJob(job *queue.Job) (string, bool) {
	if job.State == queue.StateRetry || job.State == queue.StateScheduled {
		return "", false
	}
	return WorkflowOf(job)
}

// retryWorkflowOf retries workflow wid, which job id ran.
func retryWorkflowOf(ctx context.Context, wf Retrier, id, wid string) (store.Workflow, error) {
	if wf == nil {
		return store.Workflow{}, fmt.Errorf("job %s runs workflow %s: %w: retry the workflow (POST /api/workflows/%s/retry, or its dashboard page)", id, wid, ErrWorkflowJob, wid)
	}
	w, err := wf.Retry(ctx, wid)
	if err != nil {
		return w, fmt.Errorf("job %s runs workflow %s, so the workflow is retried: %w", id, wid, err)
	}
	return w, nil
}

// BulkRetry is what RetryJobs did.
type BulkRetry struct {
	Jobs      int              // jobs sent back to pending
	Workflows []store.Workflow // workflows retried for their jobs
	// Skipped are the workflows of jobs that were not retried because the workflow is not
	// failed or canceled (retried already: its old jobs stay dead) or is gone.
	Skipped []Skipped
}

// Skipped is a workflow that RetryJobs did not retry, and why.
type Skipped struct {
	WorkflowID string
	Err        error
}

// listPage is how many jobs RetryJobs reads at a time.
const listPage = 500

// RetryJobs retries every job of queue q in state st (dead, canceled or retry) as RetryJob
// does: the workflows of workflows' finished jobs are retried (each once, however many of
// its jobs there are; a workflow that cannot be retried any more is skipped), the other jobs
// go back to pending. Without such workflow jobs it is one atomic step of the queue. With wf
// nil and workflow jobs among them, nothing is retried: ErrWorkflowJob.
func RetryJobs(ctx context.Context, jobs Jobs, wf Retrier, q string, st queue.State) (BulkRetry, error) {
	var wids, others []string
	if st == queue.StateDead || st == queue.StateCanceled {
		var err error
		if wids, others, err = splitWorkflowJobs(ctx, jobs, q, st); err != nil {
			return BulkRetry{}, err
		}
	}
	if len(wids) == 0 {
		n, err := jobs.RetryAll(ctx, q, st)
		return BulkRetry{Jobs: n}, err
	}
	if wf == nil {
		return BulkRetry{}, fmt.Errorf("%d %s jobs of queue %s run workflows: %w: retry the workflows (POST /api/workflows/{id}/retry, or the workflows' dashboard pages)", len(wids), st, q, ErrWorkflowJob)
	}
	// The workflows' old jobs stay as they are: sent back, they would run the retried
	// workflows twice.
	var res BulkRetry
	for _, wid := range wids {
		w, err := wf.Retry(ctx, wid)
		switch {
		case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
			res.Skipped = append(res.Skipped, Skipped{WorkflowID: wid, Err: err})
		case err != nil:
			return res, fmt.Errorf("retry workflow %s, whose %s job is in queue %s: %w", wid, st, q, err)
		default:
			res.Workflows = append(res.Workflows, w)
		}
	}
	for _, id := range others {
		err := jobs.Retry(ctx, id)
		switch {
		case err == nil:
			res.Jobs++
		case errors.Is(err, queue.ErrJobNotFound) || errors.Is(err, queue.ErrInvalidState):
			// retried, deleted or run meanwhile
		default:
			return res, err
		}
	}
	return res, nil
}

// splitWorkflowJobs reads the jobs of queue q in state st: the workflows that its
// workflows' jobs ran (each once) and the ids of the other jobs.
func splitWorkflowJobs(ctx context.Context, jobs Jobs, q string, st queue.State) (wids, others []string, err error) {
	seen := map[string]bool{}
	for offset := 0; ; offset += listPage {
		page, err := jobs.List(ctx, q, st, offset, listPage)
		if err != nil {
			return nil, nil, err
		}
		for _, j := range page {
			if wid, ok := WorkflowOf(j); !ok {
				others = append(others, j.ID)
			} else if !seen[wid] { // a workflow retried before has several jobs
				seen[wid] = true
				wids = append(wids, wid)
			}
		}
		if len(page) < listPage {
			return wids, others, nil
		}
	}
}
