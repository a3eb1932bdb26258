package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Status is the lifecycle state of a workflow.
//
//	queued ──StartAttempt──► running ──Finish──► completed | failed
//	  │                        │
//	  └──────Cancel────────────┴──► canceled
//	failed | canceled ──Retry──► queued
type Status string

// Workflow statuses.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// StatusRetried is the status of a metric only, never of a workflow: the attempt failed and
// the queue runs the workflow again (the workflow stays running).
const StatusRetried Status = "retried"

// Statuses lists every status in lifecycle order.
func Statuses() []Status {
	return []Status{StatusQueued, StatusRunning, StatusCompleted, StatusFailed, StatusCanceled}
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusRunning, StatusCompleted, StatusFailed, StatusCanceled:
		return true
	}
	return false
}

// Final reports whether s is a final status (completed, failed or canceled).
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCanceled
}

// Errors returned by a Store. Test them with errors.Is.
var (
	// ErrNotFound: no workflow (or report) with that id (or week).
	ErrNotFound = errors.New("not found")
	// ErrExists: CreateWorkflow was given an id that is already taken.
	ErrExists = errors.New("already exists")
	// ErrConflict: the workflow is not in a status that allows the
	// operation. The error is a *StateError carrying the current status.
	ErrConflict = errors.New("operation not allowed in current status")
	// ErrStaleAttempt: the caller's attempt number is not the workflow's
	// current attempt (another attempt took over). The caller must stop.
	ErrStaleAttempt = errors.New("stale attempt")
	// ErrInvalid: an argument is malformed (empty id, bad status, bad week…).
	ErrInvalid = errors.New("invalid argument")
	// ErrReplayed: CreateWorkflow was given an idempotency key that a workflow was already
	// created with, for the same request (the same fingerprint). CreateWorkflow returns that
	// workflow with this error and creates nothing.
	ErrReplayed = errors.New("idempotency key already used for this request")
	// ErrKeyReused: CreateWorkflow was given an idempotency key that a workflow was already
	// created with, for a different request. Nothing is created.
	ErrKeyReused = errors.New("idempotency key already used for a different request")
	// ErrNoSQLite: a SQLite store asked of a build without SQLite (the nosqlite tag: SQLite
	// is false).
	ErrNoSQLite = errors.New("this build of dominion has no SQLite (built with -tags nosqlite, as the container image is)")
)

// StateError is returned when a transition is not allowed from the
// workflow's current status. errors.Is(err, ErrConflict) is true.
type StateError struct {
	ID     string // workflow id
	Op     string // "start", "step", "finish", "cancel", "retry"
	Status Status // status the workflow is in
}

func (e *StateError) Error() string {
	return fmt.Sprintf("store: cannot %s workflow %s: it is %s", e.Op, e.ID, e.Status)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *StateError) Unwrap() error { return ErrConflict }

// NewWorkflow is what CreateWorkflow needs. The savings estimates are
// computed by the caller (workflow.Estimate; docs/workflows.md, "Savings").
type NewWorkflow struct {
	ID               string          // empty: the store generates a time-ordered UUIDv7
	AgentID          string          // required
	Type             string          // required: workflow type name
	Mode             string          // e.g. "execute"
	Inputs           json.RawMessage // JSON object (calculator inputs, context); empty means {}
	TotalSteps       int             // number of steps of the type, for progress display
	WeeklyHoursSaved float64         // estimate computed by the caller
	WeeklySavings    float64         // estimate computed by the caller

	// IdempotencyKey, when set, makes the create happen once per key: a second create with
	// the key returns the first one's workflow and ErrReplayed (ErrKeyReused when its
	// Fingerprint differs). The key is kept as long as the workflow.
	IdempotencyKey string
	// Fingerprint identifies the request the key was sent with (e.g. a hash of it).
	Fingerprint string

	// JobID, when set, stores the workflow as enqueued already under that job (job_id, and
	// enqueued_at = created_at), so that it never waits in the outbox: for a caller that
	// stores the job in the same transaction (Also). SQLite stores only (ErrInvalid else).
	JobID string
	// Also, when set, runs in the transaction that inserts the workflow, after the insert
	// (not when the id or idempotency key was taken): its error undoes the insert, and
	// CreateWorkflow returns it. With WithWriter, tx is the writer's transaction (a
	// sqlitebroker.Tx, say, that enqueues the workflow's job). SQLite stores only.
	Also func(tx DBTX) error
}

