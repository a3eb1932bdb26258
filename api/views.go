package api

import (
	"encoding/json"
	"math"
	"time"

	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// The JSON shapes of the API's answers. Times are RFC 3339 UTC; a time that has not happened
// yet is left out.

// AcceptedView answers POST /api/chat in execute mode (202) and POST …/retry.
type AcceptedView struct {
	WorkflowID string           `json:"workflow_id"`
	JobID      string           `json:"job_id,omitempty"`
	Status     string           `json:"status"`
	StatusURL  string           `json:"status_url"`
	Enqueued   bool             `json:"enqueued"`
	Savings    workflow.Savings `json:"savings"`
}

// PreviewView answers POST /api/chat in preview mode (200).
type PreviewView struct {
	Mode         string           `json:"mode"`
	AgentID      string           `json:"agent_id"`
	WorkflowType string           `json:"workflow_type,omitempty"` // left out when the request names none
	Savings      workflow.Savings `json:"savings"`
}

// WorkflowView is one workflow (GET /api/workflows/{id}; in lists without steps and metrics).
type WorkflowView struct {
	ID         string           `json:"id"`
	AgentID    string           `json:"agent_id"`
	Type       string           `json:"type"`
	Mode       string           `json:"mode,omitempty"`
	Status     string           `json:"status"`
	StepsDone  int              `json:"steps_done"`
	TotalSteps int              `json:"total_steps"`
	Attempts   int              `json:"attempts"`
	Error      string           `json:"error,omitempty"`
	JobID      string           `json:"job_id,omitempty"`
	Savings    workflow.Savings `json:"savings"`
	Inputs     json.RawMessage  `json:"inputs,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	EnqueuedAt time.Time        `json:"enqueued_at,omitzero"`
	StartedAt  time.Time        `json:"started_at,omitzero"`
	FinishedAt time.Time        `json:"finished_at,omitzero"`
	// TotalDurationMS is the time from acceptance to finish (every attempt and the waits
	// between them); left out until the workflow is finished.
	TotalDurationMS *float64 `json:"total_duration_ms,omitempty"`
	// LastAttemptDurationMS is how long the latest finished attempt ran (its metric's
	// duration); only in the detailed view, and left out until an attempt finished.
	LastAttemptDurationMS *float64   `json:"last_attempt_duration_ms,omitempty"`
	StatusURL             string     `json:"status_url"`
	Steps                 []StepView `json:"steps,omitempty"`
	// Runs are a graph workflow's steps released (every step they need finished) and not
	// finished; only in the detailed view, and left out when there are none.
	Runs        []RunView    `json:"runs,omitempty"`
	Metrics     []MetricView `json:"metrics,omitempty"`
	withDetails bool
}

// StepView is one finished step.
type StepView struct {
	Index      int             `json:"index"`
	Name       string          `json:"name"`
	Attempt    int             `json:"attempt"`
	Output     json.RawMessage `json:"output,omitempty"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
}

// RunView is a released step of a graph workflow that has not finished.
type RunView struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Attempt is the workflow attempt that released it; one older than the workflow's
	// attempts waits for a retry.
	Attempt int    `json:"attempt"`
	State   string `json:"state"` // ready, running or failed (its last try; it runs again)
	Tries   int    `json:"tries"`
	Error   string `json:"error,omitempty"`
}

