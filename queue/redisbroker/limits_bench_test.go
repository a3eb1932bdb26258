package redisbroker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// runWorker runs the jobs of queue "q" through a queue.Worker of concurrency 50 until n have
// run, and returns the jobs per second.
func runWorker(b *testing.B, br *Broker, n int) float64 {
	var done atomic.Int64
	all := make(chan struct{})
	w := queue.NewWorker(br, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "q", Weight: 1}}, Concurrency: 50,
		Logger: slog.New(slog.DiscardHandler),
	})
	w.HandleFunc("noop", func(context.Context, *queue.Job) (any, error) {
		if done.Add(1) == int64(n) {
			close(all)
		}
		return nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	<-all
	took := time.Since(start)
	cancel()
	if err := <-stopped; err != nil {
		b.Fatal(err)
	}
	return float64(n) / took.Seconds()
}

// BenchmarkKeyConcurrency measures, side by side in each round, no-op jobs per second at
// concurrency 50 from a full queue of 20,000 jobs: "unlimited" (no limits, no keys) and
// "key_c1" (100 rate keys, each limited to one running job). It reports the medians over the
// rounds (b.N) and the median of each round's ratio.
func BenchmarkKeyConcurrency(b *testing.B) {
	const n = 20000
	var free, keyed, ratio []float64
	for range b.N {
		br := benchBroker(b)
		benchEnqueueAll(b, br, benchJobs("q", n))
		f := runWorker(b, br, n)

		br = benchBroker(b)
		if err := br.SetLimits(context.Background(), "q", queue.QueueLimits{Keys: map[string]queue.Limit{"k:": {Concurrency: 1}}}); err != nil {
			b.Fatal(err)
		}
		jobs := benchJobs("q", n)
		for i, j := range jobs {
			j.RateKey = "k:" + strconv.Itoa(i%100)
		}
		benchEnqueueAll(b, br, jobs)
		k := runWorker(b, br, n)
		free, keyed, ratio = append(free, f), append(keyed, k), append(ratio, k/f)
		b.Logf("round: unlimited %.0f jobs/s, key_c1 %.0f jobs/s, ratio %.2f", f, k, k/f)
	}
	b.ReportMetric(median(free), "unlimited-jobs/s")
	b.ReportMetric(median(keyed), "key_c1-jobs/s")
	b.ReportMetric(median(ratio), "ratio")
}

func benchEnqueueAll(b *testing.B, br *Broker, jobs []*queue.Job) {
	for batch := range slices.Chunk(jobs, 1000) {
		benchEnqueue(b, br, batch)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkRateLimitedIdle measures what a worker costs while its queue is rate-limited:
// 1,000 jobs wait on a queue limited to 10/s, and a worker of concurrency 50 runs them at
// that rate for 5 s; beside it, the same worker idle on an empty queue without limits. It
// reports the worker process's CPU time (getrusage) and redis-server's (INFO cpu) per second
// of each, and the Redis commands per second.
func BenchmarkRateLimitedIdle(b *testing.B) {
	const span = 5 * time.Second
	var limited, idle []cost
	for range b.N {
		br := benchBroker(b)
		if err := br.SetLimits(context.Background(), "q", queue.QueueLimits{Queue: queue.Limit{Rate: queue.Rate{N: 10, Per: time.Second}}}); err != nil {
			b.Fatal(err)
		}
		benchEnqueueAll(b, br, benchJobs("q", 1000))
		limited = append(limited, measureIdle(b, br, span))
		idle = append(idle, measureIdle(b, benchBroker(b), span))
		b.Logf("round: rate-limited %v; idle %v", limited[len(limited)-1], idle[len(idle)-1])
	}
	for name, cs := range map[string][]cost{"limited": limited, "idle": idle} {
		b.ReportMetric(median(field(cs, func(c cost) float64 { return c.workerMS })), name+"-worker-cpu-ms/s")
		b.ReportMetric(median(field(cs, func(c cost) float64 { return c.redisMS })), name+"-redis-cpu-ms/s")
		b.ReportMetric(median(field(cs, func(c cost) float64 { return c.cmds })), name+"-redis-cmds/s")
		b.ReportMetric(median(field(cs, func(c cost) float64 { return c.jobs })), name+"-jobs/s")
	}
}

// cost is what a worker cost per second.
type cost struct{ workerMS, redisMS, cmds, jobs float64 }

func (c cost) String() string {
	return fmt.Sprintf("worker %.2f ms CPU/s, redis %.2f ms CPU/s, %.0f commands/s, %.1f jobs/s", c.workerMS, c.redisMS, c.cmds, c.jobs)
}

func field(cs []cost, f func(cost) float64) []float64 {
	out := make([]float64, len(cs))
	for i, c := range cs {
		out[i] = f(c)
	}
	return out
}

// measureIdle runs a worker on queue "q" for span and returns its cost per second.
func measureIdle(b *testing.B, br *Broker, span time.Duration) cost {
	var ran atomic.Int64
	w := queue.NewWorker(br, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "q", Weight: 1}}, Concurrency: 50,
		Logger: slog.New(slog.DiscardHandler),
	})
	w.HandleFunc("noop", func(context.Context, *queue.Job) (any, error) { ran.Add(1); return nil, nil })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	time.Sleep(500 * time.Millisecond) // the benchmark's warm-up, not a synchronisation
	cpu0, redis0, cmds0, ran0, t0 := testenv.CPUTime(), redisCPU(b), redisCommands(b), ran.Load(), time.Now()
	time.Sleep(span) // the span measured
	cpu1, redis1, cmds1, ran1, secs := testenv.CPUTime(), redisCPU(b), redisCommands(b), ran.Load(), time.Since(t0).Seconds()
	cancel()
	if err := <-stopped; err != nil {
		b.Fatal(err)
	}
	return cost{
		workerMS: float64((cpu1 - cpu0).Milliseconds()) / secs, redisMS: (redis1 - redis0) * 1000 / secs,
		cmds: float64(cmds1-cmds0) / secs, jobs: float64(ran1-ran0) / secs,
	}
}

// redisInfo returns the value of field in INFO section of the test server.
func redisInfo(b *testing.B, section, field string) string {
	v, ok := lookupInfo(b, server.Addr(), section, field)
	if !ok {
		b.Fatalf("no %s in INFO %s", field, section)
	}
	return v
}

// lookupInfo returns the value of field in INFO section of the server at addr, and whether
// the section has it.
func lookupInfo(t testing.TB, addr, section, field string) (string, bool) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v, true
		}
	}
	return "", false
}

// redisCPU is redis-server's CPU time so far, in seconds.
func redisCPU(b *testing.B) float64 {
	sys, _ := strconv.ParseFloat(redisInfo(b, "cpu", "used_cpu_sys"), 64)
	user, _ := strconv.ParseFloat(redisInfo(b, "cpu", "used_cpu_user"), 64)
	return sys + user
}

// redisCommands is the number of commands the server has processed so far.
func redisCommands(b *testing.B) int64 {
	n, _ := strconv.ParseInt(redisInfo(b, "stats", "total_commands_processed"), 10, 64)
	return n
}
