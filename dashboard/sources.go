package dashboard

import (
	"context"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// QueueSource is what the dashboard reads and steers the job queue through. *queue.Client
// satisfies it.
type QueueSource interface {
	Queues(ctx context.Context) ([]queue.QueueStats, error)
	List(ctx context.Context, queue string, state queue.State, offset, limit int) ([]*queue.Job, error)
	Get(ctx context.Context, id string) (*queue.Job, error)
	// Batch returns a batch's counts, which the batch page shows.
	Batch(ctx context.Context, id string) (queue.BatchStatus, error)
	Workers(ctx context.Context) ([]queue.WorkerInfo, error)
	// History returns the queues' totals that workers recorded since then (the charts' past).
	History(ctx context.Context, since time.Time) ([]queue.Sample, error)

	Retry(ctx context.Context, id string) error
	RetryAll(ctx context.Context, queue string, state queue.State) (int, error)
	Cancel(ctx context.Context, id string) (queue.State, error)
	CancelAll(ctx context.Context, queue string, state queue.State) (int, error)
	Delete(ctx context.Context, id string) error
	DeleteAll(ctx context.Context, queue string, state queue.State) (int, error)
	Pause(ctx context.Context, queue string) error
	Resume(ctx context.Context, queue string) error
	// RemoveQueue deletes a queue entirely, which the queue page's "Empty" does.
	RemoveQueue(ctx context.Context, queue string) error
}

// WorkflowSource is what the workflows and reports pages read and steer. *workflow.Engine
// satisfies it.
type WorkflowSource interface {
	Get(ctx context.Context, id string) (store.Workflow, error)
	List(ctx context.Context, f store.ListFilter) (store.Page, error)
	Cancel(ctx context.Context, id string) (store.Status, error)
	Retry(ctx context.Context, id string) (store.Workflow, error)
	// Report returns the weekly report of an ISO week ("" for the latest).
	Report(ctx context.Context, week string) (store.WeeklyReport, error)
	Types() []workflow.Type
}

// WorkflowStats gives the overview's counters of today and the reports' figures by day.
// store.Store satisfies it; so does a WorkflowSource that has these methods.
type WorkflowStats interface {
	CountsSince(ctx context.Context, t time.Time) (store.Counts, error)
	Summarize(ctx context.Context, from, to time.Time) (store.Summary, error)
}

// ScheduleSource is what the schedules page reads and steers. *queue.Scheduler satisfies it.
type ScheduleSource interface {
	List(ctx context.Context) ([]queue.ScheduleInfo, error)
	RunNow(ctx context.Context, name string) (*queue.Job, error)
	SetEnabled(ctx context.Context, name string, enabled bool) error
}
