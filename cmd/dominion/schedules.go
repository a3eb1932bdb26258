package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

func schedulesCommands() []command {
	return []command{
		{name: "list", summary: "list the schedules: spec, time zone, next and last run, last job", run: runSchedulesList},
		{name: "run", summary: "enqueue a schedule's job now", run: runSchedulesRun},
		{name: "enable", summary: "enable a schedule for every scheduler", run: runSchedulesEnable},
		{name: "disable", summary: "disable a schedule for every scheduler", run: runSchedulesDisable},
	}
}

// withScheduler loads the schedules, opens the broker (with open) and calls fn with a
// scheduler on it.
func (a *app) withScheduler(ctx context.Context, path, file string, open func(context.Context) (queue.Broker, error), fn func(s *queue.Scheduler) int) int {
	list, code, ok := a.loadSchedules(path, file)
	if !ok {
		return code
	}
	s, b, err := a.newScheduler(ctx, open, list, nil)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			a.log.Warn("close broker", "err", a.cfg.Redact(err.Error()))
		}
	}()
	return fn(s)
}

func runSchedulesList(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--json]", `List the schedules with their state in the broker: enabled, next run, last run (a
tick, or a "schedules run", marked manual), and that job's ID and state ("(gone)" once the
job is gone).

`+schedulesEnvHelp, 0, 0)
	file := schedulesFlag(f)
	asJSON := f.Bool("json", false, "print a JSON array of schedules")
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	return a.withScheduler(ctx, path, *file, a.openExistingBroker, func(s *queue.Scheduler) int {
		infos, err := s.List(ctx)
		if err != nil {
			return a.runtimeError(path, err)
		}
		if *asJSON {
			if infos == nil {
				infos = []queue.ScheduleInfo{}
			}
			return a.printJSON(path, infos)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSPEC\tTIME ZONE\tENABLED\tNEXT RUN\tLAST RUN\tLAST JOB\tSTATE")
		for _, i := range infos {
			state := string(i.LastJobState)
			if i.LastJobID != "" && state == "" {
				state = "(gone)"
			}
			last := zoned(i.LastRun, i.TimeZone)
			if i.LastRunManual {
				last += " (manual)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.Spec, i.TimeZone, yesNo(i.Enabled),
				zoned(i.NextRun, i.TimeZone), last, i.LastJobID, state)
		}
		tw.Flush()
		return exitOK
	})
}

// zoned formats t in the schedule's time zone.
func zoned(t time.Time, zone string) string {
	if t.IsZero() {
		return "-"
	}
	if loc, err := queue.LoadTimeZone(zone); err == nil {
		t = t.In(loc)
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

func runSchedulesRun(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "NAME", `Enqueue a job of the schedule now, enabled or not. It is not a tick: the schedule's
next tick still runs as planned.`, 1, 1)
	file := schedulesFlag(f)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	return a.withScheduler(ctx, path, *file, a.openBroker, func(s *queue.Scheduler) int {
		job, err := s.RunNow(ctx, pos[0])
		if err != nil {
			return a.runtimeError(path, err)
		}
		fmt.Fprintf(a.stdout, "Enqueued %s (%s) on queue %s.\n", job.ID, job.Type, job.Queue)
		return exitOK
	})
}

func runSchedulesEnable(ctx context.Context, a *app, path string, args []string) int {
	return setScheduleEnabled(ctx, a, path, args, true)
}

func runSchedulesDisable(ctx context.Context, a *app, path string, args []string) int {
	return setScheduleEnabled(ctx, a, path, args, false)
}

func setScheduleEnabled(ctx context.Context, a *app, path string, args []string, enabled bool) int {
	verb, about := "Enabled", "Enable the schedule for every scheduler on the broker (the flag is kept in the broker\nand overrides the file's enabled: false)."
	if !enabled {
		verb, about = "Disabled", "Disable the schedule for every scheduler on the broker: its ticks enqueue nothing\nuntil it is enabled again (the flag is kept in the broker and overrides the file)."
	}
	f := a.newFlags(path, "NAME", about, 1, 1)
	file := schedulesFlag(f)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	return a.withScheduler(ctx, path, *file, a.openBroker, func(s *queue.Scheduler) int {
		if err := s.SetEnabled(ctx, pos[0], enabled); err != nil {
			return a.runtimeError(path, err)
		}
		fmt.Fprintf(a.stdout, "%s schedule %s.\n", verb, pos[0])
		return exitOK
	})
}
