// Command bench measures Dominion's Redis broker, Asynq and BullMQ side by side, in one run, on
// one private redis-server that it starts on a free port and stops afterwards. It is a module
// of its own so that Dominion itself does not depend on Asynq; BullMQ runs in Node.js, from
// bullmq/bench.mjs, with the packages of bullmq/package-lock.json (installed with npm ci on
// the first run).
//
//	cd bench && go run . [-jobs 20000] [-concurrency 50] [-runs 5] [-systems dominion,asynq,bullmq]
//
// Every metric is measured -runs times per system, alternating systems (in the order given
// in odd runs, reversed in even ones), and the median is
// reported, for each peer, with the ratio Dominion/peer (for latencies, peer/Dominion: how
// many times lower Dominion's is), and so is the lowest ratio of one run, Dominion's and the
// peer's measurements taken one after the other, with every run's figures. For the process
// phase of the Go systems it also reports the CPU each job cost, redis-server's and the
// bench process's (the clients and workers), within the timed window (meter): on a shared
// machine those move much less from run to run than the rates do.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	jobs, concurrency, runs, seqJobs, latencySamples, backlog int
	systems                                                   string
}

// system is one queue implementation under measurement.
type system interface {
	Name() string
	EnqueueSeq(ctx context.Context, n int) (perSec float64, err error)
	EnqueueBatch(ctx context.Context, n int) (perSec float64, err error)
	// EnqueueConcurrent enqueues n jobs one per call from that many callers at once, as an
	// API server does with its requests.
	EnqueueConcurrent(ctx context.Context, n, callers int) (perSec float64, err error)
	// Process times n jobs run by a worker of that concurrency from a full queue; a system
	// that can calls m.Start and m.Stop at its timed window's ends (meter).
	Process(ctx context.Context, n, concurrency int, m *meter) (perSec float64, err error)
	// Latency measures pickup with backlog jobs waiting in another queue, which the
	// worker does not serve.
	Latency(ctx context.Context, samples, backlog int) (p50, p99 time.Duration, err error)
	Reset(ctx context.Context) error
	Close() error
}

