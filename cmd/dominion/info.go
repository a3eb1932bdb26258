package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// infoOutput is the one object `info --json` prints.
type infoOutput struct {
	Queues  []queue.QueueStats `json:"queues"`
	Workers []queue.WorkerInfo `json:"workers"`
	// Warnings are problems an operator should act on, one sentence each: a queue with
	// pending jobs that no live worker serves.
	Warnings []string `json:"warnings"`
}

// unservedWarnings says, for each queue with pending jobs that no live worker serves, that its
// jobs wait.
func unservedWarnings(qs []queue.QueueStats, ws []queue.WorkerInfo) []string {
	out := []string{}
	for _, q := range queue.Unserved(qs, ws) {
		out = append(out, fmt.Sprintf("queue %s has %d pending jobs and no live worker serves it: start 'dominion worker' (it serves every queue of the service) or 'dominion worker --queues %s'",
			q.Name, q.Pending, q.Name))
	}
	return out
}

func runInfo(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--json]", `Show, for every queue, the number of jobs in each state, whether it is paused, and the
jobs processed and failed so far, and the pending jobs per priority where some are not of
the default priority, and the limits of the queues that have some; then the live workers.`, 0, 0)
	asJSON := f.Bool("json", false, `print one JSON object {"queues": […], "workers": […]} (a queue's pending_by_priority counts its pending jobs per priority)`)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		qs, err := c.Queues(ctx)
		if err != nil {
			return a.runtimeError(path, err)
		}
		ws, err := c.Workers(ctx)
		if err != nil {
			return a.runtimeError(path, err)
		}
		out := infoOutput{Queues: qs, Workers: ws, Warnings: unservedWarnings(qs, ws)}
		if out.Queues == nil {
			out.Queues = []queue.QueueStats{}
		}
		if out.Workers == nil {
			out.Workers = []queue.WorkerInfo{}
		}
		for i := range out.Workers {
			if out.Workers[i].Queues == nil {
				out.Workers[i].Queues = []string{}
			}
			if out.Workers[i].Jobs == nil {
				out.Workers[i].Jobs = []string{}
			}
		}
		if *asJSON {
			return a.printJSON(path, out)
		}
		printInfo(a.stdout, a.cfg.BrokerDescription(), out, time.Now())
		return exitOK
	})
}

func printInfo(w io.Writer, broker string, out infoOutput, now time.Time) {
	fmt.Fprintf(w, "Broker: %s\n\n", broker)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(out.Queues) == 0 {
		fmt.Fprintln(w, "No queues.")
	} else {
		fmt.Fprintln(tw, "QUEUE\tPAUSED\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tDEAD\tCOMPLETED\tCANCELED\tPROCESSED\tFAILED")
		for _, q := range out.Queues {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", q.Name, yesNo(q.Paused),
				q.Pending, q.Active, q.Scheduled, q.Retry, q.Dead, q.Completed, q.Canceled, q.Processed, q.Failed)
		}
		tw.Flush()
		printPriorities(w, out.Queues)
		for _, q := range out.Queues {
			if q.Limits != nil {
				fmt.Fprintf(w, "Limits of queue %s: %s.\n", q.Name, q.Limits)
			}
		}
	}
	fmt.Fprintln(w)
	if len(out.Workers) == 0 {
		fmt.Fprintln(w, "No live workers.")
	} else {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "WORKER\tHOST\tPID\tQUEUES\tCONCURRENCY\tJOBS\tPROCESSED\tFAILED\tLAST HEARTBEAT")
		for _, wk := range out.Workers {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s ago\n", wk.ID, wk.Host, wk.PID,
				strings.Join(wk.Queues, ","), wk.Concurrency, len(wk.Jobs), wk.Processed, wk.Failed,
				now.Sub(wk.Heartbeat).Round(time.Millisecond))
		}
		tw.Flush()
	}
	for _, warn := range out.Warnings {
		fmt.Fprintf(w, "\nWarning: %s.\n", warn)
	}
}

// printPriorities shows, for each queue with pending jobs of a priority other than the
// default, its pending jobs per priority, highest (the next to run) first.
func printPriorities(w io.Writer, qs []queue.QueueStats) {
	first := true
	for _, q := range qs {
		if q.PendingByPriority == nil || len(q.PendingByPriority) == 1 && q.PendingByPriority[queue.DefaultPriority] > 0 {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nPending jobs by priority (higher runs first):")
			first = false
		}
		var parts []string
		for _, p := range slices.Backward(slices.Sorted(maps.Keys(q.PendingByPriority))) {
			parts = append(parts, fmt.Sprintf("%+d: %d", p, q.PendingByPriority[p]))
		}
		fmt.Fprintf(w, "  %s  %s\n", q.Name, strings.Join(parts, ", "))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printJSON prints v as indented JSON on stdout.
func (a *app) printJSON(path string, v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}
