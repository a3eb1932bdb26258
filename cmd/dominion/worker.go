package main

import (
	"context"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/jobs"
	"github.com/codex-dominion/dominion/queue"
)

func runWorker(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[flags]", `Run jobs from the queues, with the built-in job types (dominion.noop, dominion.sleep,
dominion.fail) registered, until SIGINT or SIGTERM; then stop fetching, wait up to
--shutdown-timeout for running jobs and put those still running back in their queue.`, 0, 0)
	queues := []queue.QueueWeight{{Name: queue.DefaultQueue, Weight: 1}}
	f.Func("queues", "`LIST` of queues to serve with their weights, e.g. workflows=3,default=1 (default default=1)",
		func(s string) error {
			qs, err := config.ParseQueues(s)
			if err != nil {
				return err
			}
			queues = qs
			return nil
		})
	strict := f.Bool("strict", false, "strict priority: serve a queue only when every queue of higher weight is empty")
	concurrency := f.Int("concurrency", 10, "run at most `N` jobs at once")
	shutdown := f.Duration("shutdown-timeout", 30*time.Second, "at shutdown, wait this `DURATION` for running jobs")
	lease := f.Duration("lease", a.cfg.Lease, "`DURATION`: how long a job stays leased without a heartbeat: a crashed worker's jobs\nrun again after this; its default comes from DOMINION_LEASE")
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	switch {
	case *concurrency < 1:
		return f.usageError("--concurrency must be at least 1, got %d", *concurrency)
	case *shutdown <= 0:
		return f.usageError("--shutdown-timeout must be positive, got %s", *shutdown)
	case *lease < 10*time.Millisecond:
		return f.usageError("--lease must be at least 10ms, got %s", *lease)
	}

	b, err := a.openBroker(ctx)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer b.Close()
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues:          queues,
		StrictPriority:  *strict,
		Concurrency:     *concurrency,
		ShutdownTimeout: *shutdown,
		Lease:           *lease,
		Middleware:      []queue.Middleware{queue.LoggingMiddleware(a.log)},
		Logger:          a.log,
	})
	jobs.Register(w)
	a.log.Info("dominion worker", "broker", a.cfg.BrokerDescription(), "queues", config.FormatQueues(queues),
		"strict", *strict, "lease", *lease)
	if err := w.Run(ctx); err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}