func main() {
	var o options
	flag.IntVar(&o.jobs, "jobs", 20000, "jobs for the batch-enqueue and process phases")
	flag.IntVar(&o.seqJobs, "seq-jobs", 5000, "jobs for the one-at-a-time enqueue phase")
	flag.IntVar(&o.concurrency, "concurrency", 50, "worker concurrency for the process phase")
	flag.IntVar(&o.runs, "runs", 5, "runs per metric and system (the median is reported)")
	flag.IntVar(&o.latencySamples, "latency-samples", 500, "jobs enqueued 2 ms apart for the latency phase")
	flag.IntVar(&o.backlog, "backlog", 1000, "jobs waiting in another queue (not served) during the latency phase")
	flag.StringVar(&o.systems, "systems", "dominion,asynq,bullmq", "the systems to measure, Dominion first (every other run measures them in reverse order; bullmq needs Node.js 20 or newer)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	addr, stopRedis, err := startRedis(ctx)
	if err != nil {
		return err
	}
	defer stopRedis()
	m := newMeter(addr)
	defer m.Close()
	systems, err := open(ctx, strings.Split(o.systems, ","), addr)
	for _, s := range systems {
		defer s.Close()
	}
	if err != nil {
		return err
	}

	results := map[string]map[string][]float64{} // metric → system → values
	record := func(metric, sys string, v float64) {
		if results[metric] == nil {
			results[metric] = map[string][]float64{}
		}
		results[metric][sys] = append(results[metric][sys], v)
	}
	for r := 1; r <= o.runs; r++ {
		for _, s := range runOrder(systems, r) {
			fmt.Fprintf(os.Stderr, "run %d/%d: %s\n", r, o.runs, s.Name())
			if err := measure(ctx, s, o, m, record); err != nil {
				return fmt.Errorf("%s: %w", s.Name(), err)
			}
		}
	}
	for _, peer := range systems[1:] {
		report(results, o, peer.Name())
	}
	return nil
}

// runOrder is the order of the systems in run r (from 1): as given in odd runs, reversed in
// even ones, so that no system always runs first (on a warmer or colder machine, right after
// another's load) or always last.
func runOrder(systems []system, r int) []system {
	if r%2 == 1 {
		return systems
	}
	reversed := slices.Clone(systems)
	slices.Reverse(reversed)
	return reversed
}

// open opens the systems named, on the redis-server at addr; Dominion must come first, as
// every ratio is Dominion's against another.
func open(ctx context.Context, names []string, addr string) ([]system, error) {
	if len(names) < 2 || names[0] != "dominion" {
		return nil, fmt.Errorf("-systems %s: name dominion first, then one or more of asynq, bullmq", strings.Join(names, ","))
	}
	var systems []system
	for _, name := range names {
		var s system
		var err error
		switch name {
		case "dominion":
			s, err = newDominion(ctx, addr)
		case "asynq":
			s = newAsynq(addr)
		case "bullmq":
			s, err = newBullMQ(ctx, addr)
		default:
			err = fmt.Errorf("-systems: unknown system %q (dominion, asynq, bullmq)", name)
		}
		if err != nil {
			return systems, fmt.Errorf("%s: %w", name, err)
		}
		systems = append(systems, s)
	}
	return systems, nil
}

func measure(ctx context.Context, s system, o options, m *meter, record func(metric, sys string, v float64)) error {
	process := fmt.Sprintf("process_c%d", o.concurrency)
	enqueueC := fmt.Sprintf("enqueue_c%d", o.concurrency)
	steps := []struct {
		metric string
		fn     func() (float64, error)
	}{
		{"enqueue_seq", func() (float64, error) { return s.EnqueueSeq(ctx, o.seqJobs) }},
		{"enqueue_batch", func() (float64, error) { return s.EnqueueBatch(ctx, o.jobs) }},
		{enqueueC, func() (float64, error) { return s.EnqueueConcurrent(ctx, o.seqJobs*4, o.concurrency) }},
		{process, func() (float64, error) { return s.Process(ctx, o.jobs, o.concurrency, m) }},
	}
	for _, st := range steps {
		if err := s.Reset(ctx); err != nil {
			return err
		}
		m.reset()
		v, err := st.fn()
		if err != nil {
			return fmt.Errorf("%s: %w", st.metric, err)
		}
		record(st.metric, s.Name(), v)
	}
	if redisUS, clientUS, ok := m.perJob(o.jobs); ok {
		record(process+redisSuffix, s.Name(), redisUS)
		record(process+clientSuffix, s.Name(), clientUS)
	}
	if err := s.Reset(ctx); err != nil {
		return err
	}
	p50, p99, err := s.Latency(ctx, o.latencySamples, o.backlog)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	record("latency_p50", s.Name(), float64(p50.Microseconds())/1000)
	record("latency_p99", s.Name(), float64(p99.Microseconds())/1000)
	return s.Reset(ctx)
}

// report prints Dominion's medians against peer's, with their ratio and each run's figures.
func report(results map[string]map[string][]float64, o options, peer string) {
	metrics := make([]string, 0, len(results))
	for m := range results {
		metrics = append(metrics, m)
	}
	process := fmt.Sprintf("process_c%d", o.concurrency)
	order := []string{"enqueue_seq", "enqueue_batch", fmt.Sprintf("enqueue_c%d", o.concurrency), process, process + redisSuffix, process + clientSuffix, "latency_p50", "latency_p99"}
	sort.Slice(metrics, func(i, j int) bool { return slices.Index(order, metrics[i]) < slices.Index(order, metrics[j]) })
	fmt.Printf("\nDominion and %s: %d runs each, medians; jobs=%d seq-jobs=%d concurrency=%d latency-samples=%d backlog=%d\n\n",
		peer, o.runs, o.jobs, o.seqJobs, o.concurrency, o.latencySamples, o.backlog)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "| metric\t| unit\t| dominion\t| %[1]s\t| dominion vs %[1]s\t| lowest run ratio\t| dominion runs\t| %[1]s runs\t|\n", peer)
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, m := range metrics {
		ds, ps := results[m]["dominion"], results[m][peer]
		unit, lower := unitOf(m) // lower is better: the ratio is peer/dominion
		if len(ds) == 0 || len(ps) == 0 {
			fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| n/a\t| n/a\t| n/a\t| %s\t| not measured\t|\n", m, unit, num(median(ds)), nums(ds))
			continue
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %.1f×\t| %.1f×\t| %s\t| %s\t|\n", m, unit, num(median(ds)), num(median(ps)),
			ratio(median(ds), median(ps), lower), slices.Min(runRatios(ds, ps, lower)), nums(ds), nums(ps))
	}
	tw.Flush()
	switch peer {
	case "asynq":
		fmt.Println("\nasynq has no batch enqueue: its enqueue_batch is Enqueue called from 50 goroutines at once.")
	case "bullmq":
		fmt.Println("\nbullmq's enqueue_batch is Queue.addBulk in lists of 1,000; it runs in one Node.js process (one thread).")
	}
	fmt.Printf("For latencies and CPU per job the ratio is %s/dominion (how many times lower Dominion's is).\n", peer)
	fmt.Printf("%s%s and %s%s: CPU per job of the timed window, redis-server's and the clients' and workers' (this process's).\n",
		process, redisSuffix, process, clientSuffix)
	fmt.Println("A run is one measurement of each system, one after the other (in reverse order every other run); its ratio compares the two.")
}

// The metrics of the CPU that the process phase costs per job.
const (
	redisSuffix  = "_redis_cpu"
	clientSuffix = "_client_cpu"
)

// unitOf returns the unit of metric m and whether lower is better.
func unitOf(m string) (unit string, lower bool) {
	switch {
	case strings.HasPrefix(m, "latency"):
		return "ms", true
	case strings.HasSuffix(m, redisSuffix), strings.HasSuffix(m, clientSuffix):
		return "µs/job", true
	}
	return "jobs/s", false
}

// ratio is how many times better d is than a: d/a, or a/d where lower is better.
func ratio(d, a float64, lower bool) float64 {
	if lower {
		return a / d
	}
	return d / a
}

// runRatios returns the ratio of each run: the i-th measurements of both systems were taken
// one after the other.
func runRatios(ds, as []float64, lower bool) []float64 {
	r := make([]float64, min(len(ds), len(as)))
	for i := range r {
		r[i] = ratio(ds[i], as[i], lower)
	}
	return r
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func nums(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = num(x)
	}
	return strings.Join(parts, " ")
}

// startRedis starts a private redis-server (no persistence) on a free port.
func startRedis(ctx context.Context) (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found: install it (apt-get install redis-server)")
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "dominion-bench-redis")
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	if err := waitRedis(ctx, addr); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}
