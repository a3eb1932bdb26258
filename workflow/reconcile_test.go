package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// TestReconcileWorkflowsWithoutLiveJob: workflows whose execute_workflow job died, was
// canceled or vanished in the queue do not stay queued for good: Reconcile fails the first
// with the job's last error, cancels the second and enqueues the third again, which then runs.
func TestReconcileWorkflowsWithoutLiveJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *workflow.Config) {
		c.ReconcileAfter, c.ReconcileInterval = time.Nanosecond, -1
	}))
	ctx := t.Context()
	dead, canceled, gone := e.submit("customer_followup"), e.submit("customer_followup"), e.submit("customer_followup")
	if _, err := e.client.Cancel(ctx, canceled.JobID); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Delete(ctx, gone.JobID); err != nil {
		t.Fatal(err)
	}
	// A worker whose attempts all fail before the workflow starts, as they did while the
	// store was down before outages stopped counting as attempts.
	burn := queue.NewWorker(e.broker, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: workflow.DefaultQueue, Weight: 1}}, Logger: quiet, FetchWait: 100 * time.Millisecond,
	})
	burn.HandleFunc(workflow.JobExecute, func(context.Context, *queue.Job) (any, error) {
		return nil, queue.NoRetry(errors.New("record job id: connection refused"))
	})
	bctx, stop := context.WithCancel(context.Background())
	burnt := make(chan error, 1)
	go func() { burnt <- burn.Run(bctx) }()
	e.waitJob(dead.JobID, queue.StateDead)
	stop()
	if err := <-burnt; err != nil {
		t.Fatal(err)
	}

	r, err := e.engine.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 1 || r.Canceled != 1 || r.Requeued != 1 {
		t.Fatalf("Reconcile = %+v; want one failed, one canceled, one requeued", r)
	}
	w := e.waitStatus(dead.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "is dead: record job id: connection refused") {
		t.Fatalf("failed workflow's error = %q; want the dead job's last error", w.Error)
	}
	e.waitStatus(canceled.Workflow.ID, store.StatusCanceled)
	e.waitJob(gone.JobID, queue.StatePending)
	e.startWorker(nil)
	e.waitStatus(gone.Workflow.ID, store.StatusCompleted)
	if r, err := e.engine.Reconcile(ctx); err != nil || r.Checked != 0 {
		t.Fatalf("second Reconcile = %+v, %v; want nothing left to check", r, err)
	}
}
