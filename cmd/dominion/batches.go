package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/codex-dominion/dominion/queue"
)

func batchesCommands() []command {
	return []command{
		{name: "show", summary: "show a batch: its jobs by state, whether it is sealed and finished, its callbacks", run: runBatchesShow},
	}
}

func runBatchesShow(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "ID [--json]", "Show a batch (queue.EnqueueBatch, OpenBatch): how many jobs it has, how many are not\nfinished (pending), completed, dead and canceled, whether it is sealed, when it finished,\nand the IDs of its callback jobs.", 1, 1)
	asJSON := f.Bool("json", false, "print the batch as a JSON object, as GET /api/batches/{id} answers it")
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	return a.withClient(ctx, path, func(c *queue.Client) int {
		s, err := c.Batch(ctx, pos[0])
		if err != nil {
			return a.runtimeError(path, err)
		}
		if *asJSON {
			return a.printJSON(path, s)
		}
		printBatch(a.stdout, s)
		return exitOK
	})
}

func printBatch(w io.Writer, s queue.BatchStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	state := "open"
	switch {
	case s.Finished():
		state = "finished"
	case s.Sealed:
		state = "sealed"
	}
	row("ID", s.ID)
	row("State", state)
	row("Created", fmtTime(s.CreatedAt))
	row("Finished", fmtTime(s.FinishedAt))
	for _, c := range []struct {
		name string
		n    int64
	}{{"Total", s.Total}, {"Pending", s.Pending}, {"Completed", s.Completed}, {"Dead", s.Dead}, {"Canceled", s.Canceled}} {
		row(c.name, strconv.FormatInt(c.n, 10))
	}
	row("On complete", s.OnComplete)
	row("On success", s.OnSuccess)
	tw.Flush()
}
