// Package dashboard is Dominion's web UI: an http.Handler, served by `dominion serve` at
// /dashboard and alone by `dominion dashboard`, that shows and steers every queue, job,
// worker, schedule and workflow.
//
// Pages are rendered on the server with html/template; one small script keeps their numbers
// and charts live through server-sent events. Everything (templates, script, styles, icons)
// is embedded in the binary: nothing is fetched from elsewhere.
//
// One poller per Dashboard samples the queue statistics, only while somebody is watching,
// and broadcasts each sample to every connected browser, so the broker sees the same load
// whether one person or a hundred have the dashboard open. It samples when jobs change: one
// subscription to the job events (queue.Client.Subscribe) per Dashboard, however many pages
// are open, wakes it, at most four times a second however many events arrive; and every
// Config.Interval (5 s) in any case, which is all there is while the event stream is
// unavailable. Above 500 events a second it ends the subscription, reads once a second, and
// subscribes again 30 s later (a subscriber makes the broker record every transition). A
// sample sends each page only the values that changed (a page of one queue: that queue's),
// through a bounded buffer per connection.
package dashboard

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/logging"
	"github.com/codex-dominion/dominion/internal/redact"
)

// Config is what a Dashboard shows and how it is protected.
type Config struct {
	// Queues is the job queue (a *queue.Client). Required.
	Queues QueueSource
	// Workflows enables the workflows and reports pages (a *workflow.Engine); nil hides them.
	Workflows WorkflowSource
	// WorkflowStats gives the workflow counters of today and the reports' figures by day (a
	// store.Store). Nil: taken from Workflows when it has these methods, else not shown.
	WorkflowStats WorkflowStats
	// Schedules enables the schedules page (the queue scheduler); nil hides it.
	Schedules ScheduleSource

	// Prefix is the path the dashboard is mounted at, without a trailing slash; default
	// "/dashboard". Mount the Dashboard at Prefix+"/" (it also redirects Prefix itself).
	Prefix string
	// Token, when set, is required to log in (DOMINION_API_TOKEN or a dashboard credential).
	Token string
	// ReadOnly hides every action and refuses every state-changing request with 403.
	ReadOnly bool
	// Broker describes where the jobs live ("redis redis://:xxxxx@host:6379/0"), shown in the
	// footer. It must already be redacted; the dashboard redacts URL passwords again anyway.
	Broker string
	// Redact removes secrets from text shown on a page (error messages); the dashboard also
	// removes the password of any URL it sees.
	Redact func(string) string

	// Interval is how often the poller samples the queues while someone is watching,
	// whether or not jobs changed (default 5 s): it refreshes what the job events do not
	// report (workers, latency, scheduled jobs coming due, workflow counters), and everything
	// while the event stream is unavailable. Job events refresh the pages in between, at most
	// four times a second. History is how many chart points the charts keep (default 600;
	// a point a second at most).
	Interval time.Duration
	History  int
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	// PageSize is the number of jobs on a page of the jobs list (default 50).
	PageSize int

	Logger *slog.Logger
}

// Dashboard is the web UI. Create it with New, mount it, and Close it when the server stops.
type Dashboard struct {
	cfg      Config
	prefix   string
	log      *slog.Logger
	keys     keys
	mux      http.Handler // the routes, behind the request log
	tmpl     *templates
	hub      *hub
	login    loginLimiter
	sessions sessions
	static   staticFiles
}

