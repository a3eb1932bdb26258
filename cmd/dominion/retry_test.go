package main

import (
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// failingWorkflows has a type whose email step fails for good (no SMTP server): its
// workflow fails at the first attempt and its job goes dead.
const failingWorkflows = `workflows:
  - name: mail_nobody
    steps:
      - name: mail
        kind: email
        to: [nobody@example.com]
        subject: hi
        body: hi
`

// TestRetryWorkflowJob: retrying a dead execute_workflow job (jobs retry ID, jobs retry
// --all-dead) retries its workflow, which runs again under a new job, rather than sending the
// old job back to pending, where it would find its workflow failed and do nothing.
func TestRetryWorkflowJob(t *testing.T) {
	t.Parallel()
	cfg := sqliteBroker(t).cfg
	cfg.WorkflowsFile = writeFile(t, "workflows.yaml", failingWorkflows)
	c := client(t, cfg)
	wf, err := service.OpenWorkflows(t.Context(), service.WorkflowsConfig{Config: cfg, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wf.Store.Close() })
	inProcessWorker(t, cfg, "--shutdown-timeout", "5s")
	submit := func() string {
		acc, err := wf.Engine.Submit(t.Context(), workflow.Request{AgentID: "a", Mode: workflow.ModeExecute, Type: "mail_nobody"})
		if err != nil {
			t.Fatal(err)
		}
		waitJobState(t, cfg, acc.JobID, queue.StateDead)
		return acc.Workflow.ID
	}
	failedAgain := func(id, jobID string) {
		t.Helper()
		waitJobState(t, cfg, jobID, queue.StateDead)
		w, err := wf.Engine.Get(t.Context(), id)
		if err != nil || w.Status != store.StatusFailed || w.Attempts != 2 {
			t.Errorf("workflow %s after its retry: %+v, %v; want failed after 2 attempts", id, w, err)
		}
	}

	id := submit()
	out := ok(t, cfg, "jobs", "retry", id)
	if !strings.Contains(out, "Retried workflow "+id+" (its job's workflow)") || !strings.Contains(out, "as job "+id+"-r1") {
		t.Errorf("jobs retry of a workflow's dead job: %q", out)
	}
	failedAgain(id, id+"-r1")
	if j := showJob(t, cfg, id); j.State != queue.StateDead {
		t.Errorf("the workflow's old job is %s, want it left dead", j.State)
	}

	id2 := submit()
	plain := strings.TrimSpace(ok(t, cfg, "enqueue", "dominion.fail", `{"message":"no","retryable":false}`, "--queue", "workflows"))
	waitJobState(t, cfg, plain, queue.StateDead)
	out = ok(t, cfg, "jobs", "retry", "--all-dead", "--queue", "workflows")
	if !strings.Contains(out, "Retried workflow "+id2) || !strings.Contains(out, "Retried workflow "+id+" ") ||
		!strings.Contains(out, "Retried 1 dead jobs of queue workflows, and 2 workflows of its dead workflow jobs.") {
		t.Errorf("jobs retry --all-dead: %q", out)
	}
	failedAgain(id2, id2+"-r1")
	waitJobState(t, cfg, plain, queue.StateDead)
}
