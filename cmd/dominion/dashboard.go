package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/httpguard"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
)

// dashboardHelp is dominion dashboard's --help text.
const dashboardHelp = `Serve the web dashboard alone, at http://ADDRESS/dashboard/, until SIGINT or SIGTERM:
queues, jobs, workers and schedules of the configured broker, and the workflows and
weekly reports of the workflow store when there is one (DATABASE_URL, or the embedded one
in DOMINION_DATA_DIR: queue.db, or dominion.db with REDIS_URL or from an earlier version).
'dominion serve' serves the same dashboard at /dashboard.

When DOMINION_DASHBOARD_TOKEN (or else DOMINION_API_TOKEN) is set, the dashboard asks for
it at login. With --read-only it shows everything and changes nothing.

Environment (besides the broker's and the log's; 'dominion help' lists them all):
  DOMINION_DASHBOARD_ADDR    listen address (default 127.0.0.1:8081); without a token only
                             a loopback address, unless DOMINION_ALLOW_INSECURE=1
  DOMINION_ALLOWED_HOSTS     host names it answers to besides localhost, 127.0.0.1, ::1
                             and the listen host (comma-separated; * for any)
  DOMINION_DASHBOARD_TOKEN   the login token (default: DOMINION_API_TOKEN)
  DATABASE_URL               the workflow store (postgres://… or a SQLite file)
  DOMINION_WORKFLOWS         YAML file of workflow types (for the steps of each workflow)

` + schedulesEnvHelp

func runDashboard(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[flags]", dashboardHelp, 0, 0)
	df := newDashboardFlags(f, a)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	p, code, ok := df.checkPrefix(f)
	if !ok {
		return code
	}
	list, code, ok := a.loadSchedules(path, *df.schedFile)
	if !ok {
		return code
	}
	token := a.dashboardToken()
	loopback, err := httpguard.CheckListen(*df.addr, token != "", *df.insecure)
	if err != nil {
		return a.runtimeError(path, err)
	}

	broker, tel, closeAll, err := a.serving(ctx, "dashboard", "")
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer closeAll()
	client := tel.NewClient(broker)
	cfg := dashboard.Config{
		Queues: client, Prefix: p, Token: token, ReadOnly: *df.readOnly,
		Broker: a.cfg.BrokerDescription(), Redact: a.cfg.Redact, Logger: a.log,
	}
	a.addSchedules(&cfg, broker, list)
	if !*df.noWorkflows {
		closeStore, err := a.addWorkflows(ctx, &cfg, client, *df.workflowsFile)
		if err != nil {
			return a.runtimeError(path, err)
		}
		defer closeStore()
	}
	d, err := dashboard.New(cfg)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer d.Close()
	return a.listenDashboard(ctx, path, *df.addr, cfg, d, tel, loopback)
}

// dashboardFlags are dominion dashboard's flags.
type dashboardFlags struct {
	addr, prefix, workflowsFile, schedFile *string
	insecure, readOnly, noWorkflows        *bool
}

// newDashboardFlags defines dominion dashboard's flags on f.
func newDashboardFlags(f *flags, a *app) *dashboardFlags {
	df := &dashboardFlags{}
	df.addr = f.String("addr", a.cfg.DashboardAddr, "`ADDRESS` to listen on; its default comes from DOMINION_DASHBOARD_ADDR")
	df.insecure = insecureFlag(f, a.cfg)
	df.readOnly = f.Bool("read-only", false, "hide and refuse every action (retry, cancel, delete, pause, …)")
	df.prefix = f.String("prefix", "/dashboard", "URL `PATH` the dashboard is served under")
	df.noWorkflows = f.Bool("no-workflows", false, "do not open the workflow store: show the queues only")
	df.workflowsFile = workflowsFlag(f, a.cfg)
	df.schedFile = schedulesFlag(f)
	return df
}

// checkPrefix returns --prefix without its trailing slashes, or a usage error when it is not
// a path.
func (df *dashboardFlags) checkPrefix(f *flags) (prefix string, code int, ok bool) {
	p := strings.TrimRight(strings.TrimSpace(*df.prefix), "/")
	if p == "" || !strings.HasPrefix(p, "/") {
		return "", f.usageError("--prefix must be a path such as /dashboard, got %q", *df.prefix), false
	}
	return p, 0, true
}

// dashboardToken is the dashboard's login token: DOMINION_DASHBOARD_TOKEN, else
// DOMINION_API_TOKEN ("" when neither is set: no login).
func (a *app) dashboardToken() string {
	if a.cfg.DashboardToken != "" {
		return a.cfg.DashboardToken
	}
	return a.cfg.APIToken
}

