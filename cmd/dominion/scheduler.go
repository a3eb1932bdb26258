package main

import (
	"context"
	"fmt"

	_ "time/tzdata" // schedules name IANA time zones: work on machines without a zone database

	"github.com/codex-dominion/dominion/internal/schedules"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
)

const schedulesEnvHelp = `The schedules are the defaults (cleanup_old_workflows {"days":30} daily at 02:00 UTC,
generate_weekly_report Mondays at 09:00 UTC) changed and extended by the YAML file named
by --schedules or DOMINION_SCHEDULES (see docs/scheduling.md).`

// schedulesFlag adds --schedules to f; its default comes from DOMINION_SCHEDULES.
func schedulesFlag(f *flags) *string {
	return f.String("schedules", f.a.cfg.SchedulesFile,
		"YAML `FILE` of schedules; its default comes from DOMINION_SCHEDULES")
}

// loadSchedules reads and validates the schedules. A problem is printed as one line naming
// the schedule, and the command exits with exitUsage: it is a configuration error.
func (a *app) loadSchedules(path, file string) ([]queue.Schedule, int, bool) {
	list, err := schedules.Load(file)
	if err == nil {
		err = queue.ValidateSchedules(list, a.knownTypes())
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "%s: %s\n", path, err)
		return nil, exitUsage, false
	}
	return list, exitOK, true
}

// newScheduler opens the broker and returns a scheduler on it; close the broker when done.
// With tel, its ticks are counted and its enqueues traced.
func (a *app) newScheduler(ctx context.Context, open func(context.Context) (queue.Broker, error), list []queue.Schedule, tel *service.Telemetry) (*queue.Scheduler, queue.Broker, error) {
	b, err := open(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := queue.NewScheduler(b, tel.Scheduler(queue.SchedulerConfig{Schedules: list, KnownTypes: a.knownTypes(), Logger: a.log}, b))
	if err != nil {
		_ = b.Close()
		return nil, nil, err
	}
	return s, b, nil
}

func runScheduler(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--schedules FILE]", `Enqueue the jobs of the periodic schedules, each tick exactly once however many
scheduler processes run on the broker, until SIGINT or SIGTERM. A tick missed while no
scheduler ran is enqueued once at start-up, or skipped, per schedule (catch_up).

`+schedulesEnvHelp, 0, 0)
	file := schedulesFlag(f)
	metricsAddr := metricsAddrFlag(f)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	list, code, ok := a.loadSchedules(path, *file)
	if !ok {
		return code
	}
	tel, stop, err := a.telemetry(ctx, "scheduler", *metricsAddr)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer stop()
	s, b, err := a.newScheduler(ctx, a.openServingBroker, list, tel)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer b.Close()
	tel.WatchStats(b, nil)
	a.log.Info("dominion scheduler", "broker", a.cfg.BrokerDescription(), "data_dir", a.cfg.DataDir, "schedules", len(list))
	if err := s.Run(ctx); err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}

// knownTypes are the job types workers handle: the built-in ones, the workflow service's and
// those of the handler file.
func (a *app) knownTypes() []string {
	return append(schedules.KnownTypes(), a.cfg.Handlers.Types()...)
}

// metricsAddrFlag adds --metrics-addr to f; its default comes from DOMINION_METRICS_ADDR.
func metricsAddrFlag(f *flags) *string {
	return f.String("metrics-addr", f.a.cfg.MetricsAddr,
		"`ADDRESS` to serve Prometheus metrics on at GET /metrics (e.g. :9090; empty: none);\nits default comes from DOMINION_METRICS_ADDR")
}

// telemetry builds the process's metrics and tracing and, when metricsAddr is set, serves
// the metrics there. Call stop at exit: it flushes the last spans.
func (a *app) telemetry(ctx context.Context, role, metricsAddr string) (*service.Telemetry, func(), error) {
	tel, err := service.NewTelemetry(ctx, a.cfg, role)
	if err != nil {
		return nil, nil, err
	}
	if metricsAddr != "" {
		if err := tel.ServeMetrics(ctx, metricsAddr, a.log); err != nil {
			return nil, nil, err
		}
	}
	stop := func() {
		if err := tel.Shutdown(context.WithoutCancel(ctx)); err != nil {
			a.log.Warn("flush traces", "err", err)
		}
	}
	return tel, stop, nil
}
