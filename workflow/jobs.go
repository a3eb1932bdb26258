package workflow

import (
	"encoding/json"

	"github.com/codex-dominion/dominion/queue"
)

// WorkflowOf returns the id of the workflow that job runs when it is an execute_workflow job.
// Such a job is the workflow's: retrying it means retrying the workflow (Engine.Retry, which
// resumes after the last finished step under a new job), never sending the old job back to
// pending, which would find the workflow finished and do nothing.
func WorkflowOf(job *queue.Job) (id string, ok bool) {
	if job == nil || job.Type != JobExecute {
		return "", false
	}
	var p ExecutePayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.WorkflowID == "" {
		return "", false
	}
	return p.WorkflowID, true
}
