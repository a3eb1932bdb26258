package api

import (
	"encoding/json"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// The JSON shapes of the job routes. Durations are whole milliseconds in fields ending in _ms.

// EnqueuedView is one job of a POST /api/jobs answer: stored (state pending or scheduled), or
// refused as a duplicate (error set, nothing stored).
type EnqueuedView struct {
	ID        string `json:"id"`
	Queue     string `json:"queue"`
	Type      string `json:"type"`
	Enqueued  bool   `json:"enqueued"`
	State     string `json:"state,omitempty"`
	StatusURL string `json:"status_url,omitempty"`
	Error     *Error `json:"error,omitempty"`
}

// EnqueueListView answers POST /api/jobs with a list: one entry per job, in request order.
type EnqueueListView struct {
	Jobs       []EnqueuedView `json:"jobs"`
	Enqueued   int            `json:"enqueued"`
	Duplicates int            `json:"duplicates"`
	Refused    int            `json:"refused,omitempty"` // parent not found, or on another queue on Redis Cluster
}

// JobView is one job (GET /api/jobs/{id}; in lists without payload, result and errors).
type JobView struct {
	ID              string          `json:"id"`
	Queue           string          `json:"queue"`
	Type            string          `json:"type"`
	State           string          `json:"state"`
	Attempts        int             `json:"attempts"`
	MaxRetries      int             `json:"max_retries"`
	Priority        int             `json:"priority"`
	Deadline        time.Time       `json:"deadline,omitzero"`
	RateKey         string          `json:"rate_key,omitempty"`
	TimeoutMS       int64           `json:"timeout_ms,omitempty"`
	RunAt           time.Time       `json:"run_at,omitzero"`
	UniqueKey       string          `json:"unique_key,omitempty"`
	UniqueTTLMS     int64           `json:"unique_ttl_ms,omitempty"`
	ResultTTLMS     int64           `json:"result_ttl_ms,omitempty"`
	Payload         json.RawMessage `json:"payload,omitempty"`
	Result          json.RawMessage `json:"result,omitempty"`
	Errors          []JobErrorView  `json:"errors,omitzero"`
	EnqueuedAt      time.Time       `json:"enqueued_at,omitzero"`
	StartedAt       time.Time       `json:"started_at,omitzero"`
	FinishedAt      time.Time       `json:"finished_at,omitzero"`
	WorkerID        string          `json:"worker_id,omitempty"`
	CancelRequested bool            `json:"cancel_requested,omitempty"`
	Progress        *queue.Progress `json:"progress,omitempty"`
	DependsOn       []string        `json:"depends_on,omitempty"`
	RunAnyway       bool            `json:"run_on_parent_failure,omitempty"`
	Batch           string          `json:"batch,omitempty"`
	StatusURL       string          `json:"status_url"`
}

// JobErrorView is one failed attempt of a job.
type JobErrorView struct {
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// JobListView answers GET /api/jobs.
type JobListView struct {
	Jobs       []JobView `json:"jobs"`
	NextCursor string    `json:"next_cursor,omitempty"`
	NextURL    string    `json:"next_url,omitempty"`
}

// JobStateView answers POST /api/jobs/{id}/cancel and …/retry, and DELETE /api/jobs/{id}
// (state "deleted").
type JobStateView struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// Workflow is set when a retried job was a workflow's dead or canceled job: the workflow
	// was retried instead (as POST /api/workflows/{id}/retry answers it), the job left as it is.
	Workflow *AcceptedView `json:"workflow,omitempty"`
}

// ScheduleView is one schedule of GET /api/schedules.
type ScheduleView struct {
	Name          string          `json:"name"`
	Spec          string          `json:"spec"`
	TimeZone      string          `json:"time_zone"`
	Queue         string          `json:"queue"`
	Type          string          `json:"type"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Enabled       bool            `json:"enabled"`
	CatchUp       bool            `json:"catch_up"`
	NextRun       time.Time       `json:"next_run,omitzero"`
	LastRun       time.Time       `json:"last_run,omitzero"`
	LastRunManual bool            `json:"last_run_manual,omitempty"`
	LastJobID     string          `json:"last_job_id,omitempty"`
	LastJobState  string          `json:"last_job_state,omitempty"`
}

func jobURL(id string) string { return "/api/jobs/" + id }

func millisOf(d time.Duration) int64 { return d.Milliseconds() }

func jobView(j *queue.Job, details bool) JobView {
	v := JobView{
		ID: j.ID, Queue: j.Queue, Type: j.Type, State: string(j.State), Attempts: j.Attempt,
		MaxRetries: j.MaxRetries, Priority: j.Priority, Deadline: j.Deadline, RateKey: j.RateKey, TimeoutMS: millisOf(j.Timeout), RunAt: j.RunAt, UniqueKey: j.UniqueKey,
		UniqueTTLMS: millisOf(j.UniqueFor), ResultTTLMS: millisOf(j.ResultTTL),
		EnqueuedAt: j.EnqueuedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		WorkerID: j.WorkerID, CancelRequested: j.CancelRequested, Progress: j.Progress, StatusURL: jobURL(j.ID),
		DependsOn: j.DependsOn, RunAnyway: j.RunOnParentFailure, Batch: j.Batch,
	}
	if details {
		v.Payload, v.Result = validOrNil(j.Payload), validOrNil(j.Result)
		v.Errors = make([]JobErrorView, 0, len(j.Errors))
		for _, e := range j.Errors {
			v.Errors = append(v.Errors, JobErrorView{Attempt: e.Attempt, Error: e.Error, At: e.At})
		}
	}
	return v
}

func scheduleView(s queue.ScheduleInfo) ScheduleView {
	return ScheduleView{
		Name: s.Name, Spec: s.Spec, TimeZone: s.TimeZone, Queue: s.Queue, Type: s.Type,
		Payload: validOrNil(s.Payload), Enabled: s.Enabled, CatchUp: s.CatchUp, NextRun: s.NextRun,
		LastRun: s.LastRun, LastRunManual: s.LastRunManual, LastJobID: s.LastJobID, LastJobState: string(s.LastJobState),
	}
}