// Workflow is one stored workflow. Time fields are UTC, microsecond precision;
// a zero time means "not yet".
type Workflow struct {
	ID               string
	AgentID          string
	Type             string
	Mode             string
	Inputs           json.RawMessage
	Status           Status
	CurrentStep      int // steps finished in order = index of the next step to run
	TotalSteps       int
	Attempts         int    // execution attempts started
	Error            string // last failure reason; cleared by Retry
	JobID            string // queue job id; empty until enqueued (the outbox flag)
	WeeklyHoursSaved float64
	WeeklySavings    float64
	CreatedAt        time.Time
	UpdatedAt        time.Time
	EnqueuedAt       time.Time // zero while waiting in the outbox
	StartedAt        time.Time // start of the latest attempt
	FinishedAt       time.Time // set by Finish and Cancel, cleared by Retry

	// Steps and Metrics are filled by GetWorkflow only (nil from lists).
	Steps   []Step
	Metrics []Metric
	// Runs are the steps of a graph workflow released and not finished (GetWorkflow,
	// StartGraph and FinishStep fill it; a sequential workflow has none): a run whose
	// Attempt is the workflow's Attempts must run; an older one waits for a retry.
	Runs []StepRun
}

// Enqueued reports whether the workflow has been handed to the queue since
// it was created or last reset for retry.
func (w Workflow) Enqueued() bool { return !w.EnqueuedAt.IsZero() }

// TotalDuration is the time from acceptance (CreatedAt) to FinishedAt: every attempt, the
// waits between them and in the queue. It is 0 while the workflow is not finished.
func (w Workflow) TotalDuration() time.Duration {
	if w.FinishedAt.IsZero() || w.FinishedAt.Before(w.CreatedAt) {
		return 0
	}
	return w.FinishedAt.Sub(w.CreatedAt)
}

// LastAttempt returns the metric of the latest finished attempt; ok is false when none
// finished (or Metrics were not loaded: lists leave them out).
func (w Workflow) LastAttempt() (m Metric, ok bool) {
	if len(w.Metrics) == 0 {
		return Metric{}, false
	}
	return w.Metrics[len(w.Metrics)-1], true
}

// Step is one finished step of a workflow.
type Step struct {
	Index      int             // 0-based position in the workflow type's step list
	Name       string          // step name, informational
	Attempt    int             // the attempt that ran it (must be the current attempt)
	Output     json.RawMessage // optional JSON result, for later steps
	FinishedAt time.Time       // set by the store
}

// Metric is the record of one finished execution attempt (the seed's
// WorkflowMetric). Every attempt that ran to an outcome has one: completed, failed (the
// workflow failed with it), retried (it failed and the queue runs another) or canceled (the
// workflow was canceled while it ran). An attempt cut short by a shutdown, a crash or an
// unreachable store has none: its work is resumed by the next one.
type Metric struct {
	ID         int64
	WorkflowID string
	Attempt    int
	Status     Status // completed, failed, retried or canceled
	Duration   time.Duration
	Savings    float64
	RecordedAt time.Time
}

// Result is how an attempt ended, given to FinishWorkflow.
type Result struct {
	Attempt  int           // the attempt finishing (fencing: must be the current one)
	Status   Status        // StatusCompleted or StatusFailed (StatusRetried for RecordRetriedAttempt)
	Error    string        // failure reason (ignored for completed)
	Duration time.Duration // execution time of this attempt
	Savings  float64       // savings credited to this execution
}

// ListFilter selects workflows for ListWorkflows. Zero fields do not filter.
// Results are ordered newest first (created_at, then id, descending).
type ListFilter struct {
	Status  Status
	Type    string
	AgentID string
	Limit   int    // 0 means DefaultListLimit; capped at MaxListLimit
	Cursor  string // Page.NextCursor of the previous page; empty for the first page
}