// addSchedules gives cfg the schedules page, the schedules of list on broker; when they
// cannot be loaded, it logs why the page is disabled.
func (a *app) addSchedules(cfg *dashboard.Config, broker queue.Broker, list []queue.Schedule) {
	if sched, err := queue.NewScheduler(broker, queue.SchedulerConfig{Schedules: list, Logger: a.log}); err != nil {
		a.log.Warn("dashboard: schedules page disabled", "err", a.cfg.Redact(err.Error()))
	} else {
		cfg.Schedules = sched
	}
}

// addWorkflows gives cfg the workflows and reports pages when there is a workflow store (see
// openWorkflows); closeStore closes the store (it does nothing without one).
func (a *app) addWorkflows(ctx context.Context, cfg *dashboard.Config, client *queue.Client, typesFile string) (closeStore func(), err error) {
	wf, err := a.openWorkflows(ctx, client, typesFile)
	switch {
	case err != nil:
		return nil, err
	case wf == nil:
		return func() {}, nil
	}
	cfg.Workflows, cfg.WorkflowStats = wf.Engine, wf.Store
	return func() { _ = wf.Store.Close() }, nil
}

// listenDashboard listens on addr and serves the dashboard d (configured with cfg) there, as
// serveDashboard says.
func (a *app) listenDashboard(ctx context.Context, path, addr string, cfg dashboard.Config, d *dashboard.Dashboard, tel *service.Telemetry, loopback bool) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return a.runtimeError(path, fmt.Errorf("listen on %s: %w", addr, err))
	}
	srv := service.NewHTTPServer(ctx, httpguard.New(httpguard.Config{AllowedHosts: httpguard.Hosts(addr, a.cfg.AllowedHosts), Logger: a.log},
		tel.Handler(service.MountDashboard(cfg.Prefix, d, nil))), a.log)
	a.logDashboard(ln.Addr(), cfg.Prefix, cfg, loopback)
	return a.serveDashboard(ctx, path, srv, ln, d)
}

// logDashboard logs where the dashboard listens and who can use it; a warning when anyone
// who reaches it beyond loopback can.
func (a *app) logDashboard(addr net.Addr, prefix string, cfg dashboard.Config, loopback bool) {
	auth := "no login (set DOMINION_DASHBOARD_TOKEN to require one)"
	if cfg.Token != "" {
		auth = "login with the token"
	}
	reach := "loopback only: reachable from this machine"
	if !loopback {
		reach = "beyond loopback"
	}
	a.log.Info("dashboard listening", "url", "http://"+displayAddr(addr)+prefix+"/", "listen", addr.String(), "reach", reach,
		"broker", cfg.Broker, "workflows", cfg.Workflows != nil, "read_only", cfg.ReadOnly, "auth", auth)
	if !loopback && cfg.Token == "" {
		a.log.Warn("dashboard listening beyond loopback WITHOUT a login (DOMINION_ALLOW_INSECURE / --insecure-listen): "+
			"anyone who can reach this address can use it", "listen", addr.String())
	}
}

// serveDashboard serves the dashboard on ln until ctx is done (exitOK) or serving fails,
// then shuts the server down, giving running requests up to 10 s.
func (a *app) serveDashboard(ctx context.Context, path string, srv *http.Server, ln net.Listener, d *dashboard.Dashboard) int {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return a.runtimeError(path, err)
	case <-ctx.Done():
	}
	d.Close() // ends the live streams, so that Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Warn("dashboard shutdown", "err", err)
	}
	return exitOK
}

// openWorkflows opens the workflow store when there is one (DATABASE_URL, or the embedded
// file in the data directory: the dashboard never creates it) and an engine on it. It returns
// nil when there is none.
func (a *app) openWorkflows(ctx context.Context, client *queue.Client, typesFile string) (*service.Workflows, error) {
	if a.cfg.DatabaseURL == "" {
		dsn := a.cfg.StoreDSN()
		if _, err := os.Stat(dsn); err != nil {
			a.log.Info("dashboard: no workflow store; workflows and reports pages hidden", "looked_for", dsn)
			return nil, nil
		}
	}
	cfg := a.cfg
	cfg.WorkflowsFile = typesFile
	return service.OpenWorkflows(ctx, service.WorkflowsConfig{Config: cfg, Client: client, Logger: a.log, Serving: true})
}

// displayAddr turns a listen address into one a browser can open (":8081" → "localhost:8081").
func displayAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