// MetricView is the record of one finished execution attempt.
type MetricView struct {
	Attempt int `json:"attempt"`
	// Status is how the attempt ended: completed, failed, retried (it failed and the queue
	// ran another) or canceled.
	Status     string    `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	Savings    float64   `json:"savings"`
	RecordedAt time.Time `json:"recorded_at"`
}

// ListView answers GET /api/workflows.
type ListView struct {
	Workflows  []WorkflowView `json:"workflows"`
	NextCursor string         `json:"next_cursor,omitempty"`
	NextURL    string         `json:"next_url,omitempty"`
}

// StatusView answers POST …/cancel.
type StatusView struct {
	WorkflowID string `json:"workflow_id"`
	Status     string `json:"status"`
	StatusURL  string `json:"status_url"`
}

// storedSavings is the estimate of a stored workflow: recomputed from its stored calculator
// inputs when they are there (so that the monthly and yearly figures match those of the 202
// answer), else extended from the stored weekly figures.
func storedSavings(w store.Workflow) workflow.Savings {
	var ctx struct {
		Inputs *workflow.CalculatorInputs `json:"calculator_inputs"`
	}
	if json.Unmarshal(w.Inputs, &ctx) == nil && ctx.Inputs != nil {
		if est := workflow.Estimate(*ctx.Inputs); est.WeeklySavings == round2(w.WeeklySavings) {
			return est
		}
	}
	return workflow.Savings{
		WeeklyHoursSaved: round2(w.WeeklyHoursSaved),
		WeeklySavings:    round2(w.WeeklySavings),
		MonthlySavings:   round2(w.WeeklySavings * workflow.WeeksPerMonth),
		YearlySavings:    round2(w.WeeklySavings * workflow.WeeksPerYear),
	}
}

func statusURL(id string) string { return "/api/workflows/" + id }

// round2 rounds money and hours to cents for display (the stored values keep full precision).
func round2(f float64) float64 { return math.Round(f*100) / 100 }

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

func msPtr(d time.Duration) *float64 {
	v := ms(d)
	return &v
}

func workflowView(w store.Workflow, details bool) WorkflowView {
	v := WorkflowView{
		ID: w.ID, AgentID: w.AgentID, Type: w.Type, Mode: w.Mode, Status: string(w.Status),
		StepsDone: w.CurrentStep, TotalSteps: w.TotalSteps, Attempts: w.Attempts, Error: w.Error,
		JobID:     w.JobID,
		Savings:   storedSavings(w),
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, EnqueuedAt: w.EnqueuedAt,
		StartedAt: w.StartedAt, FinishedAt: w.FinishedAt, StatusURL: statusURL(w.ID),
	}
	if !w.FinishedAt.IsZero() {
		v.TotalDurationMS = msPtr(w.TotalDuration())
	}
	if details {
		v.withDetails = true
		if m, ok := w.LastAttempt(); ok {
			v.LastAttemptDurationMS = msPtr(m.Duration)
		}
		if len(w.Inputs) > 0 && json.Valid(w.Inputs) {
			v.Inputs = w.Inputs
		}
		v.Steps = make([]StepView, 0, len(w.Steps))
		for _, s := range w.Steps {
			v.Steps = append(v.Steps, StepView{Index: s.Index, Name: s.Name, Attempt: s.Attempt, Output: validOrNil(s.Output), FinishedAt: s.FinishedAt})
		}
		for _, r := range w.Runs {
			v.Runs = append(v.Runs, RunView{Index: r.Index, Name: r.Name, Attempt: r.Attempt, State: string(r.State), Tries: r.Tries, Error: r.Error})
		}
		v.Metrics = make([]MetricView, 0, len(w.Metrics))
		for _, m := range w.Metrics {
			v.Metrics = append(v.Metrics, MetricView{Attempt: m.Attempt, Status: string(m.Status),
				DurationMS: ms(m.Duration), Savings: round2(m.Savings), RecordedAt: m.RecordedAt})
		}
	}
	return v
}

// MarshalJSON always writes steps and metrics (possibly empty) for a detailed view and
// never for a list entry.
func (v WorkflowView) MarshalJSON() ([]byte, error) {
	type plain WorkflowView
	if !v.withDetails {
		v.Steps, v.Metrics = nil, nil
		return json.Marshal(plain(v))
	}
	return json.Marshal(struct {
		plain
		Steps   []StepView   `json:"steps"`
		Metrics []MetricView `json:"metrics"`
	}{plain(v), nonNil(v.Steps), nonNil(v.Metrics)})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func validOrNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}
