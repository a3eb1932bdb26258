package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// enqueueChunk bounds the jobs of one EnqueueMany call of --count.
const enqueueChunk = 1000

func runEnqueue(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "TYPE [PAYLOAD_JSON] [flags]", `Enqueue a job of type TYPE with the JSON payload PAYLOAD_JSON (none when omitted) and print
its ID; with --count N, enqueue N such jobs in batches and print one ID per line.
Built-in types: dominion.noop, dominion.sleep {"ms": N}, dominion.fail {"message": "…", "retryable": false}.`, 1, 2)
	e := newEnqueueFlags(f)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	typ := pos[0]
	var payload json.RawMessage
	if len(pos) == 2 {
		payload = json.RawMessage(pos[1])
		if !json.Valid(payload) {
			var v any
			err := json.Unmarshal(payload, &v)
			return f.usageError("PAYLOAD_JSON is not valid JSON: %v", err)
		}
	}
	if typ == "" {
		return f.usageError("TYPE must not be empty")
	}
	opts, err := e.options()
	if err != nil {
		return f.usageError("%v", err)
	}
	return a.withBroker(ctx, path, a.openBroker, func(c *queue.Client) int {
		if *e.count == 1 {
			job, err := c.Enqueue(ctx, typ, payload, opts...)
			if err != nil {
				return a.runtimeError(path, err)
			}
			fmt.Fprintln(a.stdout, job.ID)
			a.warnUnhandled(ctx, path, c, *e.queue, typ)
			return exitOK
		}
		defer a.warnUnhandled(ctx, path, c, *e.queue, typ)
		return a.enqueueMany(ctx, path, c, queue.Request{Type: typ, Payload: payload, Options: opts}, *e.count)
	})
}

// enqueueFlags are the flags of dominion enqueue that make the job's options.
type enqueueFlags struct {
	queue, id, rateKey, dependsOn *string
	count, retries, priority      *int
	in, timeout                   *time.Duration
	at, deadline                  time.Time
	anyway                        *bool
}

