package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/codex-dominion/dominion/queue"
)

func queuesCommands() []command {
	return []command{
		{name: "pause", summary: "stop workers from starting the queue's jobs", run: runQueuesPause},
		{name: "resume", summary: "let workers start the queue's jobs again", run: runQueuesResume},
		{name: "delete", summary: "remove a queue that has no pending, running, scheduled or retrying jobs", run: runQueuesDelete},
		{name: "limit", summary: "show or set a queue's rate and concurrency limits", run: runQueuesLimit},
	}
}

func runQueuesPause(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE", `Pause a queue: workers start none of its jobs (running jobs finish) until it is resumed.
The queue must exist (have had a job): a misspelled name is refused rather than paused.`, 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if err := queue.CheckQueueName(pos[0]); err != nil {
		return f.usageError("%v", err)
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		if err := c.Pause(ctx, pos[0]); err != nil {
			return a.runtimeError(path, err)
		}
		fmt.Fprintf(a.stdout, "Paused queue %s.\n", pos[0])
		return exitOK
	})
}

func runQueuesResume(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE", "Resume a paused queue.", 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if err := queue.CheckQueueName(pos[0]); err != nil {
		return f.usageError("%v", err)
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		if err := c.Resume(ctx, pos[0]); err != nil {
			return a.runtimeError(path, err)
		}
		fmt.Fprintf(a.stdout, "Resumed queue %s.\n", pos[0])
		return exitOK
	})
}

func runQueuesDelete(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE", `Remove a queue, with its finished jobs (completed, dead, canceled), counters and pause
flag, so that it no longer shows in info and the dashboard. A queue with pending, running,
scheduled or retrying jobs is refused: cancel or delete those first.`, 1, 1)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if err := queue.CheckQueueName(pos[0]); err != nil {
		return f.usageError("%v", err)
	}
	name := pos[0]
	return a.withClient(ctx, path, func(c *queue.Client) int {
		q, err := c.Queue(ctx, name)
		if err != nil {
			return a.runtimeError(path, err)
		}
		if live := q.Pending + q.Active + q.Scheduled + q.Retry; live > 0 {
			return a.runtimeError(path, fmt.Errorf("queue %s is not empty: %d pending, %d running, %d scheduled, %d retrying jobs (cancel them with 'dominion jobs cancel --all --queue %s --state S')",
				name, q.Pending, q.Active, q.Scheduled, q.Retry, name))
		}
		if err := c.Broker().RemoveQueue(ctx, name); err != nil {
			return a.runtimeError(path, fmt.Errorf("remove queue %s: %w", name, err))
		}
		fmt.Fprintf(a.stdout, "Deleted queue %s (%d finished jobs removed).\n", name, q.Completed+q.Dead+q.Canceled)
		return exitOK
	})
}

// queuesLimitHelp is dominion queues limit's --help text.
const queuesLimitHelp = `Show or set the limits of a queue, stored in the broker so that every worker applies them
from its next fetch. A rate of N/UNIT (100/s, 5/m, 1/h, 10/500ms) starts at most N jobs per
UNIT, spread evenly, plus --burst more at once after a quiet spell; --concurrency N runs at
most N at once across every worker. With --key PREFIX the limit applies to each rate key
(queue.Job.RateKey) starting with PREFIX, each key on its own ("" matches
every key); with --type TYPE to every job of that type: each rate key on its own, the jobs
without one together. Flags not given keep their
value. --clear removes the queue's limits (with --key or --type: only that one). With no flag
the limits are shown.`

func runQueuesLimit(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "QUEUE [--rate N/UNIT] [--burst N] [--concurrency N] [--key PREFIX | --type TYPE] [--clear]",
		queuesLimitHelp, 1, 1)
	lf := newLimitFlags(f)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	name := pos[0]
	if err := queue.CheckQueueName(name); err != nil {
		return f.usageError("%v", err)
	}
	if code, ok := lf.check(f); !ok {
		return code
	}
	return a.withBroker(ctx, path, a.openBroker, func(c *queue.Client) int {
		l, err := c.Limits(ctx, name)
		if err != nil {
			return a.runtimeError(path, err)
		}
		if len(lf.set) > 0 {
			l = changeLimits(l, lf.set, *lf.key, *lf.typ, *lf.clear, lf.edit)
			if err := l.Check(); err != nil {
				return f.usageError("%v", err)
			}
			if err := c.SetLimits(ctx, name, l); err != nil {
				return a.runtimeError(path, err)
			}
		}
		fmt.Fprintf(a.stdout, "Limits of queue %s: %s.\n", name, l)
		return exitOK
	})
}

// limitFlags are dominion queues limit's flags; check fills in set and parsedRate.
type limitFlags struct {
	rate, key, typ *string
	burst, conc    *int
	clear          *bool
	set            map[string]bool // the names of the flags given
	parsedRate     queue.Rate
}

// newLimitFlags defines dominion queues limit's flags on f.
func newLimitFlags(f *flags) *limitFlags {
	return &limitFlags{
		rate:  f.String("rate", "", "at most N jobs per UNIT: 100/s, 5/m, 1/h, 10/500ms"),
		burst: f.Int("burst", 0, "how many more may start at once after a quiet spell"),
		conc:  f.Int("concurrency", 0, "at most this many running at once (1: one at a time)"),
		key:   f.String("key", "", "set the limit of the rate keys starting with this prefix"),
		typ:   f.String("type", "", "set the limit of the jobs of this type (each rate key on its own, the jobs without one together)"),
		clear: f.Bool("clear", false, "remove the limits (with --key or --type: only that one)"),
	}
}

// check records which flags were given and parses --rate; it reports --key with --type, or a
// bad rate, as a usage error.
func (lf *limitFlags) check(f *flags) (code int, ok bool) {
	lf.set = map[string]bool{}
	f.Visit(func(fl *flag.Flag) { lf.set[fl.Name] = true })
	if lf.set["key"] && lf.set["type"] {
		return f.usageError("give --key or --type, not both"), false
	}
	r, err := queue.ParseRate(*lf.rate)
	if err != nil {
		return f.usageError("--rate: %v", err), false
	}
	lf.parsedRate = r
	return 0, true
}

// edit returns old with the rate, burst and concurrency given as flags.
func (lf *limitFlags) edit(old queue.Limit) queue.Limit {
	if lf.set["rate"] {
		old.Rate = lf.parsedRate
	}
	if lf.set["burst"] {
		old.Burst = *lf.burst
	}
	if lf.set["concurrency"] {
		old.Concurrency = *lf.conc
	}
	return old
}

// changeLimits applies the flags of queues limit to l: clear, or change the limit the flags
// name (the queue's, a key prefix's or a type's) with edit.
func changeLimits(l queue.QueueLimits, set map[string]bool, key, typ string, clear bool, edit func(queue.Limit) queue.Limit) queue.QueueLimits {
	rules, name := &l.Keys, key
	if set["type"] {
		rules, name = &l.Types, typ
	}
	switch {
	case clear && !set["key"] && !set["type"]:
		return queue.QueueLimits{}
	case clear:
		delete(*rules, name)
	case !set["key"] && !set["type"]:
		l.Queue = edit(l.Queue)
	default:
		if *rules == nil {
			*rules = map[string]queue.Limit{}
		}
		if k := edit((*rules)[name]); k.IsZero() {
			delete(*rules, name)
		} else {
			(*rules)[name] = k
		}
	}
	return l
}
