package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/notify"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// JobNotify is the job type of one notification (one event, one channel), registered by
// Engine.Register and enqueued on the engine's queue (Config.Queue, "workflows"): the workers
// that run a type's workflows know its channels and their secrets.
const JobNotify = "dominion.notify"

// Events a notify rule can be on.
const (
	EventCompleted = "completed"
	EventFailed    = "failed"
)

// Events returns the events a notify rule can be on.
func Events() []string { return []string{EventCompleted, EventFailed} }

// Notification retries: a channel that keeps failing is dead-lettered after these.
const NotifyMaxRetries = 5

// NotifyRule sends a notification on each of its channels when a workflow of its type reaches
// one of its events (completed, failed).
type NotifyRule struct {
	On       []string // EventCompleted and/or EventFailed
	Channels []notify.Channel
}

// NotifyPayload is the payload of a dominion.notify job. It names the notification, never
// its channel's settings: the worker reads the channel (and its secrets) from its own
// workflow types, and the workflow or report from the store.
type NotifyPayload struct {
	// WorkflowID, Attempt (the workflow's attempts when it ended), Event and Rule name a
	// workflow's notification; Week a weekly report's.
	WorkflowID string `json:"workflow_id,omitempty"`
	Attempt    int    `json:"attempt,omitempty"`
	Event      string `json:"event"`
	Rule       int    `json:"rule"`
	Week       string `json:"week,omitempty"`
	Channel    int    `json:"channel"`
	Kind       string `json:"kind"` // the channel's kind, for people reading the job
}

// eventReport is the event of a weekly report's notification.
const eventReport = "report"

// id is the job id of the notification, also its idempotency key: the same for every enqueue
// of one event, so that a relay or a rerun of the workflow's job enqueues it once.
func (p NotifyPayload) id() string {
	if p.Week != "" {
		return fmt.Sprintf("notify:report:%s:%d", p.Week, p.Channel)
	}
	return fmt.Sprintf("notify:%s:%d:%s:%d:%d", p.WorkflowID, p.Attempt, p.Event, p.Rule, p.Channel)
}

func checkRules(rules []NotifyRule) ([]NotifyRule, error) {
	out := slices.Clone(rules)
	for i := range out {
		r := &out[i]
		if err := checkRule(r); err != nil {
			return nil, &ruleError{index: i, err: err}
		}
	}
	return out, nil
}

func checkRule(r *NotifyRule) error {
	if len(r.On) == 0 {
		return fmt.Errorf("on is required (one or more of: %s)", strings.Join(Events(), ", "))
	}
	for _, ev := range r.On {
		if !slices.Contains(Events(), ev) {
			return fmt.Errorf("on: unknown event %q (known: %s)", ev, strings.Join(Events(), ", "))
		}
	}
	if len(r.Channels) == 0 {
		return errors.New("channels is required: at least one")
	}
	r.Channels = slices.Clone(r.Channels)
	for j := range r.Channels {
		if err := r.Channels[j].Check(); err != nil {
			return &channelError{index: j, kind: r.Channels[j].Kind, err: err}
		}
	}
	return nil
}

// ruleError names the notify rule a problem is in.
type ruleError struct {
	index int
	err   error
}

func (e *ruleError) Error() string { return fmt.Sprintf("notify rule %d: %v", e.index+1, e.err) }
func (e *ruleError) Unwrap() error { return e.err }

// channelError names the channel a problem is in.
type channelError struct {
	index int
	kind  string
	err   error
}

func (e *channelError) Error() string {
	kind := ""
	if slices.Contains(notify.Kinds(), e.kind) {
		kind = " (" + e.kind + ")"
	}
	return fmt.Sprintf("channel %d%s: %v", e.index+1, kind, e.err)
}
func (e *channelError) Unwrap() error { return e.err }

