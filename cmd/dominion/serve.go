package main

import (
	"context"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
)

// serveHelp is dominion serve's --help text.
const serveHelp = `Run Dominion in one process: the HTTP API, the web dashboard (at /dashboard/), a
worker (queues workflows=3,default=1), the scheduler and the workflow outbox relay, until
SIGINT or SIGTERM; then drain HTTP requests, stop the scheduler and the relay, and let
running jobs finish (or put them back in their queue).

With no configuration, workflows and jobs are stored in one SQLite file,
DOMINION_DATA_DIR/queue.db, and a workflow and its job are committed together (a data
directory that has a dominion.db, from an earlier version, keeps its workflows there).
Set REDIS_URL for the Redis queue (extra 'dominion worker' processes then share the work)
and DATABASE_URL=postgres://… for PostgreSQL.

Environment (besides the broker's and the log's; 'dominion help' lists them all):
  DOMINION_ADDR        listen address (default 127.0.0.1:8080); without DOMINION_API_TOKEN
                       only a loopback address, unless DOMINION_ALLOW_INSECURE=1
  DOMINION_ALLOWED_HOSTS  host names the server answers to besides localhost, 127.0.0.1,
                       ::1 and the listen host (comma-separated; * for any)
  DATABASE_URL         postgres://user:password@host:5432/db, or a SQLite file path
  DOMINION_API_TOKEN   when set, every /api/ route needs Authorization: Bearer <token>,
                       and the dashboard asks for it at login
  DOMINION_DASHBOARD_TOKEN   the dashboard's login token instead
  DOMINION_WORKFLOWS   YAML file of workflow types (default: the built-in types)
  SMTP_ADDR, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM   the email steps' server

` + schedulesEnvHelp

func runServe(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[flags]", serveHelp, 0, 0)
	addr := f.String("addr", a.cfg.Addr, "`ADDRESS` the API listens on; its default comes from DOMINION_ADDR\n(port 0: any free port, logged at start-up)")
	insecure := insecureFlag(f, a.cfg)
	workflows := workflowsFlag(f, a.cfg)
	concurrency := f.Int("concurrency", service.DefaultConcurrency, "number of jobs the worker runs at once")
	noWorker := f.Bool("no-worker", false, "run no worker here; run 'dominion worker --queues workflows=3,default=1' elsewhere")
	noScheduler := f.Bool("no-scheduler", false, "run no scheduler here (run 'dominion scheduler' elsewhere, or none)")
	noDashboard := f.Bool("no-dashboard", false, "do not serve the web dashboard at /dashboard/")
	schedFile := schedulesFlag(f)
	shutdown := f.Duration("shutdown-timeout", service.DefaultShutdownTimeout, "`DURATION` to wait for HTTP requests, then for running jobs, at shutdown")
	lease := f.Duration("lease", a.cfg.Lease, "`DURATION`: how long a job stays leased without a worker heartbeat; its default comes from DOMINION_LEASE")
	_, code, ok := f.parse(args)
	if !ok {
		return code
	}
	switch {
	case *concurrency < 1:
		return f.usageError("--concurrency must be at least 1, got %d", *concurrency)
	case *shutdown <= 0:
		return f.usageError("--shutdown-timeout must be positive, got %s", *shutdown)
	case *lease < 10*time.Millisecond:
		return f.usageError("--lease must be at least 10ms, got %s", *lease)
	case strings.TrimSpace(*addr) == "":
		return f.usageError("--addr must not be empty")
	}
	var list []queue.Schedule
	if !*noScheduler {
		var code int
		if list, code, ok = a.loadSchedules(path, *schedFile); !ok {
			return code
		}
	}
	cfg := a.cfg // the flags override the environment's values
	cfg.Addr, cfg.WorkflowsFile, cfg.Lease, cfg.AllowInsecure = *addr, *workflows, *lease, *insecure
	err := service.Run(ctx, service.Config{
		Config:          cfg,
		Concurrency:     *concurrency,
		NoWorker:        *noWorker,
		Schedules:       list,
		NoScheduler:     *noScheduler,
		NoDashboard:     *noDashboard,
		ShutdownTimeout: *shutdown,
		Logger:          a.log,
	})
	if err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}

// insecureFlag adds --insecure-listen to f; its default comes from DOMINION_ALLOW_INSECURE.
func insecureFlag(f *flags, cfg config.Config) *bool {
	return f.Bool("insecure-listen", cfg.AllowInsecure, "listen beyond loopback without a token (anyone who can reach the address can\n"+
		"change queues and workflows); its default comes from DOMINION_ALLOW_INSECURE")
}

// workflowsFlag adds --workflows to f; its default comes from DOMINION_WORKFLOWS.
func workflowsFlag(f *flags, cfg config.Config) *string {
	return f.String("workflows", cfg.WorkflowsFile, "YAML `FILE` of workflow types; its default comes from DOMINION_WORKFLOWS")
}
