package main

import (
	"context"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/httpjobs"
	"github.com/codex-dominion/dominion/internal/jobs"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
)

func runWorker(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[flags]", `Run jobs from the queues until SIGINT or SIGTERM; then stop fetching, wait up to
--shutdown-timeout for running jobs and put those still running back in their queue.

The worker runs the workflow jobs (execute_workflow, cleanup_old_workflows,
generate_weekly_report, and dominion.notify: the notifications, on the workflows queue) on
the workflow store that 'dominion serve' uses: DATABASE_URL, or the embedded one
(DOMINION_DATA_DIR/queue.db, with the queue; dominion.db with REDIS_URL or where an earlier
version made it); give it the same workflow types (--workflows, with the
environment or files their notify channels' secrets come from) and SMTP settings. Without --queues the worker serves every queue 'dominion serve' puts jobs on:
workflows=3, default=1 and the queue of each schedule (--schedules, DOMINION_SCHEDULES);
it logs them at start. With --no-workflows no store is opened, only the built-in job types
run, and the default queues are default=1. The built-in types are always registered: dominion.noop,
dominion.sleep ({"ms": N}) and dominion.fail ({"message": "…", "retryable": bool}).

Environment (besides the broker's and the log's; 'dominion help' lists them all):
  DATABASE_URL         the workflow store: postgres://user:password@host:5432/db, or a
                       SQLite file path (default: the embedded one, see above)
  DOMINION_WORKFLOWS   YAML file of workflow types (default: the built-in types)
  SMTP_ADDR, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM   the email steps' server`, 0, 0)
	var queues []queue.QueueWeight // nil: the service's queues
	f.Func("queues", "`LIST` of queues to serve with their weights, e.g. workflows=3,default=1\n(default: every queue the service uses, see above)",
		func(s string) error {
			qs, err := config.ParseQueues(s)
			if err != nil {
				return err
			}
			queues = qs
			return nil
		})
	strict := f.Bool("strict", false, "strict priority: serve a queue only when every queue of higher weight is empty")
	concurrency := f.Int("concurrency", service.DefaultConcurrency, "run at most `N` jobs at once")
	shutdown := f.Duration("shutdown-timeout", service.DefaultShutdownTimeout, "at shutdown, wait this `DURATION` for running jobs")
	lease := f.Duration("lease", a.cfg.Lease, "`DURATION`: how long a job stays leased without a heartbeat: a crashed worker's jobs\nrun again after this; its default comes from DOMINION_LEASE")
	workflows := workflowsFlag(f, a.cfg)
	noWorkflows := f.Bool("no-workflows", false, "open no workflow store: run the built-in job types only")
	schedFile := schedulesFlag(f)
	metricsAddr := metricsAddrFlag(f)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	if queues == nil {
		queues = []queue.QueueWeight{{Name: queue.DefaultQueue, Weight: 1}}
		if !*noWorkflows {
			list, code, ok := a.loadSchedules(path, *schedFile)
			if !ok {
				return code
			}
			queues = service.WorkerQueues(list)
		}
	}
	switch {
	case *concurrency < 1:
		return f.usageError("--concurrency must be at least 1, got %d", *concurrency)
	case *shutdown <= 0:
		return f.usageError("--shutdown-timeout must be positive, got %s", *shutdown)
	case *lease < 10*time.Millisecond:
		return f.usageError("--lease must be at least 10ms, got %s", *lease)
	}

	b, err := a.openServingBroker(ctx)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			a.log.Warn("close broker", "err", a.cfg.Redact(err.Error()))
		}
	}()
	tel, stop, err := a.telemetry(ctx, "worker", *metricsAddr)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer stop()
	tel.WatchStats(b, nil)
	w := queue.NewWorker(b, tel.Worker(queue.WorkerConfig{
		Queues:          queues,
		StrictPriority:  *strict,
		Concurrency:     *concurrency,
		ShutdownTimeout: *shutdown,
		Lease:           *lease,
		Middleware:      []queue.Middleware{queue.LoggingMiddleware(a.log)},
		Logger:          a.log,
	}))
	jobs.Register(w)
	httpjobs.Register(w, a.cfg.Handlers, a.log)
	storeDesc := "off (--no-workflows)"
	if !*noWorkflows {
		cfg := a.cfg
		cfg.WorkflowsFile = *workflows
		wf, err := service.OpenWorkflows(ctx, service.WorkflowsConfig{Config: cfg, Client: tel.NewClient(b), Logger: a.log, Telemetry: tel, Serving: true})
		if err != nil {
			return a.runtimeError(path, err)
		}
		defer func() {
			if err := wf.Store.Close(); err != nil {
				a.log.Warn("close store", "err", a.cfg.Redact(err.Error()))
			}
		}()
		wf.Engine.Register(w)
		storeDesc = wf.Where
	}
	a.log.Info("dominion worker", "broker", a.cfg.BrokerDescription(),
		"data_dir", a.cfg.DataDir, "store", storeDesc, "queues", queue.FormatQueues(queues), "strict", *strict, "lease", *lease)
	service.ApplyLimits(ctx, queue.NewClient(b), a.cfg.QueueLimits, a.log)
	if err := w.Run(ctx); err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}