func newEnqueueFlags(f *flags) *enqueueFlags {
	e := &enqueueFlags{}
	e.queue = f.Queue("`QUEUE` to put the job on")
	e.count = f.Int("count", 1, "enqueue `N` jobs (with EnqueueMany)")
	e.in = f.Duration("in", 0, "run the job after this `DURATION` (e.g. 30s)")
	f.Var(timeFlag{&e.at}, "at", "run the job at this `TIME` (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
	e.retries = f.Int("retries", queue.DefaultMaxRetries, "retry a failed job at most `N` times")
	e.timeout = f.Duration("timeout", 0, "bound each attempt to `DURATION` (0: no bound)")
	e.id = f.String("id", "", "the job's `ID` (default: a generated one); a second job with the same ID is refused")
	e.priority = f.Int("priority", queue.DefaultPriority, fmt.Sprintf("the job's `PRIORITY` in its queue, %d to %d: higher runs first, FIFO within a priority", queue.MinPriority, queue.MaxPriority))
	f.Var(deadlineFlag{&e.deadline}, "deadline", "finish by this `DEADLINE` (a duration from now, e.g. 10m, or an RFC 3339 time): a job not finished by then is not started again and ends dead (\"deadline exceeded\")")
	e.rateKey = f.String("rate-key", "", "put the job under its queue's limits for `KEY` (e.g. customer:42; see dominion queues limit)")
	e.dependsOn = f.String("depends-on", "", "wait until the jobs with these `IDS` (comma-separated) have completed: the job is waiting until then, and canceled if one ends dead or canceled (on Redis Cluster, they must be on the job's queue)")
	e.anyway = f.Bool("run-on-parent-failure", false, "with --depends-on: run the job once its parents have finished, whatever their outcome")
	return e
}

// options checks the flags and returns the job options they make; an error is the user's.
func (e *enqueueFlags) options() ([]queue.Option, error) {
	switch {
	case *e.count < 1:
		return nil, fmt.Errorf("--count must be at least 1, got %d", *e.count)
	case *e.in < 0:
		return nil, fmt.Errorf("--in must not be negative, got %s", *e.in)
	case *e.in != 0 && !e.at.IsZero():
		return nil, errors.New("--in and --at cannot be used together")
	case *e.retries < 0:
		return nil, fmt.Errorf("--retries must not be negative, got %d", *e.retries)
	case *e.timeout < 0:
		return nil, fmt.Errorf("--timeout must not be negative, got %s", *e.timeout)
	case !e.deadline.IsZero() && !e.deadline.After(time.Now()):
		return nil, fmt.Errorf("--deadline %s is not in the future", e.deadline.Format(time.RFC3339))
	case *e.priority < queue.MinPriority || *e.priority > queue.MaxPriority:
		return nil, fmt.Errorf("--priority must be from %d to %d, got %d", queue.MinPriority, queue.MaxPriority, *e.priority)
	case queue.CheckRateKey(*e.rateKey) != nil:
		return nil, fmt.Errorf("--rate-key %w", queue.CheckRateKey(*e.rateKey))
	case *e.id != "" && *e.count > 1:
		return nil, errors.New("--id cannot be used with --count above 1 (job IDs are unique)")
	case *e.anyway && *e.dependsOn == "":
		return nil, errors.New("--run-on-parent-failure goes with --depends-on")
	}
	parents, err := parentIDs(*e.dependsOn)
	if err != nil {
		return nil, fmt.Errorf("--depends-on: %w", err)
	}
	opts := []queue.Option{queue.OnQueue(*e.queue), queue.MaxRetries(*e.retries), queue.Priority(*e.priority)}
	add := func(on bool, o queue.Option) {
		if on {
			opts = append(opts, o)
		}
	}
	add(!e.deadline.IsZero(), queue.Deadline(e.deadline))
	add(*e.rateKey != "", queue.RateKey(*e.rateKey))
	add(*e.timeout > 0, queue.Timeout(*e.timeout))
	add(*e.in > 0, queue.RunIn(*e.in))
	add(!e.at.IsZero(), queue.RunAt(e.at))
	add(*e.id != "", queue.WithID(*e.id))
	add(len(parents) > 0, queue.DependsOn(parents...))
	add(*e.anyway, queue.RunOnParentFailure())
	return opts, nil
}

// enqueueMany enqueues count jobs of req in calls of enqueueChunk and prints their IDs; a
// job refused is reported on stderr, and makes the exit status a failure.
func (a *app) enqueueMany(ctx context.Context, path string, c *queue.Client, req queue.Request, count int) int {
	failed := 0
	for sent := 0; sent < count; {
		n := min(enqueueChunk, count-sent)
		reqs := make([]queue.Request, n)
		for i := range reqs {
			reqs[i] = req
		}
		jobs, errs, err := c.EnqueueMany(ctx, reqs)
		if err != nil {
			return a.runtimeError(path, fmt.Errorf("after %d jobs: %w", sent, err))
		}
		for i, job := range jobs {
			if errs[i] != nil {
				failed++
				fmt.Fprintf(a.stderr, "%s: job %s: %s\n", path, job.ID, a.cfg.Redact(errs[i].Error()))
				continue
			}
			fmt.Fprintln(a.stdout, job.ID)
		}
		sent += n
	}
	if failed > 0 {
		fmt.Fprintf(a.stderr, "%s: %d of %d jobs were not enqueued\n", path, failed, count)
		return exitFailure
	}
	return exitOK
}

// parentIDs splits --depends-on's comma-separated job IDs; none for "".
func parentIDs(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	ids := strings.Split(s, ",")
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("%q has an empty job ID", s)
		}
	}
	return ids, nil
}

// warnUnhandled warns on stderr when no live worker serves queue q with a handler for typ:
// the job is accepted, but waits until such a worker runs.
func (a *app) warnUnhandled(ctx context.Context, path string, c *queue.Client, q, typ string) {
	ws, err := c.Workers(ctx)
	if err != nil {
		a.log.Debug("list workers", "err", a.cfg.Redact(err.Error()))
		return
	}
	if queue.Serves(ws, q, typ) {
		return
	}
	fmt.Fprintf(a.stderr, "%s: warning: no live worker serves queue %s with a handler for %s: the job waits until one does\n"+
		"  ('dominion worker' serves the service's queues and runs workflows and the built-in types)\n", path, q, typ)
}
