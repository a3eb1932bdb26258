// Package api is Dominion's JSON HTTP API: the seed's POST /api/chat, the workflow routes,
// the weekly report, and the health probes.
//
// Every answer is JSON. Errors are {"error":{"code","message","field"}} with a 4xx status for
// bad input (nothing is stored then) and 5xx for the server's own failures; see the Code*
// constants. When a token is configured, every /api/ route needs
// "Authorization: Bearer <token>"; /healthz and /readyz stay open.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/docs"
	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/internal/logging"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// Engine is what the API needs of the workflow engine (*workflow.Engine).
type Engine interface {
	Submit(ctx context.Context, req workflow.Request) (workflow.Accepted, error)
	Preview(req workflow.Request) (workflow.Savings, error)
	Get(ctx context.Context, id string) (store.Workflow, error)
	List(ctx context.Context, f store.ListFilter) (store.Page, error)
	Cancel(ctx context.Context, id string) (store.Status, error)
	Retry(ctx context.Context, id string) (store.Workflow, error)
	Types() []workflow.Type
	Report(ctx context.Context, week string) (store.WeeklyReport, error)
}

// Check is one dependency /readyz checks: Ping must return within the probe's deadline.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Config configures the API.
type Config struct {
	Engine Engine
	// Token, when not empty, is required as "Authorization: Bearer <token>" on /api/ routes.
	Token string
	// Checks are the dependencies /readyz reports on (store, queue).
	Checks []Check
	// ReadyTimeout bounds one /readyz probe (default 2 s).
	ReadyTimeout time.Duration
	// Logger receives one line per request (default slog.Default()).
	Logger *slog.Logger
	// Queue, when set, serves the job routes (/api/jobs, /api/queues, /api/workers,
	// /api/schedules); Schedules lists the schedules of /api/schedules (none when nil).
	Queue     *queue.Client
	Schedules Schedules
}

// API serves the HTTP routes. It is an http.Handler.
type API struct {
	engine    Engine
	queue     *queue.Client
	schedules Schedules
	checks    []Check
	timeout   time.Duration
	log       *slog.Logger
	handler   http.Handler
}

// New returns the API's handler with every route registered.
func New(cfg Config) *API {
	a := &API{engine: cfg.Engine, queue: cfg.Queue, schedules: cfg.Schedules, checks: cfg.Checks,
		timeout: cfg.ReadyTimeout, log: cfg.Logger}
	if a.timeout <= 0 {
		a.timeout = 2 * time.Second
	}
	if a.log == nil {
		a.log = slog.Default()
	}

	apiMux := http.NewServeMux()
	route := func(method, path string, h http.HandlerFunc) {
		apiMux.HandleFunc(method+" "+path, h)
	}
	route("POST", "/api/chat", a.chat)
	route("GET", "/api/workflows", a.listWorkflows)
	route("GET", "/api/workflows/{id}", a.getWorkflow)
	route("POST", "/api/workflows/{id}/cancel", a.cancelWorkflow)
	route("POST", "/api/workflows/{id}/retry", a.retryWorkflow)
	route("GET", "/api/workflow-types", a.workflowTypes)
	route("GET", "/api/reports/weekly", a.weeklyReport)
	route("GET", "/api/openapi.json", openAPI)
	allowed := map[string]string{
		"/api/chat": "POST", "/api/workflows": "GET, HEAD", "/api/workflows/{id}": "GET, HEAD",
		"/api/workflows/{id}/cancel": "POST", "/api/workflows/{id}/retry": "POST",
		"/api/workflow-types": "GET, HEAD", "/api/reports/weekly": "GET, HEAD",
		"/api/openapi.json": "GET, HEAD",
	}
	if a.queue != nil {
		a.jobRoutes(route, allowed)
	}
	// The same paths with any other method: 405 with a JSON body and an Allow header.
	for path, allow := range allowed {
		apiMux.HandleFunc(path, methodNotAllowed(allow))
	}
	apiMux.HandleFunc("/", notFound)

	var apiHandler http.Handler = requireJSONBody(apiMux)
	if cfg.Token != "" {
		apiHandler = requireToken(cfg.Token, apiHandler)
	}

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", a.healthz)
	root.HandleFunc("GET /readyz", a.readyz)
	root.HandleFunc("/healthz", methodNotAllowed("GET, HEAD"))
	root.HandleFunc("/readyz", methodNotAllowed("GET, HEAD"))
	root.Handle("/api/", apiHandler)
	root.HandleFunc("/", notFound)
	a.handler = logging.Requests(a.log, root, func(w http.ResponseWriter) {
		writeError(w, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"})
	})
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// GET /api/openapi.json: the OpenAPI 3.1 description of the API (docs/openapi.json).
func openAPI(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(docs.OpenAPI)))
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, docs.OpenAPI)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no route " + r.Method + " " + httpx.Clip(r.URL.Path)})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "method " + httpx.Clip(r.Method) + " is not allowed here; use " + allow})
	}
}

// engineError answers for an error of the engine: input errors are 400, a missing workflow
// 404, a status conflict 409, anything else 500.
func (a *API) engineError(w http.ResponseWriter, r *http.Request, err error) {
	if e := inputError(err); e != nil {
		writeError(w, e)
		return
	}
	var se *store.StateError
	switch {
	case errors.As(err, &se):
		writeError(w, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: "cannot " + se.Op + " workflow " + se.ID + ": it is " + string(se.Status)})
	case errors.Is(err, store.ErrConflict):
		writeError(w, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()})
	case errors.Is(err, store.ErrNotFound):
		writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such workflow"})
	case errors.Is(err, store.ErrInvalid):
		writeError(w, badRequest(workflow.CodeInvalid, "", "%s", strings.TrimPrefix(err.Error(), "store: ")))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, &Error{Status: 499, Code: "client_closed", Message: "request canceled"})
	case store.IsUnavailable(err):
		a.storeUnavailable(w, r, err)
	default:
		a.internalError(w, r, err)
	}
}

// storeUnavailableRetry is the Retry-After of a 503 store_unavailable, in seconds.
const storeUnavailableRetry = "2"

// storeUnavailable answers 503 store_unavailable with Retry-After: the store cannot be
// reached, nothing was written, and the same request can be sent again. The detail is
// logged at debug level only: /readyz and the processes' own log line report the outage.
func (a *API) storeUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	a.log.LogAttrs(r.Context(), slog.LevelDebug, "store unavailable",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	w.Header().Set("Retry-After", storeUnavailableRetry)
	writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeStoreUnavailable,
		Message: "the workflow store is unavailable; nothing was changed: try again later"})
}

// inputError converts the engine's validation error into a 400 (422 for an idempotency key
// sent before with another request), or returns nil.
func inputError(err error) *Error {
	ie, ok := workflow.AsInputError(err)
	if !ok {
		return nil
	}
	status := http.StatusBadRequest
	if ie.Code == workflow.CodeKeyReused {
		status = http.StatusUnprocessableEntity
	}
	return &Error{Status: status, Code: ie.Code, Field: ie.Field, Message: ie.Message}
}
