package main

import (
	"context"
	"encoding/json"
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
	q := f.Queue("`QUEUE` to put the job on")
	count := f.Int("count", 1, "enqueue `N` jobs (with EnqueueMany)")
	in := f.Duration("in", 0, "run the job after this `DURATION` (e.g. 30s)")
	var at time.Time
	f.Var(timeFlag{&at}, "at", "run the job at this `TIME` (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
	retries := f.Int("retries", queue.DefaultMaxRetries, "retry a failed job at most `N` times")
	timeout := f.Duration("timeout", 0, "bound each attempt to `DURATION` (0: no bound)")
	id := f.String("id", "", "the job's `ID` (default: a generated one); a second job with the same ID is refused")
	priority := f.Int("priority", queue.DefaultPriority, fmt.Sprintf("the job's `PRIORITY` in its queue, %d to %d: higher runs first, FIFO within a priority", queue.MinPriority, queue.MaxPriority))
	var deadline time.Time
	f.Var(deadlineFlag{&deadline}, "deadline", "finish by this `DEADLINE` (a duration from now, e.g. 10m, or an RFC 3339 time): a job not finished by then is not started again and ends dead (\"deadline exceeded\")")
	rateKey := f.String("rate-key", "", "put the job under its queue's limits for `KEY` (e.g. customer:42; see dominion queues limit)")
	dependsOn := f.String("depends-on", "", "wait until the jobs with these `IDS` (comma-separated) have completed: the job is waiting until then, and canceled if one ends dead or canceled (on Redis Cluster, they must be on the job's queue)")
	anyway := f.Bool("run-on-parent-failure", false, "with --depends-on: run the job once its parents have finished, whatever their outcome")
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
	switch {
	case typ == "":
		return f.usageError("TYPE must not be empty")
	case *count < 1:
		return f.usageError("--count must be at least 1, got %d", *count)
	case *in < 0:
		return f.usageError("--in must not be negative, got %s", *in)
	case *in != 0 && !at.IsZero():
		return f.usageError("--in and --at cannot be used together")
	case *retries < 0:
		return f.usageError("--retries must not be negative, got %d", *retries)
	case *timeout < 0:
		return f.usageError("--timeout must not be negative, got %s", *timeout)
	case !deadline.IsZero() && !deadline.After(time.Now()):
		return f.usageError("--deadline %s is not in the future", deadline.Format(time.RFC3339))
	case *priority < queue.MinPriority || *priority > queue.MaxPriority:
		return f.usageError("--priority must be from %d to %d, got %d", queue.MinPriority, queue.MaxPriority, *priority)
	case queue.CheckRateKey(*rateKey) != nil:
		return f.usageError("--rate-key %v", queue.CheckRateKey(*rateKey))
	case *id != "" && *count > 1:
		return f.usageError("--id cannot be used with --count above 1 (job IDs are unique)")
	case *anyway && *dependsOn == "":
		return f.usageError("--run-on-parent-failure goes with --depends-on")
	}
	parents, err := parentIDs(*dependsOn)
	if err != nil {
		return f.usageError("--depends-on: %v", err)
	}
	opts := []queue.Option{queue.OnQueue(*q), queue.MaxRetries(*retries), queue.Priority(*priority)}
	if !deadline.IsZero() {
		opts = append(opts, queue.Deadline(deadline))
	}
	if *rateKey != "" {
		opts = append(opts, queue.RateKey(*rateKey))
	}
	if *timeout > 0 {
		opts = append(opts, queue.Timeout(*timeout))
	}
	if *in > 0 {
		opts = append(opts, queue.RunIn(*in))
	}
	if !at.IsZero() {
		opts = append(opts, queue.RunAt(at))
	}
	if *id != "" {
		opts = append(opts, queue.WithID(*id))
	}
	if len(parents) > 0 {
		opts = append(opts, queue.DependsOn(parents...))
	}
	if *anyway {
		opts = append(opts, queue.RunOnParentFailure())
	}

	return a.withBroker(ctx, path, a.openBroker, func(c *queue.Client) int {
		if *count == 1 {
			job, err := c.Enqueue(ctx, typ, payload, opts...)
			if err != nil {
				return a.runtimeError(path, err)
			}
			fmt.Fprintln(a.stdout, job.ID)
			a.warnUnhandled(ctx, path, c, *q, typ)
			return exitOK
		}
		defer a.warnUnhandled(ctx, path, c, *q, typ)
		failed := 0
		for sent := 0; sent < *count; {
			n := min(enqueueChunk, *count-sent)
			reqs := make([]queue.Request, n)
			for i := range reqs {
				reqs[i] = queue.Request{Type: typ, Payload: payload, Options: opts}
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
			fmt.Fprintf(a.stderr, "%s: %d of %d jobs were not enqueued\n", path, failed, *count)
			return exitFailure
		}
		return exitOK
	})
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
