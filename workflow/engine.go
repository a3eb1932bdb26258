// Package workflow is Dominion's workflow service: workflow types (named lists of steps, from a
// YAML file and from Go code), the savings calculator, submission with a transactional outbox,
// execution as queue jobs that resume after the last finished step, cancellation, retries,
// clean-up, weekly reports, and the notifications sent when a workflow ends or a report is
// generated (one dominion.notify job per channel and event, enqueued once: see notify.go).
//
// The flow of one workflow:
//
//	Submit ──► store.CreateWorkflow (queued; the row is the outbox)
//	       └─► queue.Client.Enqueue("execute_workflow", job id = workflow id) ──► MarkEnqueued
//	             (on failure: answer anyway; RunRelay enqueues it when the queue is back)
//	worker ──► execute_workflow ──► StartAttempt ─► for each step from CurrentStep:
//	             check not canceled ─► run ─► RecordStep  ──► FinishWorkflow (+ metric)
//
// A graph type (steps with needs) runs each step as its own job instead (see graphrun.go):
//
//	worker ──► execute_workflow ──► store.StartGraph (releases the steps needing nothing)
//	             ─► enqueue execute_workflow_step <job id>:<step> per released step
//	worker ──► execute_workflow_step ──► run ─► store.FinishStep (records it, releases what it
//	             unblocked, or completes the workflow) ─► enqueue the released steps' jobs
//
// When the store and the queue share one SQLite database and its writer (embedded mode,
// Config.EnqueueIn), Submit stores the workflow, already marked enqueued, and its job in one
// transaction instead: one commit, and no outbox to relay.
package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/internal/clock"
	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/internal/logging"
	"github.com/codex-dominion/dominion/internal/notify"
	"github.com/codex-dominion/dominion/internal/smtpmail"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// Job types registered by Engine.Register.
const (
	JobExecute = "execute_workflow"       // payload {"workflow_id": "…"}
	JobCleanup = "cleanup_old_workflows"  // payload {"days": 30} (optional, default 30)
	JobReport  = "generate_weekly_report" // payload {} (or none)
)

// DefaultQueue is the queue workflows are executed on (the seed's RQ queue "workflows").
const DefaultQueue = "workflows"

// DefaultCleanupDays is how old a finished workflow must be for cleanup_old_workflows to
// delete it when no days are given.
const DefaultCleanupDays = 30

// Modes of a request.
const (
	// ModeExecute stores and runs the workflow (Submit).
	ModeExecute = "execute"
	// ModePreview only computes the savings estimate (Preview).
	ModePreview = "preview"
)

// Modes returns the modes a Request may have.
func Modes() []string { return []string{ModeExecute, ModePreview} }

// Limits on request fields. Anything beyond them is refused as absurd.
const (
	MaxAgentIDLen        = 200
	MaxContextBytes      = 64 << 10
	MaxTasksPerWeek      = 1_000_000
	MaxTimePerTaskMin    = 7 * 24 * 60 // a whole week
	MaxHourlyWage        = 1_000_000
	MaxAutomationPercent = 100
)

// Error codes of InputError.
const (
	CodeRequired    = "required"
	CodeInvalid     = "invalid"
	CodeOutOfRange  = "out_of_range"
	CodeUnknownType = "unknown_workflow_type"
	CodeUnknownMode = "unknown_mode"
	CodeKeyReused   = "idempotency_key_reused"
)