// announce enqueues the notifications of w's final status (completed or failed) under their
// deterministic ids; one already enqueued is left alone. An error means some were not
// enqueued: the caller makes the workflow's job run again (queue.Unavailable), and the rerun,
// finding the workflow finished, announces it again.
func (e *Engine) announce(ctx context.Context, w store.Workflow) error {
	if e.client == nil {
		return nil
	}
	typ, ok := e.types.Get(w.Type)
	if !ok {
		return nil
	}
	ev := string(w.Status)
	for i, r := range typ.Notify {
		if !slices.Contains(r.On, ev) {
			continue
		}
		for j, ch := range r.Channels {
			p := NotifyPayload{WorkflowID: w.ID, Attempt: w.Attempts, Event: ev, Rule: i, Channel: j, Kind: ch.Kind}
			if err := e.enqueueNotify(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// announceAfter announces w (see announce) after the workflow's job finished it. A failure
// becomes queue.Unavailable: the job runs again, attempt given back, and announces it then.
func (e *Engine) announceAfter(ctx context.Context, w store.Workflow) error {
	if err := e.announce(context.WithoutCancel(ctx), w); err != nil {
		e.log.WarnContext(ctx, "workflow finished; its notifications are not enqueued yet (the job runs again to enqueue them)",
			"workflow_id", w.ID, "status", w.Status, "err", err)
		return queue.Unavailable(fmt.Errorf("workflow %s is %s; enqueue its notifications: %w", w.ID, w.Status, err))
	}
	return nil
}

// announceReport enqueues the notifications of weekly report r on the report channels.
func (e *Engine) announceReport(ctx context.Context, r store.WeeklyReport) error {
	if e.client == nil {
		return nil
	}
	for j, ch := range e.types.ReportChannels() {
		p := NotifyPayload{Week: r.Week, Event: eventReport, Channel: j, Kind: ch.Kind}
		if err := e.enqueueNotify(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) enqueueNotify(ctx context.Context, p NotifyPayload) error {
	_, err := e.client.Enqueue(ctx, JobNotify, p, queue.WithID(p.id()), queue.OnQueue(e.queue),
		queue.MaxRetries(NotifyMaxRetries))
	if err != nil && !errors.Is(err, queue.ErrDuplicateJob) {
		return fmt.Errorf("enqueue notification %s: %w", p.id(), err)
	}
	return nil
}

// handleNotify sends one notification, with the job id as its idempotency key.
func (e *Engine) handleNotify(ctx context.Context, job *queue.Job) (any, error) {
	var p NotifyPayload
	if err := job.Decode(&p); err != nil {
		return nil, err
	}
	ch, msg, err := e.notification(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := e.sender.Send(ctx, ch, msg, job.ID); err != nil {
		return nil, err
	}
	e.log.InfoContext(ctx, "notification sent", "event", msg.Event, "channel", ch, "job_id", job.ID)
	return map[string]string{"event": msg.Event, "channel": ch.Describe()}, nil
}

// notification finds the channel and builds the message of p.
func (e *Engine) notification(ctx context.Context, p NotifyPayload) (notify.Channel, notify.Message, error) {
	if p.Week != "" {
		chs := e.types.ReportChannels()
		if p.Channel < 0 || p.Channel >= len(chs) {
			return notify.Channel{}, notify.Message{}, queue.NoRetry(fmt.Errorf("weekly report channel %d is not configured here (%d configured)", p.Channel+1, len(chs)))
		}
		r, err := e.store.Report(ctx, p.Week)
		if err != nil {
			return notify.Channel{}, notify.Message{}, notFoundFinal(fmt.Errorf("weekly report %s: %w", p.Week, err))
		}
		return chs[p.Channel], reportMessage(r), nil
	}
	w, err := e.store.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return notify.Channel{}, notify.Message{}, notFoundFinal(fmt.Errorf("workflow %s: %w", p.WorkflowID, err))
	}
	typ, ok := e.types.Get(w.Type)
	if !ok || p.Rule < 0 || p.Rule >= len(typ.Notify) || p.Channel < 0 || p.Channel >= len(typ.Notify[p.Rule].Channels) {
		return notify.Channel{}, notify.Message{}, queue.NoRetry(fmt.Errorf("workflow type %q has no notify rule %d channel %d in this worker's configuration", w.Type, p.Rule+1, p.Channel+1))
	}
	return typ.Notify[p.Rule].Channels[p.Channel], workflowMessage(w, p.Event), nil
}

// notFoundFinal marks an error that says the workflow or report is gone as permanent.
func notFoundFinal(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return queue.NoRetry(err)
	}
	return err
}

// NotifiedWorkflow is a webhook notification's "data" for a workflow.
type NotifiedWorkflow struct {
	ID               string    `json:"id"`
	Type             string    `json:"type"`
	AgentID          string    `json:"agent_id"`
	Status           string    `json:"status"`
	Error            string    `json:"error,omitempty"`
	Attempts         int       `json:"attempts"`
	WeeklyHoursSaved float64   `json:"weekly_hours_saved"`
	WeeklySavings    float64   `json:"weekly_savings"`
	CreatedAt        time.Time `json:"created_at"`
	FinishedAt       time.Time `json:"finished_at"`
	TotalDurationMS  int64     `json:"total_duration_ms"`
}

func workflowMessage(w store.Workflow, event string) notify.Message {
	text := fmt.Sprintf("Workflow %s (%s) for agent %s %s", w.ID, w.Type, w.AgentID, event)
	if event == EventFailed && w.Error != "" {
		text += ": " + w.Error
	}
	text += fmt.Sprintf(".\nEstimated savings: $%.2f a week (%.2f hours).", w.WeeklySavings, w.WeeklyHoursSaved)
	return notify.Message{
		Event:   "workflow." + event,
		Subject: fmt.Sprintf("Workflow %s %s %s", w.Type, w.ID, event),
		Text:    text,
		Data: NotifiedWorkflow{ID: w.ID, Type: w.Type, AgentID: w.AgentID, Status: string(w.Status), Error: w.Error,
			Attempts: w.Attempts, WeeklyHoursSaved: w.WeeklyHoursSaved, WeeklySavings: w.WeeklySavings,
			CreatedAt: w.CreatedAt, FinishedAt: w.FinishedAt, TotalDurationMS: w.TotalDuration().Milliseconds()},
	}
}

func reportMessage(r store.WeeklyReport) notify.Message {
	v := ViewReport(r)
	return notify.Message{
		Event:   "report.weekly",
		Subject: "Dominion weekly report " + v.Week,
		Text: fmt.Sprintf("Weekly report %s: %d workflows, %d completed, %d failed, %d canceled (%.0f%% completed); savings $%.2f.",
			v.Week, v.Total, v.Completed, v.Failed, v.Canceled, v.CompletionRate*100, v.TotalSavings),
		Data: v,
	}
}

// reannounce announces workflow id, found completed or failed by a rerun of its job.
func (e *Engine) reannounce(ctx context.Context, id string, status store.Status) error {
	if e.client == nil || !slices.Contains(Events(), string(status)) {
		return nil
	}
	w, err := e.store.GetWorkflow(ctx, id)
	if err != nil {
		return fmt.Errorf("workflow %s: read it to enqueue its notifications: %w", id, err)
	}
	return e.announceAfter(ctx, w)
}
