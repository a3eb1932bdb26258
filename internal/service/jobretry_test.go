package service_test

import (
	"net/http"
	"testing"
	"time"
)

// failingTypes has a type whose email step fails for good (no SMTP server is configured):
// its workflow fails at the first attempt and, with no queue retries, its job goes dead.
const failingTypes = `workflows: [{name: mail_nobody, steps: [{name: mail, kind: email, to: [nobody@example.com]}]}]`

// jobRetried is the answer of POST /api/jobs/{id}/retry.
type jobRetried struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Workflow *accepted `json:"workflow"`
}

// TestRetryWorkflowJobRetriesWorkflow: POST /api/jobs/{id}/retry of a workflow's dead
// execute_workflow job retries the workflow (it runs again under a new job, and the answer
// says so), as `dominion jobs retry` and POST /api/workflows/{id}/retry do; sent back to
// pending alone, the job would find its workflow failed and do nothing. A plain dead job
// still goes back to pending.
func TestRetryWorkflowJobRetriesWorkflow(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withTypes(t, failingTypes), withRetries(-1))
	acc := s.submit("a", "mail_nobody")
	s.waitJob(acc.JobID, "dead", 30*time.Second)
	s.waitStatus(acc.WorkflowID, "failed", 30*time.Second)

	var got jobRetried
	s.call("POST", "/api/jobs/"+acc.JobID+"/retry", "", http.StatusOK, &got)
	wantJob := acc.WorkflowID + "-r1"
	if got.ID != acc.JobID || got.State != "dead" || got.Workflow == nil ||
		got.Workflow.WorkflowID != acc.WorkflowID || got.Workflow.JobID != wantJob || got.Workflow.Status != "queued" {
		t.Fatalf("retry of the workflow's dead job answered %+v (workflow %+v); want the job left dead and workflow %s queued as job %s",
			got, got.Workflow, acc.WorkflowID, wantJob)
	}
	s.waitJob(wantJob, "dead", 30*time.Second)
	if w := s.waitStatus(acc.WorkflowID, "failed", 30*time.Second); w.Attempts != 2 || w.JobID != wantJob {
		t.Errorf("workflow after the job's retry: attempts %d, job %s; want it run again (2 attempts) as %s", w.Attempts, w.JobID, wantJob)
	}
	if j := s.getJob(acc.JobID); j.State != "dead" {
		t.Errorf("the workflow's old job is %s, want it left dead", j.State)
	}

	s.call("POST", "/api/jobs", `{"type":"dominion.fail","id":"plain-1","queue":"workflows","payload":{"message":"no","retryable":false}}`, http.StatusCreated, nil)
	s.waitJob("plain-1", "dead", 30*time.Second)
	var plain jobRetried
	s.call("POST", "/api/jobs/plain-1/retry", "", http.StatusOK, &plain)
	if plain.State != "pending" || plain.Workflow != nil {
		t.Errorf("retry of a plain dead job answered %+v, want it pending", plain)
	}
}
