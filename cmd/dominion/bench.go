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

// benchHelp is dominion bench's --help text.
const benchHelp = `Measure the configured broker (Redis when REDIS_URL is set, else the embedded one):
  enqueue_seq    jobs/s enqueued one per call
  enqueue_batch  jobs/s enqueued in batches of 1000
  process_c<C>   no-op jobs/s processed by one worker at concurrency C, from a full queue
  latency_p50    ms from enqueue to the handler's start with an idle worker (median)
  latency_p99    the same, 99th percentile
It works on queues of its own (bench-<random>-…) and removes them at the end, also when
interrupted. Progress goes to stderr.`

func runBench(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--jobs N] [--concurrency C] [--phases enqueue,process,latency] [--json]", benchHelp, 0, 0)
	bf := newBenchFlags(f)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	phases, code, ok := bf.check(f)
	if !ok {
		return code
	}

	b, err := a.openBroker(ctx)
	if err != nil {
		return a.runtimeError(path, err)
	}
	defer b.Close()
	fmt.Fprintf(a.stderr, "bench: %s, %d jobs, concurrency %d\n", a.cfg.BrokerDescription(), *bf.jobs, *bf.concurrency)
	results, err := bench.Run(ctx, b, bench.Config{
		Jobs:           *bf.jobs,
		Concurrency:    *bf.concurrency,
		Phases:         phases,
		LatencySamples: *bf.samples,
		Progress:       a.stderr,
		// The workers' start and stop messages would only be noise here.
		Logger: a.cfg.Logger(a.logOut, max(a.cfg.LogLevel, slog.LevelWarn)),
	}, a.benchEmitter(*bf.asJSON))
	if !*bf.asJSON && len(results) > 0 {
		a.printBenchTable(results)
	}
	if err != nil {
		return a.runtimeError(path, err)
	}
	return exitOK
}

// benchFlags are dominion bench's flags.
type benchFlags struct {
	jobs, concurrency, samples *int
	phases                     *string
	asJSON                     *bool
}

// newBenchFlags defines dominion bench's flags on f.
func newBenchFlags(f *flags) *benchFlags {
	return &benchFlags{
		jobs:        f.Int("jobs", 10000, "number of jobs of each throughput measurement"),
		concurrency: f.Int("concurrency", 10, "the worker's concurrency"),
		phases:      f.String("phases", "enqueue,process,latency", "comma-separated `PHASES` to run"),
		samples:     f.Int("samples", 0, "number of latency samples (default min(jobs, 1000))"),
		asJSON:      f.Bool("json", false, `print one JSON object per line: {"metric": M, "value": V, "unit": U}`),
	}
}

// check returns the phases of --phases, or reports it or another flag value out of range as
// a usage error.
func (bf *benchFlags) check(f *flags) (phases []bench.Phase, code int, ok bool) {
	phases, err := bench.ParsePhases(*bf.phases)
	if err != nil {
		return nil, f.usageError("--phases: %v", err), false
	}
	switch {
	case *bf.jobs < 1:
		return nil, f.usageError("--jobs must be at least 1, got %d", *bf.jobs), false
	case *bf.concurrency < 1:
		return nil, f.usageError("--concurrency must be at least 1, got %d", *bf.concurrency), false
	case *bf.samples < 0:
		return nil, f.usageError("--samples must not be negative, got %d", *bf.samples), false
	}
	return phases, 0, true
}

// benchEmitter returns the function that reports each result as it comes: a JSON line on
// stdout with asJSON, else a line on stderr.
func (a *app) benchEmitter(asJSON bool) func(bench.Result) {
	enc := json.NewEncoder(a.stdout)
	return func(r bench.Result) {
		if asJSON {
			_ = enc.Encode(r)
		} else {
			fmt.Fprintf(a.stderr, "bench: %s = %s %s\n", r.Metric, formatValue(r.Value), r.Unit)
		}
	}
}

// printBenchTable prints the results as a table on stdout.
func (a *app) printBenchTable(results []bench.Result) {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tVALUE\tUNIT")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Metric, formatValue(r.Value), r.Unit)
	}
	tw.Flush()
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
