package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/codex-dominion/dominion/queue"
)

// watchReady is what jobs watch prints on stderr once it is subscribed.
const watchReady = "Watching job events"

func runJobsWatch(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--queue Q] [--type T] [--json]",
		"Print the events of jobs (enqueued, started, progress, failed, retried, completed, dead,\n"+
			"canceled) as they happen, until interrupted (Ctrl-C). Events are recorded only while\n"+
			"someone watches, and delivered at most once: a watcher that falls far behind, or loses\n"+
			"its connection, misses some; 'dominion jobs show' has the job's state. Without --queue,\n"+
			"a queue that gets its first job while watching is seen within a second or so.", 0, 0)
	q := f.String("queue", "", "watch only the jobs of `QUEUE` (default: every queue)")
	typ := f.String("type", "", "watch only the jobs of type `TYPE`")
	asJSON := f.Bool("json", false, "print one JSON object per event and line")
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	filter := queue.EventFilter{}
	if *q != "" {
		if err := queue.CheckQueueName(*q); err != nil {
			return f.usageError("--queue: %v", err)
		}
		filter.Queues = []string{*q}
	}
	if *typ != "" {
		filter.Types = []string{*typ}
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		sub, err := c.Subscribe(ctx, filter)
		if err != nil {
			return a.runtimeError(path, err)
		}
		where := "every queue"
		if *q != "" {
			where = "queue " + *q
		}
		fmt.Fprintf(a.stderr, "%s of %s (Ctrl-C to stop).\n", watchReady, where)
		enc := json.NewEncoder(a.stdout)
		for ev := range sub.Events() {
			if *asJSON {
				err = enc.Encode(ev)
			} else {
				err = printEvent(a.stdout, ev)
			}
			if err != nil {
				return a.runtimeError(path, err)
			}
		}
		if err := sub.Err(); err != nil && !errors.Is(err, context.Canceled) {
			return a.runtimeError(path, err)
		}
		return exitOK
	})
}

// printEvent writes one event as a line: time, kind, job, queue/type, state and attempt,
// then the progress or the error.
func printEvent(w io.Writer, ev queue.Event) error {
	line := fmt.Sprintf("%s  %-9s  %s  %s/%s  %s  attempt %d", fmtTime(ev.At), ev.Kind, ev.JobID,
		ev.Queue, ev.Type, ev.State, ev.Attempt)
	if p := ev.Progress; p != nil {
		line += strings.TrimRight(fmt.Sprintf("  %d%% %s", p.Percent, oneLine(p.Message, 80)), " ")
	}
	if ev.Error != "" {
		line += "  error: " + oneLine(ev.Error, 120)
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
