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

// workerHelp is dominion worker's --help text.
const workerHelp = `Run jobs from the queues until SIGINT or SIGTERM; then stop fetching, wait up to
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
  SMTP_ADDR, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM   the email steps' server`

func runWorker(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[flags]", workerHelp, 0, 0)
	wf := newWorkerFlags(f, a)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	if code, ok := wf.check(f); !ok {
		return code
	}
	queues, code, ok := wf.queues, 0, true
	if queues == nil {
		queues, code, ok = a.serviceQueues(path, *wf.noWorkflows, *wf.schedFile)
	}
	if !ok {
		return code
	}

	b, tel, closeAll, err := a.serving(ctx, "worker", *wf.metricsAddr)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer closeAll()
	w := queue.NewWorker(b, tel.Worker(wf.config(queues, a)))
	jobs.Register(w)
	httpjobs.Register(w, a.cfg.Handlers, a.log)
	storeDesc := "off (--no-workflows)"
	if !*wf.noWorkflows {
		where, closeStore, err := a.workerWorkflows(ctx, w, tel, b, *wf.workflows)
		if err != nil {
			return a.runtimeError(path, err)
		}
		defer closeStore()
		storeDesc = where
	}
	a.log.Info("dominion worker", "broker", a.cfg.BrokerDescription(),
		"data_dir", a.cfg.DataDir, "store", storeDesc, "queues", queue.FormatQueues(queues), "strict", *wf.strict, "lease", *wf.lease)
	service.ApplyLimits(ctx, queue.NewClient(b), a.cfg.QueueLimits, a.log)
	if err := w.Run(ctx); err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}

// workerFlags are dominion worker's flags.
type workerFlags struct {
	queues                            []queue.QueueWeight // nil: the service's queues
	strict, noWorkflows               *bool
	concurrency                       *int
	shutdown, lease                   *time.Duration
	workflows, schedFile, metricsAddr *string
}

func newWorkerFlags(f *flags, a *app) *workerFlags {
	wf := &workerFlags{}
	f.Func("queues", "`LIST` of queues to serve with their weights (1 to 1,000,000), e.g. workflows=3,default=1\n(default: every queue the service uses, see above)",
		func(s string) error {
			qs, err := config.ParseQueues(s)
			if err != nil {
				return err
			}
			wf.queues = qs
			return nil
		})
	wf.strict = f.Bool("strict", false, "strict priority: serve a queue only when every queue of higher weight is empty")
	wf.concurrency = f.Int("concurrency", service.DefaultConcurrency, "run at most `N` jobs at once")
	wf.shutdown = f.Duration("shutdown-timeout", service.DefaultShutdownTimeout, "at shutdown, wait this `DURATION` for running jobs")
	wf.lease = f.Duration("lease", a.cfg.Lease, "`DURATION`: how long a job stays leased without a heartbeat: a crashed worker's jobs\nrun again after this; its default comes from DOMINION_LEASE")
	wf.workflows = workflowsFlag(f, a.cfg)
	wf.noWorkflows = f.Bool("no-workflows", false, "open no workflow store: run the built-in job types only")
	wf.schedFile = schedulesFlag(f)
	wf.metricsAddr = metricsAddrFlag(f)
	return wf
}

// check reports a flag value out of range as a usage error.
func (wf *workerFlags) check(f *flags) (code int, ok bool) {
	switch {
	case *wf.concurrency < 1:
		return f.usageError("--concurrency must be at least 1, got %d", *wf.concurrency), false
	case *wf.shutdown <= 0:
		return f.usageError("--shutdown-timeout must be positive, got %s", *wf.shutdown), false
	case *wf.lease < 10*time.Millisecond:
		return f.usageError("--lease must be at least 10ms, got %s", *wf.lease), false
	}
	return 0, true
}

// config is the worker's configuration for queues.
func (wf *workerFlags) config(queues []queue.QueueWeight, a *app) queue.WorkerConfig {
	return queue.WorkerConfig{
		Queues:          queues,
		StrictPriority:  *wf.strict,
		Concurrency:     *wf.concurrency,
		ShutdownTimeout: *wf.shutdown,
		Lease:           *wf.lease,
		Middleware:      []queue.Middleware{queue.LoggingMiddleware(a.log)},
		Logger:          a.log,
	}
}

// serviceQueues returns the queues a worker serves without --queues: default=1, and with the
// workflows those 'dominion serve' puts jobs on (its schedules' among them).
func (a *app) serviceQueues(path string, noWorkflows bool, schedFile string) ([]queue.QueueWeight, int, bool) {
	if noWorkflows {
		return []queue.QueueWeight{{Name: queue.DefaultQueue, Weight: 1}}, 0, true
	}
	list, code, ok := a.loadSchedules(path, schedFile)
	if !ok {
		return nil, code, false
	}
	return service.WorkerQueues(list), 0, true
}

// workerWorkflows opens the workflow store and registers the workflow jobs on w. It returns
// where the store is and the function that closes it.
func (a *app) workerWorkflows(ctx context.Context, w *queue.Worker, tel *service.Telemetry, b queue.Broker, file string) (string, func(), error) {
	cfg := a.cfg
	cfg.WorkflowsFile = file
	wf, err := service.OpenWorkflows(ctx, service.WorkflowsConfig{Config: cfg, Client: tel.NewClient(b), Logger: a.log, Telemetry: tel, Serving: true})
	if err != nil {
		return "", nil, err
	}
	wf.Engine.Register(w)
	return wf.Where, func() {
		if err := wf.Store.Close(); err != nil {
			a.log.Warn("close store", "err", a.cfg.Redact(err.Error()))
		}
	}, nil
}