// List limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// Page is one page of ListWorkflows.
type Page struct {
	Workflows  []Workflow
	NextCursor string // empty when there are no more results
}

// Summary aggregates the workflows created in a period [From, To).
// Completed/Failed/Canceled count those workflows by their current status;
// TotalSavings and AvgDuration come from their completed executions' metrics.
type Summary struct {
	From, To       time.Time
	Total          int64
	Completed      int64
	Failed         int64
	Canceled       int64
	CompletionRate float64 // Completed / Total, 0 when Total is 0
	TotalSavings   float64
	AvgDuration    time.Duration
}

// WeeklyReport is a stored Summary labelled by ISO week ("2026-W05").
type WeeklyReport struct {
	Week        string
	Summary     Summary // Summary.From/To are the period covered
	GeneratedAt time.Time
}

// Counts are dashboard counters. Accepted counts workflows created since
// the given time; Completed/Failed/Canceled count those that reached that
// status since then; Queued and Running are current totals.
type Counts struct {
	Since     time.Time
	Accepted  int64
	Completed int64
	Failed    int64
	Canceled  int64
	Queued    int64
	Running   int64
}

// Migration is one schema migration.
type Migration struct {
	Version int64
	Name    string
}

// Store persists workflows, their steps and metrics, and weekly reports.
// Every method that changes state is one transaction. Implementations are
// safe for concurrent use.
type Store interface {
	// CreateWorkflow inserts a workflow in status queued, not yet enqueued.
	// ErrExists if the id is taken, ErrInvalid if a required field is empty; with an
	// idempotency key already used, the workflow created with it and ErrReplayed, or
	// ErrKeyReused (see NewWorkflow.IdempotencyKey).
	CreateWorkflow(ctx context.Context, nw NewWorkflow) (Workflow, error)
	// GetWorkflow returns one workflow with its steps and metrics.
	GetWorkflow(ctx context.Context, id string) (Workflow, error)
	// ListWorkflows returns a page of workflows (without steps and metrics).
	ListWorkflows(ctx context.Context, f ListFilter) (Page, error)

	// PendingEnqueue lists queued workflows not yet enqueued (the outbox),
	// oldest first, at most limit.
	PendingEnqueue(ctx context.Context, limit int) ([]Workflow, error)
	// CountPendingEnqueue counts the outbox (what PendingEnqueue lists, without a limit), on
	// the index that serves PendingEnqueue.
	CountPendingEnqueue(ctx context.Context) (int64, error)
	// MarkEnqueued records the job id and enqueue time. Idempotent: a
	// workflow already marked keeps its first job id and time.
	MarkEnqueued(ctx context.Context, id, jobID string) error

	// StartAttempt moves a queued (or, after a crash, running) workflow to
	// running, increments Attempts and sets StartedAt. It returns the
	// workflow with its steps, so execution resumes at CurrentStep.
	// A *StateError (ErrConflict) if the workflow is completed, failed or canceled.
	StartAttempt(ctx context.Context, id string) (Workflow, error)
	// RecordStep records step.Index as finished by step.Attempt and advances
	// CurrentStep. Recording an already finished step again is a no-op.
	// *StateError if the workflow is not running (e.g. canceled meanwhile),
	// ErrStaleAttempt if step.Attempt is not the current attempt, ErrInvalid
	// if step.Index skips ahead of CurrentStep.
	RecordStep(ctx context.Context, id string, step Step) error
	// StartGraph starts graph workflow id, whose type's steps depend on each other as g
	// says: a queued workflow becomes running with a new attempt (as StartAttempt); a
	// running one keeps its attempt (its start job ran again). In the same transaction it
	// releases the steps that are not finished, not released by this attempt, and whose
	// needs are all finished (Workflow.Runs lists them with the ones released before), or
	// completes the workflow when every step is finished. A *StateError if the workflow is
	// completed, failed or canceled.
	StartGraph(ctx context.Context, id string, g Graph) (Workflow, error)
	// FinishStep records step st of graph workflow id finished by attempt st.Attempt (a step
	// finished already keeps its first record) and, in the same transaction, releases the
	// steps that needed it and now have every need finished, or, when every step of g is
	// finished, completes the workflow with its attempt's metric (duration from StartedAt,
	// the workflow's weekly savings). It returns the workflow with its steps and runs.
	// *StateError if the workflow is not running, ErrStaleAttempt if st.Attempt is not the
	// current attempt, ErrInvalid for a step outside g.
	FinishStep(ctx context.Context, id string, st Step, g Graph) (Workflow, error)
	// SetStepState records that a try of released step index of attempt started (state
	// StepRunning: Tries+1, Error cleared) or failed with msg (StepFailed). *StateError if
	// the workflow is not running, ErrStaleAttempt if attempt is not current, ErrInvalid if
	// the step is not released by it.
	SetStepState(ctx context.Context, id string, attempt, index int, state StepState, msg string) error
	// FinishWorkflow ends the running attempt as completed or failed and
	// inserts its metric, in one transaction.
	FinishWorkflow(ctx context.Context, id string, r Result) (Workflow, error)
	// RecordRetriedAttempt records that the running attempt r.Attempt failed and that the
	// queue runs the workflow again: a metric with status retried, and r.Error as the
	// workflow's Error; the workflow stays running. ErrStaleAttempt if r.Attempt is not the
	// current attempt, a *StateError if the workflow is not running.
	RecordRetriedAttempt(ctx context.Context, id string, r Result) error
	// CancelWorkflow moves a queued or running workflow to canceled and
	// returns the new status; an attempt that was running (started and with no
	// metric yet) gets a canceled metric, its duration counted to now. For any
	// other status it returns that status and a *StateError.
	CancelWorkflow(ctx context.Context, id string) (Status, error)
	// RetryWorkflow moves a failed or canceled workflow back to queued and
	// not enqueued (so it goes through the outbox again), clearing Error and
	// FinishedAt; CurrentStep and steps are kept so execution resumes.
	RetryWorkflow(ctx context.Context, id string) (Workflow, error)
	// InFlight lists workflows handed to the queue and not finished (queued or running,
	// with a job id) whose last change is older than before, in id order after the id
	// after, at most limit: the reconciler checks that each still has a live job.
	InFlight(ctx context.Context, before time.Time, after string, limit int) ([]Workflow, error)
	// AbandonWorkflow ends a queued or running workflow as failed with reason, when its
	// job can no longer run it (dead in the queue): no attempt finished, so no metric is
	// recorded. attempts must be the workflow's current Attempts (ErrStaleAttempt
	// otherwise: an attempt started meanwhile); *StateError if it is finished.
	AbandonWorkflow(ctx context.Context, id string, attempts int, reason string) (Workflow, error)
	// DeleteFinishedBefore deletes completed, failed and canceled workflows
	// (with their steps and metrics) that finished before t; returns how many.
	DeleteFinishedBefore(ctx context.Context, t time.Time) (int64, error)

	// Summarize aggregates the workflows created in [from, to).
	Summarize(ctx context.Context, from, to time.Time) (Summary, error)
	// SaveReport inserts or replaces the report of r.Week. GeneratedAt is
	// set by the store when zero.
	SaveReport(ctx context.Context, r WeeklyReport) (WeeklyReport, error)
	// Report returns the report of an ISO week "YYYY-Www"; ErrNotFound if none.
	Report(ctx context.Context, week string) (WeeklyReport, error)
	// LatestReport returns the report with the latest period; ErrNotFound if none.
	LatestReport(ctx context.Context) (WeeklyReport, error)
	// CountsSince returns dashboard counters since t (e.g. start of today).
	CountsSince(ctx context.Context, t time.Time) (Counts, error)

	// Migrate applies pending schema migrations and returns those applied
	// (none if the schema is current). Open calls it unless WithoutMigrate.
	Migrate(ctx context.Context) ([]Migration, error)
	// Dialect is "sqlite" or "postgres".
	Dialect() string
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