// InputError is a validation failure the API turns into a 400
// {"error":{"code","message","field"}}. Field is the JSON path of the offending field in the
// /api/chat body (e.g. "context.calculator_inputs.hourly_wage").
type InputError struct {
	Field, Code, Message string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// AsInputError returns the *InputError in err's chain, if any.
func AsInputError(err error) (*InputError, bool) {
	var ie *InputError
	ok := errors.As(err, &ie)
	return ie, ok
}

// Request is one /api/chat request, decoded by the API.
type Request struct {
	AgentID string
	Mode    string // ModeExecute or ModePreview
	Type    string // context.workflow_type
	Inputs  CalculatorInputs
	// Context is the whole "context" object, stored with the workflow (it normally holds
	// workflow_type and calculator_inputs too). Empty: the engine stores
	// {"workflow_type": Type, "calculator_inputs": Inputs}.
	Context json.RawMessage
	// IdempotencyKey (the Idempotency-Key header) makes a retried Submit answer with the
	// workflow the first one created, instead of creating another: a client that did not
	// get the answer (a timeout, a dropped connection) can send the request again safely.
	IdempotencyKey string
}

// Accepted is the answer to a Submit.
type Accepted struct {
	Workflow store.Workflow
	// JobID is the queue job that runs (or will run) the workflow: the workflow id.
	JobID string
	// Enqueued is false when the queue could not be reached: the workflow waits in the
	// outbox and the relay enqueues it as soon as the queue is back.
	Enqueued bool
	Savings  Savings
	// Replayed is true when the request's idempotency key had created the workflow before:
	// nothing new was created.
	Replayed bool
}

// SMTPConfig is how email steps and email notifications reach their SMTP server. Password is
// never printed.
type SMTPConfig = smtpmail.Config

// Config configures an Engine. Store, Client and Types are needed; the rest have defaults.
type Config struct {
	Store  store.Store
	Client *queue.Client // nil: nothing is enqueued (workflows wait in the outbox)
	Types  *Registry     // nil: DefaultTypes()
	SMTP   SMTPConfig
	// HTTPClient sends the http steps' requests (default: a client that does not follow
	// redirects; each step's timeout bounds its request).
	HTTPClient *http.Client
	// StepTransport, when set, is the default HTTPClient's transport (tracing wraps
	// http.DefaultTransport in it).
	StepTransport http.RoundTripper
	Logger        *slog.Logger // default slog.Default()
	Queue         string       // default "workflows"

	// MaxRetries is how many times a failed execute_workflow job is retried by the queue
	// (with backoff) before the workflow is marked failed: 0 means queue.DefaultMaxRetries
	// (3), a negative value means none.
	MaxRetries int
	// EnqueueIn, when set, makes Submit store a new workflow's job in the transaction that
	// stores the workflow (store.NewWorkflow.Also): EnqueueIn(tx) stores jobs in tx (e.g.
	// a sqlitebroker.Tx's Enqueue). Workflow and job then commit together, with one commit
	// and no outbox mark. Set it only when the store and the queue share one database and
	// its writer (the embedded mode's one SQLite file); Retry and the relay still enqueue
	// through Client.
	EnqueueIn func(tx store.DBTX) queue.EnqueueFunc
	// EnqueueTimeout bounds Submit's and Retry's enqueue, so the API answers promptly when
	// the queue is unreachable (default 3 s).
	EnqueueTimeout time.Duration
	// RelayMinInterval and RelayMaxInterval bound the relay's polling while rows wait in
	// the outbox and the queue refuses them (defaults 100 ms and 5 s, doubling in between;
	// each wait a random duration in [d/2, d], so that the relays of many processes do not
	// retry in step).
	RelayMinInterval, RelayMaxInterval time.Duration
	// RelaySweep is how often an idle relay looks at the outbox anyway, for rows left by
	// another process that died before its relay ran (default 1 min; negative: never).
	RelaySweep time.Duration
	// ReconcileInterval is how often RunRelay runs Reconcile, which finds workflows left
	// queued or running without a live job (default 1 min; negative: never);
	// ReconcileAfter is how long a workflow must be unchanged before Reconcile looks at it
	// (default 1 min).
	ReconcileInterval, ReconcileAfter time.Duration
	// Observer, when set, is told about every workflow that reaches a final status
	// (metrics).
	Observer Observer
	// Clock is the time of the clean-up's and the weekly report's periods, the outbox's and
	// the reconciler's ages (default the wall clock; give the store the same one).
	Clock clock.Clock
}

// Observer is told when a workflow reaches a final status (completed, failed, canceled) in
// this process, with how long its last attempt ran and its weekly savings.
type Observer interface {
	WorkflowFinished(typ, status string, took time.Duration, weeklySavings float64)
}

// observe tells the observer, if any, that w ended with status.
func (e *Engine) observe(w store.Workflow, status store.Status, took time.Duration) {
	if e.cfg.Observer != nil {
		e.cfg.Observer.WorkflowFinished(w.Type, string(status), took, w.WeeklySavings)
	}
}

// Engine is the workflow service. It is safe for concurrent use.
type Engine struct {
	store   store.Store
	client  *queue.Client
	types   *Registry
	smtp    SMTPConfig
	http    *http.Client
	sender  notify.Sender
	log     *slog.Logger
	queue   string
	retries int
	cfg     Config
	wake    chan struct{}
	clock   clock.Clock
}

// NewEngine returns an engine on cfg.
func NewEngine(cfg Config) *Engine {
	if cfg.Types == nil {
		cfg.Types = DefaultTypes()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Queue == "" {
		cfg.Queue = DefaultQueue
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Transport:     cfg.StepTransport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.EnqueueTimeout <= 0 {
		cfg.EnqueueTimeout = 3 * time.Second
	}
	if cfg.RelayMinInterval <= 0 {
		cfg.RelayMinInterval = 100 * time.Millisecond
	}
	if cfg.RelayMaxInterval <= 0 {
		cfg.RelayMaxInterval = 5 * time.Second
	}
	if cfg.RelayMaxInterval < cfg.RelayMinInterval {
		cfg.RelayMaxInterval = cfg.RelayMinInterval
	}
	if cfg.RelaySweep == 0 {
		cfg.RelaySweep = time.Minute
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = time.Minute
	}
	if cfg.ReconcileAfter <= 0 {
		cfg.ReconcileAfter = time.Minute
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = queue.DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	return &Engine{
		store: cfg.Store, client: cfg.Client, types: cfg.Types, smtp: cfg.SMTP,
		http: cfg.HTTPClient, sender: notify.Sender{HTTP: cfg.HTTPClient, SMTP: cfg.SMTP}, log: cfg.Logger.With("component", "workflow"), queue: cfg.Queue,
		retries: retries, cfg: cfg, wake: make(chan struct{}, 1), clock: clock.OrReal(cfg.Clock),
	}
}

// Types returns the known workflow types, sorted by name.
func (e *Engine) Types() []Type { return e.types.List() }

// Registry returns the engine's workflow types.
func (e *Engine) Registry() *Registry { return e.types }

// Validate checks a request and returns an *InputError for the first problem: a missing
// agent_id or mode, an unknown mode, a missing (in execute mode) or unknown workflow type
// (the message lists the known ones), a context that is not a JSON object or is too large,
// calculator inputs that are negative, not finite or absurd, or an automation_percent outside
// 0–100.
func (e *Engine) Validate(r Request) error {
	agent := strings.TrimSpace(r.AgentID)
	switch {
	case agent == "":
		return &InputError{Field: "agent_id", Code: CodeRequired, Message: "agent_id is required"}
	case len(r.AgentID) > MaxAgentIDLen:
		return &InputError{Field: "agent_id", Code: CodeInvalid,
			Message: fmt.Sprintf("agent_id is longer than %d bytes", MaxAgentIDLen)}
	case !printable(r.AgentID):
		return &InputError{Field: "agent_id", Code: CodeInvalid,
			Message: "agent_id must be printable UTF-8 text without control characters"}
	}
	switch r.Mode {
	case "":
		return &InputError{Field: "mode", Code: CodeRequired,
			Message: fmt.Sprintf("mode is required (one of: %s)", strings.Join(Modes(), ", "))}
	case ModeExecute, ModePreview:
	default:
		return &InputError{Field: "mode", Code: CodeUnknownMode,
			Message: fmt.Sprintf("unknown mode %q (known: %s)", httpx.ClipTo(r.Mode, 50), strings.Join(Modes(), ", "))}
	}
	if len(r.Context) > 0 {
		if len(r.Context) > MaxContextBytes {
			return &InputError{Field: "context", Code: CodeInvalid,
				Message: fmt.Sprintf("context is %d bytes, over the %d-byte limit", len(r.Context), MaxContextBytes)}
		}
		if !json.Valid(r.Context) || !isObject(r.Context) {
			return &InputError{Field: "context", Code: CodeInvalid, Message: "context must be a JSON object"}
		}
	}
	if r.Type == "" {
		if r.Mode == ModeExecute {
			return &InputError{Field: "context.workflow_type", Code: CodeRequired,
				Message: fmt.Sprintf("workflow_type is required (known: %s)", strings.Join(e.types.Names(), ", "))}
		}
	} else if _, ok := e.types.steps(r.Type); !ok {
		return &InputError{Field: "context.workflow_type", Code: CodeUnknownType,
			Message: fmt.Sprintf("unknown workflow type %q (known: %s)", httpx.ClipTo(r.Type, 100), strings.Join(e.types.Names(), ", "))}
	}
	return ValidateInputs(r.Inputs)
}

// isObject reports whether the valid JSON value raw is an object.
func isObject(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// ValidateInputs checks calculator inputs alone (see Validate).
func ValidateInputs(in CalculatorInputs) error {
	fields := []struct {
		name  string
		value float64
		max   float64
		unit  string
	}{
		{"tasks_per_week", in.TasksPerWeek, MaxTasksPerWeek, ""},
		{"time_per_task_minutes", in.TimePerTaskMinutes, MaxTimePerTaskMin, " (a week)"},
		{"hourly_wage", in.HourlyWage, MaxHourlyWage, ""},
		{"automation_percent", in.AutomationPercent, MaxAutomationPercent, ""},
	}
	for _, f := range fields {
		field := "context.calculator_inputs." + f.name
		switch {
		case math.IsNaN(f.value) || math.IsInf(f.value, 0):
			return &InputError{Field: field, Code: CodeInvalid, Message: f.name + " must be a finite number"}
		case f.value < 0:
			return &InputError{Field: field, Code: CodeOutOfRange,
				Message: fmt.Sprintf("%s must not be negative (got %g)", f.name, f.value)}
		case f.value > f.max:
			if f.name == "automation_percent" {
				return &InputError{Field: field, Code: CodeOutOfRange,
					Message: fmt.Sprintf("automation_percent must be between 0 and 100 (got %g)", f.value)}
			}
			return &InputError{Field: field, Code: CodeOutOfRange,
				Message: fmt.Sprintf("%s must be at most %g%s (got %g)", f.name, f.max, f.unit, f.value)}
		}
	}
	return nil
}

// Preview validates r and returns its savings estimate; it stores nothing.
func (e *Engine) Preview(r Request) (Savings, error) {
	if err := e.Validate(r); err != nil {
		return Savings{}, err
	}
	return Estimate(r.Inputs), nil
}

// Submit validates r (its mode must be execute), stores the workflow (queued; the row is the
// outbox) and enqueues execute_workflow on the engine's queue with the workflow id as job id.
// A queue failure is not an error: Accepted.Enqueued is false and the relay enqueues the
// workflow when the queue is back. Errors are *InputError for bad input, or store errors.
func (e *Engine) Submit(ctx context.Context, r Request) (Accepted, error) {
	if err := e.validateExecute(r); err != nil {
		return Accepted{}, err
	}
	sav := Estimate(r.Inputs)
	nw, err := e.newWorkflow(r, sav)
	if err != nil {
		return Accepted{}, err
	}
	together := e.cfg.EnqueueIn != nil && e.client != nil
	if together {
		if err := e.withJob(ctx, &nw); err != nil {
			return Accepted{}, err
		}
	}
	w, err := e.store.CreateWorkflow(ctx, nw)
	switch {
	case errors.Is(err, store.ErrReplayed):
		return e.replay(w, sav), nil
	case errors.Is(err, store.ErrKeyReused):
		return Accepted{}, &InputError{Field: "Idempotency-Key", Code: CodeKeyReused,
			Message: "this idempotency key was sent before with a different request; use a new key for a new request"}
	case err != nil:
		return Accepted{}, fmt.Errorf("workflow: store new %s workflow: %w", r.Type, err)
	}
	acc := Accepted{Workflow: w, JobID: jobIDFor(w), Savings: sav}
	if together {
		acc.Enqueued = true
		e.accepted(ctx, w, acc.JobID, sav)
		return acc, nil
	}
	return e.enqueueAccepted(ctx, acc), nil
}

// validateExecute validates r as Submit takes it: valid, and in mode execute.
func (e *Engine) validateExecute(r Request) error {
	if err := e.Validate(r); err != nil {
		return err
	}
	if r.Mode != ModeExecute {
		return &InputError{Field: "mode", Code: CodeInvalid,
			Message: fmt.Sprintf("only mode %q runs a workflow (got %q)", ModeExecute, r.Mode)}
	}
	return nil
}

// newWorkflow is the row Submit stores for r, whose estimate is sav: its context as sent, or
// else one made of its type and inputs, and its fingerprint when it has an idempotency key.
func (e *Engine) newWorkflow(r Request, sav Savings) (store.NewWorkflow, error) {
	steps, _ := e.types.steps(r.Type)
	stored := r.Context
	if len(stored) == 0 {
		var err error
		stored, err = json.Marshal(map[string]any{"workflow_type": r.Type, "calculator_inputs": r.Inputs})
		if err != nil {
			return store.NewWorkflow{}, fmt.Errorf("workflow: encode context: %w", err)
		}
	}
	nw := store.NewWorkflow{
		AgentID: r.AgentID, Type: r.Type, Mode: r.Mode, Inputs: stored,
		TotalSteps: steps, WeeklyHoursSaved: sav.WeeklyHoursSaved, WeeklySavings: sav.WeeklySavings,
	}
	if r.IdempotencyKey != "" {
		nw.IdempotencyKey, nw.Fingerprint = r.IdempotencyKey, fingerprint(nw)
	}
	return nw, nil
}

// enqueueAccepted enqueues the execute_workflow job of the workflow acc has just stored, within
// the engine's enqueue timeout, and returns acc updated. A queue failure leaves the workflow in
// the outbox for the relay, and acc.Enqueued false.
func (e *Engine) enqueueAccepted(ctx context.Context, acc Accepted) Accepted {
	w := acc.Workflow
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.EnqueueTimeout)
	defer cancel()
	jobID, err := e.enqueue(ectx, w)
	if err != nil {
		// The relay warns once about the queue's outage, not once per workflow.
		e.log.Info("workflow accepted; waiting in the outbox until the queue answers",
			"workflow_id", w.ID, "type", w.Type, "err", err)
		e.Wake()
		return acc
	}
	acc.Enqueued, acc.JobID = true, jobID
	acc.Workflow.JobID = jobID
	if acc.Workflow.EnqueuedAt.IsZero() {
		acc.Workflow.EnqueuedAt = e.clock.Now().UTC()
	}
	e.accepted(ctx, w, jobID, acc.Savings)
	return acc
}

// withJob makes nw's insert store its execute_workflow job too, in the same transaction
// (Config.EnqueueIn): nw gets its id (the job's) now, and is stored as enqueued.
func (e *Engine) withJob(ctx context.Context, nw *store.NewWorkflow) error {
	id, err := store.NewID()
	if err != nil {
		return fmt.Errorf("workflow: new %s workflow: %w", nw.Type, err)
	}
	nw.ID, nw.JobID = id, id
	nw.Also = func(tx store.DBTX) error {
		ectx := ctx
		if c, ok := tx.(queue.Committer); ok { // what middleware counts waits for the commit
			ectx = queue.InTransaction(ctx, c)
		}
		_, err := e.client.EnqueueVia(ectx, e.cfg.EnqueueIn(tx), JobExecute, ExecutePayload{WorkflowID: id},
			queue.WithID(id), queue.OnQueue(e.queue), queue.MaxRetries(e.retries))
		return err
	}
	return nil
}

// accepted logs an accepted workflow, enqueued as job jobID: on the line of the HTTP request
// that sent it (logging.Annotate), or else on a line of its own.
func (e *Engine) accepted(ctx context.Context, w store.Workflow, jobID string, sav Savings) {
	attrs := []slog.Attr{slog.String("workflow_id", w.ID), slog.String("type", w.Type),
		slog.String("job_id", jobID), slog.Float64("weekly_savings", sav.WeeklySavings)}
	if !logging.Annotate(ctx, attrs...) {
		e.log.LogAttrs(ctx, slog.LevelInfo, "workflow accepted", attrs...)
	}
}

// replay is the answer to a Submit whose idempotency key created w before. A workflow
// still in the outbox wakes the relay, as a new one whose enqueue failed does.
func (e *Engine) replay(w store.Workflow, sav Savings) Accepted {
	if !w.Enqueued() && w.Status == store.StatusQueued {
		e.Wake()
	}
	e.log.Info("workflow request replayed (idempotency key)", "workflow_id", w.ID, "status", w.Status)
	return Accepted{Workflow: w, JobID: jobIDFor(w), Enqueued: w.Enqueued(), Savings: sav, Replayed: true}
}

// fingerprint identifies a request by what it stores, so that an idempotency key sent again
// with another request is told apart.
func fingerprint(nw store.NewWorkflow) string {
	h := sha256.New()
	for _, part := range []string{nw.AgentID, nw.Type, nw.Mode, string(nw.Inputs)} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Get returns one workflow with its finished steps and metrics (store.ErrNotFound if none).
func (e *Engine) Get(ctx context.Context, id string) (store.Workflow, error) {
	return e.store.GetWorkflow(ctx, id)
}

// List returns a page of workflows, newest first.
func (e *Engine) List(ctx context.Context, f store.ListFilter) (store.Page, error) {
	if f.Status != "" && !f.Status.Valid() {
		return store.Page{}, &InputError{Field: "status", Code: CodeInvalid,
			Message: fmt.Sprintf("unknown status %q (known: queued, running, completed, failed, canceled)", httpx.ClipTo(string(f.Status), 50))}
	}
	if f.Limit < 0 {
		return store.Page{}, &InputError{Field: "limit", Code: CodeOutOfRange, Message: "limit must not be negative"}
	}
	return e.store.ListWorkflows(ctx, f)
}

// Cancel cancels a queued or running workflow and its queue job (a graph workflow's step
// jobs too); a running workflow stops before its next step (and a delay or http step in
// progress is interrupted). It returns the
// workflow's status; for a workflow already finished, that status and an error wrapping
// store.ErrConflict.
func (e *Engine) Cancel(ctx context.Context, id string) (store.Status, error) {
	// The job first: once its cancellation is requested, the job ends canceled whatever its
	// handler does next, even when the handler sees the canceled workflow before its context
	// is canceled and stops without an error.
	jobCanceled := false
	if e.client != nil {
		if w, err := e.store.GetWorkflow(ctx, id); err == nil && !w.Status.Final() {
			e.cancelJob(ctx, w)
			jobCanceled = true
		}
	}
	st, err := e.store.CancelWorkflow(ctx, id)
	var se *store.StateError
	if jobCanceled && errors.As(err, &se) && se.Status == store.StatusCanceled {
		// The job's handler saw its cancellation first and canceled the workflow itself.
		return store.StatusCanceled, nil
	}
	if err == nil && st == store.StatusCanceled && e.cfg.Observer != nil {
		if w, gerr := e.store.GetWorkflow(ctx, id); gerr == nil {
			e.observe(w, st, 0)
		}
	}
	return st, err
}

// cancelJob cancels the queue job of workflow w. A failure is logged, not returned: the
// workflow is canceled in the store, and a job that runs later sees that and stops.
func (e *Engine) cancelJob(ctx context.Context, w store.Workflow) {
	jobID := w.JobID
	if jobID == "" {
		jobID = jobIDFor(w)
	}
	if _, err := e.client.Cancel(ctx, jobID); err != nil &&
		!errors.Is(err, queue.ErrJobNotFound) && !errors.Is(err, queue.ErrInvalidState) {
		e.log.Warn("workflow canceled; its queue job could not be canceled (it will stop by itself)",
			"workflow_id", w.ID, "job_id", jobID, "err", err)
	}
	e.cancelRuns(ctx, w, "")
}

// Retry sends a failed or canceled workflow back to queued and enqueues it again, under a new
// job id (<workflow id>-r<attempts>, since the old job id exists). Execution resumes after the
// last finished step. A queue failure leaves it in the outbox for the relay.
func (e *Engine) Retry(ctx context.Context, id string) (store.Workflow, error) {
	w, err := e.store.RetryWorkflow(ctx, id)
	if err != nil {
		return w, err
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.EnqueueTimeout)
	defer cancel()
	jobID, err := e.enqueue(ectx, w)
	if err != nil {
		e.log.Warn("workflow retried but not enqueued; the relay will enqueue it", "workflow_id", id, "err", err)
		e.Wake()
		return w, nil
	}
	w.JobID = jobID
	if w.EnqueuedAt.IsZero() {
		w.EnqueuedAt = e.clock.Now().UTC()
	}
	e.log.Info("workflow retried", "workflow_id", id, "job_id", jobID, "resume_at_step", w.CurrentStep)
	return w, nil
}

// Report returns the stored weekly report of an ISO week ("2026-W05"); week "" means the
// latest. store.ErrNotFound when there is none; an *InputError for a malformed week.
func (e *Engine) Report(ctx context.Context, week string) (store.WeeklyReport, error) {
	if week == "" {
		return e.store.LatestReport(ctx)
	}
	if _, err := store.ParseISOWeek(week); err != nil {
		return store.WeeklyReport{}, &InputError{Field: "week", Code: CodeInvalid,
			Message: fmt.Sprintf("week %q is not an ISO week like 2026-W05", httpx.ClipTo(week, 20))}
	}
	return e.store.Report(ctx, week)
}

// CleanupOldWorkflows deletes the completed, failed and canceled workflows that finished more
// than days days ago (0 means DefaultCleanupDays) and returns how many.
func (e *Engine) CleanupOldWorkflows(ctx context.Context, days int) (int64, error) {
	if days < 0 {
		return 0, &InputError{Field: "days", Code: CodeOutOfRange, Message: fmt.Sprintf("days must not be negative (got %d)", days)}
	}
	if days == 0 {
		days = DefaultCleanupDays
	}
	cutoff := e.clock.Now().Add(-time.Duration(days) * 24 * time.Hour)
	n, err := e.store.DeleteFinishedBefore(ctx, cutoff)
	if err != nil {
		return n, fmt.Errorf("workflow: clean up workflows finished more than %d days ago: %w", days, err)
	}
	e.log.Info("old workflows cleaned up", "days", days, "deleted", n)
	return n, nil
}

// GenerateWeeklyReport summarizes the workflows created in the last 7 days (total,
// completed, failed, completion rate, total savings, average duration), stores the report
// and returns it. It is filed under the ISO week holding the middle of the period, so that
// the seed's Monday-morning run is filed under the week that just ended; a later run for the
// same week replaces it.
func (e *Engine) GenerateWeeklyReport(ctx context.Context) (store.WeeklyReport, error) {
	to := e.clock.Now().UTC()
	from := to.Add(-7 * 24 * time.Hour)
	sum, err := e.store.Summarize(ctx, from, to)
	if err != nil {
		return store.WeeklyReport{}, fmt.Errorf("workflow: summarize last 7 days: %w", err)
	}
	r, err := e.store.SaveReport(ctx, store.WeeklyReport{Week: store.ISOWeek(from.Add(to.Sub(from) / 2)), Summary: sum})
	if err != nil {
		return r, fmt.Errorf("workflow: save weekly report: %w", err)
	}
	if err := e.announceReport(context.WithoutCancel(ctx), r); err != nil {
		return r, fmt.Errorf("workflow: weekly report %s saved; enqueue its notifications: %w", r.Week, err)
	}
	e.log.Info("weekly report generated", "week", r.Week, "total", sum.Total, "completed", sum.Completed,
		"failed", sum.Failed, "completion_rate", sum.CompletionRate, "total_savings", sum.TotalSavings,
		"avg_duration", sum.AvgDuration)
	return r, nil
}

// jobIDFor is the id of the job that runs w's next attempt: the workflow id for its first
// run, <id>-r<attempts> after a Retry (the first job's id is still taken by then).
func jobIDFor(w store.Workflow) string {
	if w.Attempts == 0 {
		return w.ID
	}
	return fmt.Sprintf("%s-r%d", w.ID, w.Attempts)
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