// New returns a Dashboard for cfg. Its poller starts with the first live page opened.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Queues == nil {
		return nil, errors.New("dashboard: Config.Queues is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/dashboard"
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.Prefix != "" && !strings.HasPrefix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("dashboard: prefix %q must start with /", cfg.Prefix)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.History <= 0 {
		cfg.History = 600
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Dashboard{
		cfg:    cfg,
		prefix: cfg.Prefix,
		log:    cfg.Logger.With("component", "dashboard"),
		keys:   newKeys(cfg.Token),
	}
	var err error
	if d.static, err = loadStatic(); err != nil {
		return nil, err
	}
	if d.tmpl, err = loadTemplates(d); err != nil {
		return nil, err
	}
	d.hub = newHub(d)
	d.routes()
	return d, nil
}

// Close stops the poller and ends every live connection. It is safe to call more than once.
func (d *Dashboard) Close() error {
	d.hub.close()
	return nil
}

func (d *Dashboard) routes() {
	m := http.NewServeMux()
	p := d.prefix
	page := func(pattern string, h http.HandlerFunc) { m.Handle("GET "+p+pattern, d.authed(h)) }
	action := func(pattern string, h http.HandlerFunc) { m.Handle("POST "+p+pattern, d.authed(d.acting(h))) }

	m.HandleFunc("GET "+p+"/static/{file}", d.serveStatic)
	m.HandleFunc("GET "+p+"/login", d.handleLogin)
	m.HandleFunc("POST "+p+"/login", d.handleLogin)
	m.HandleFunc("POST "+p+"/logout", d.handleLogout)
	if p != "" {
		m.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
		})
	}

	page("/{$}", d.overview)
	page("/events", d.events)
	page("/queues", d.queuesPage)
	page("/jobs", d.jobsPage)
	page("/jobs/{id}", d.jobPage)
	page("/batches/{id}", d.batchPage)
	page("/workers", d.workersPage)
	page("/schedules", d.schedulesPage)
	page("/workflows", d.workflowsPage)
	page("/workflows/{id}", d.workflowPage)
	page("/reports", d.reportsPage)

	action("/jobs/{id}/retry", d.retryJob)
	action("/jobs/{id}/cancel", d.cancelJob)
	action("/jobs/{id}/delete", d.deleteJob)
	action("/queues/{queue}/pause", d.pauseQueue)
	action("/queues/{queue}/resume", d.resumeQueue)
	action("/queues/{queue}/empty", d.emptyQueue)
	action("/queues/{queue}/{state}/retry-all", d.retryAll)
	action("/queues/{queue}/{state}/cancel-all", d.cancelAll)
	action("/queues/{queue}/{state}/delete-all", d.deleteAll)
	action("/schedules/{name}/enable", d.enableSchedule)
	action("/schedules/{name}/disable", d.disableSchedule)
	action("/schedules/{name}/run", d.runSchedule)
	action("/workflows/{id}/cancel", d.cancelWorkflow)
	action("/workflows/{id}/retry", d.retryWorkflow)

	m.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		if !d.loggedIn(r) {
			d.toLogin(w, r)
			return
		}
		d.notFound(w, r, "There is no page at "+r.URL.Path+".")
	})
	d.mux = logging.Requests(d.log, m, nil)
}

// ServeHTTP serves the dashboard's pages, actions, events and static files.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

// authed lets the request through when no token is configured or the session is valid;
// otherwise it sends a browser to the login page and refuses anything else with 401.
func (d *Dashboard) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.loggedIn(r) {
			d.toLogin(w, r)
			return
		}
		next(w, r)
	}
}

func (d *Dashboard) toLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.Header.Get("Accept") == "text/event-stream" {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, d.prefix+"/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// acting guards a state-changing request: refused with 403 in read-only mode or without a
// valid CSRF token.
func (d *Dashboard) acting(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if d.cfg.ReadOnly {
			d.forbidden(w, r, "This dashboard is read-only: it shows everything and changes nothing.")
			return
		}
		if !d.checkCSRF(r) {
			d.forbidden(w, r, "The form expired or did not come from this dashboard (missing or wrong CSRF token). Reload the page and try again.")
			return
		}
		next(w, r)
	}
}

// redact removes secrets from text that is about to be shown.
func (d *Dashboard) redact(s string) string {
	if d.cfg.Redact != nil {
		s = d.cfg.Redact(s)
	}
	return redact.Text(s)
}
