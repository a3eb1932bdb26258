package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"text/tabwriter"

	"github.com/codex-dominion/dominion/internal/bench"
)

func runBench(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--jobs N] [--concurrency C] [--phases enqueue,process,latency] [--json]", `Measure the configured broker (Redis when REDIS_URL is set, else the embedded one):
  enqueue_seq    jobs/s enqueued one per call
  enqueue_batch  jobs/s enqueued in batches of 1000
  process_c<C>   no-op jobs/s processed by one worker at concurrency C, from a full queue
  latency_p50    ms from enqueue to the handler's start with an idle worker (median)
  latency_p99    the same, 99th percentile
It works on queues of its own (bench-<random>-…) and removes them at the end, also when
interrupted. Progress goes to stderr.`, 0, 0)
	jobs := f.Int("jobs", 10000, "number of jobs of each throughput measurement")
	concurrency := f.Int("concurrency", 10, "the worker's concurrency")
	phasesFlag := f.String("phases", "enqueue,process,latency", "comma-separated `PHASES` to run")
	samples := f.Int("samples", 0, "number of latency samples (default min(jobs, 1000))")
	asJSON := f.Bool("json", false, `print one JSON object per line: {"metric": M, "value": V, "unit": U}`)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	phases, err := bench.ParsePhases(*phasesFlag)
	if err != nil {
		return f.usageError("--phases: %v", err)
	}
	switch {
	case *jobs < 1:
		return f.usageError("--jobs must be at least 1, got %d", *jobs)
	case *concurrency < 1:
		return f.usageError("--concurrency must be at least 1, got %d", *concurrency)
	case *samples < 0:
		return f.usageError("--samples must not be negative, got %d", *samples)
	}

	b, err := a.openBroker(ctx)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer b.Close()
	fmt.Fprintf(a.stderr, "bench: %s, %d jobs, concurrency %d\n", a.cfg.BrokerDescription(), *jobs, *concurrency)
	enc := json.NewEncoder(a.stdout)
	emit := func(r bench.Result) {
		if *asJSON {
			_ = enc.Encode(r)
		} else {
			fmt.Fprintf(a.stderr, "bench: %s = %s %s\n", r.Metric, formatValue(r.Value), r.Unit)
		}
	}
	results, err := bench.Run(ctx, b, bench.Config{
		Jobs:           *jobs,
		Concurrency:    *concurrency,
		Phases:         phases,
		LatencySamples: *samples,
		Progress:       a.stderr,
		// The workers' start and stop messages would only be noise here.
		Logger: a.cfg.Logger(a.logOut, max(a.cfg.LogLevel, slog.LevelWarn)),
	}, emit)
	if !*asJSON && len(results) > 0 {
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "METRIC\tVALUE\tUNIT")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Metric, formatValue(r.Value), r.Unit)
		}
		tw.Flush()
	}
	if err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}

func formatValue(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}
