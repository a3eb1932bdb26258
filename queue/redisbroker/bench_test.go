package redisbroker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// benchJobs returns n new pending jobs on queue q.
func benchJobs(q string, n int) []*queue.Job {
	jobs := make([]*queue.Job, n)
	now := time.Now()
	for i := range jobs {
		jobs[i] = &queue.Job{ID: queue.NewID(), Queue: q, Type: "noop", Payload: []byte(`{"i":1}`),
			State: queue.StatePending, MaxRetries: 3, ResultTTL: time.Hour, EnqueuedAt: now}
	}
	return jobs
}

// benchBroker returns a broker with its own prefix whose queue "q" is removed at the end, so
// that benchmarks run one after another do not slow each other down with Redis's memory
// growth.
func benchBroker(b *testing.B) *Broker {
	br := newBroker(b)
	b.Cleanup(func() { _ = br.RemoveQueue(context.Background(), "q") })
	return br
}

func benchEnqueue(b *testing.B, br *Broker, jobs []*queue.Job) {
	errs, err := br.Enqueue(context.Background(), jobs)
	if err != nil {
		b.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueue enqueues one job per call, one call at a time: a round trip each.
func BenchmarkEnqueue(b *testing.B) {
	br := benchBroker(b)
	jobs := benchJobs("q", b.N)
	b.ResetTimer()
	for i := range b.N {
		benchEnqueue(b, br, jobs[i:i+1])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEnqueueParallel enqueues one job per call from many goroutines, and reports what
// a job cost (reportCost).
func BenchmarkEnqueueParallel(b *testing.B) {
	br := benchBroker(b)
	from := costNow(b)
	benchEnqueueParallel(b, br)
	reportCost(b, from)
}

// benchEnqueueParallel enqueues one job per call from 50 goroutines per 2 cores, as an API
// server under load does, and stops the timer.
func benchEnqueueParallel(b *testing.B, br *Broker) {
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchEnqueue(b, br, benchJobs("q", 1))
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEnqueueMany enqueues jobs in calls of 1000; an op is one job.
func BenchmarkEnqueueMany(b *testing.B) {
	br := benchBroker(b)
	jobs := benchJobs("q", b.N)
	b.ResetTimer()
	for batch := range slices.Chunk(jobs, 1000) {
		benchEnqueue(b, br, batch)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkFetchFinish leases jobs in batches of 50 and completes each batch in one call, from
// a full queue; an op is one job. Sequential: one fetch or finish in flight at a time.
func BenchmarkFetchFinish(b *testing.B) {
	br := benchBroker(b)
	for batch := range slices.Chunk(benchJobs("q", b.N), 1000) {
		benchEnqueue(b, br, batch)
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		done += fetchFinish(b, br, "w")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkFetchFinishParallel is BenchmarkFetchFinish with 4 fetchers (as 4 worker
// processes, or a worker whose fetches overlap its finishes).
func BenchmarkFetchFinishParallel(b *testing.B) {
	br := benchBroker(b)
	for batch := range slices.Chunk(benchJobs("q", b.N), 1000) {
		benchEnqueue(b, br, batch)
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Load() > 0 {
				left.Add(-int64(fetchFinish(b, br, string(rune('a'+w)))))
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// fetchFinish leases up to 50 jobs and completes them; it returns how many.
func fetchFinish(b *testing.B, br *Broker, worker string) int {
	ctx := context.Background()
	jobs, err := br.Fetch(ctx, queue.FetchRequest{WorkerID: worker, Queues: []string{"q"}, Max: 50, Lease: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Finish(ctx, allCompleted(jobs)); err != nil {
		b.Fatal(err)
	}
	return len(jobs)
}

// BenchmarkPhases enqueues b.N jobs, then leases them all, then completes them all, one call
// at a time, in calls of 40 jobs (what a worker of concurrency 50 fetches and finishes at
// once), and reports redis-server's CPU time per job in each phase: where a processed job's
// cost in Redis goes, fetch against finish (docs/BENCHMARKS.md). Run against a redis-server
// under callgrind whose pid is in the file $CALLGRIND_PIDFILE, it also has callgrind dump its
// counts at the end of each phase, so that each dump holds one phase's instructions.
func BenchmarkPhases(b *testing.B) {
	br := benchBroker(b)
	ctx := context.Background()
	const batch = 40
	mark := phaseMarker(b)
	b.ResetTimer()
	from := mark()
	for chunk := range slices.Chunk(benchJobs("q", b.N), 1000) {
		benchEnqueue(b, br, chunk)
	}
	enqueued := mark()
	var leased []*queue.Job
	for len(leased) < b.N {
		jobs, err := br.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: batch, Lease: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		leased = append(leased, jobs...)
	}
	fetched := mark()
	for jobs := range slices.Chunk(leased, batch) {
		if err := br.Finish(ctx, allCompleted(jobs)); err != nil {
			b.Fatal(err)
		}
	}
	finished := mark()
	b.StopTimer()
	perJob := func(from, to float64) float64 { return (to - from) * 1e6 / float64(b.N) }
	b.ReportMetric(perJob(from, enqueued), "enqueue-redis-µs/job")
	b.ReportMetric(perJob(enqueued, fetched), "fetch-redis-µs/job")
	b.ReportMetric(perJob(fetched, finished), "finish-redis-µs/job")
}

// phaseMarker returns a function that reads redis-server's CPU time so far, after asking
// callgrind for a dump when $CALLGRIND_PIDFILE names the pid of the server under it.
func phaseMarker(b *testing.B) func() float64 {
	pid := ""
	if f := os.Getenv("CALLGRIND_PIDFILE"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		pid = strings.TrimSpace(string(data))
	}
	return func() float64 {
		if pid != "" {
			if out, err := exec.Command("callgrind_control", "--dump", pid).CombinedOutput(); err != nil {
				b.Fatalf("callgrind_control --dump %s: %v: %s", pid, err, out)
			}
		}
		return redisCPU(b)
	}
}

// allCompleted returns the outcomes of leased jobs, each completed (main_test.go's completed).
func allCompleted(jobs []*queue.Job) []queue.Outcome {
	outs := make([]queue.Outcome, len(jobs))
	for i, j := range jobs {
		outs[i] = completed(j, "")
	}
	return outs
}

// BenchmarkEnqueueToStart measures the time from the start of an Enqueue to the return of
// the Fetch it wakes (an idle worker blocked in BLPOP); it reports the median and p99.
func BenchmarkEnqueueToStart(b *testing.B) {
	br, name := newNamedBroker(b)
	b.Cleanup(func() { _ = br.RemoveQueue(context.Background(), "q") })
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for range b.N {
		got := make(chan time.Time, 1)
		ready := make(chan struct{})
		go func() {
			close(ready)
			jobs, err := br.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: 10 * time.Second})
			if err != nil || len(jobs) != 1 {
				b.Errorf("fetch: %d jobs, %v", len(jobs), err)
			}
			got <- time.Now()
		}()
		<-ready
		waitBlocked(b, name)
		start := time.Now()
		benchEnqueue(b, br, benchJobs("q", 1))
		lat = append(lat, (<-got).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkWorkerNoop runs no-op jobs from a full queue through a queue.Worker with
// concurrency 50 (the whole stack: fetch in batches, run, finish in batches); an op is a job.
func BenchmarkWorkerNoop(b *testing.B) { benchWorker(b, benchBroker(b)) }

// BenchmarkWorkerNoopSubscribed is BenchmarkWorkerNoop while one subscriber reads the
// queue's events (docs/BENCHMARKS.md: what lifecycle events cost).
func BenchmarkWorkerNoopSubscribed(b *testing.B) {
	br := benchBroker(b)
	queuetest.DrainEvents(b, br, "q")
	benchWorker(b, br)
}

func benchWorker(b *testing.B, br *Broker) { benchWorkers(b, br, []string{"q"}, true) }

// benchWorkers enqueues b.N no-op jobs spread over queues, then runs them with one worker of
// concurrency 50 per queue, all in this process. It reports jobs/s, and the costs per job
// (reportCost) when br is on the package's test server (onServer).
func benchWorkers(b *testing.B, br *Broker, queues []string, onServer bool) {
	for i, q := range queues {
		n := b.N / len(queues)
		if i < b.N%len(queues) {
			n++
		}
		for batch := range slices.Chunk(benchJobs(q, n), 1000) {
			benchEnqueue(b, br, batch)
		}
	}
	var done atomic.Int64
	all := make(chan struct{})
	noop := func(context.Context, *queue.Job) (any, error) {
		if done.Add(1) == int64(b.N) {
			close(all)
		}
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.ResetTimer()
	var from costs
	if onServer {
		from = costNow(b)
	}
	stopped := make(chan error, len(queues))
	for _, q := range queues {
		w := queue.NewWorker(br, queue.WorkerConfig{
			Queues: []queue.QueueWeight{{Name: q, Weight: 1}}, Concurrency: 50,
			Logger: slog.New(slog.DiscardHandler),
		})
		w.HandleFunc("noop", noop)
		go func() { stopped <- w.Run(ctx) }()
	}
	<-all
	b.StopTimer()
	if onServer {
		reportCost(b, from)
	} else {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	}
	cancel()
	for range queues {
		if err := <-stopped; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWaitReplicas measures what WaitReplicas costs, on a master with one replica
// (started with its sentinels): enqueue (one job per call, 50 callers at once) and process (a
// queue.Worker with concurrency 50 from a full queue), each without and with WaitReplicas 1,
// alternated in one run; an op is a job.
func BenchmarkWaitReplicas(b *testing.B) {
	s := testenv.StartSentinel(b)
	open := func(b *testing.B, wait int) *Broker {
		br, err := Open(context.Background(), s.URL(), Options{Prefix: testPrefix(b), WaitReplicas: wait})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = br.RemoveQueue(context.Background(), "q")
			_ = br.Close()
		})
		return br
	}
	for _, phase := range []string{"enqueue", "process"} {
		for _, wait := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/wait=%d", phase, wait), func(b *testing.B) {
				br := open(b, wait)
				if phase == "enqueue" {
					benchEnqueueParallel(b, br)
				} else {
					benchWorker(b, br)
				}
			})
		}
	}
}

// BenchmarkClientEnqueueMany is BenchmarkEnqueueMany through the Client, building each job
// from a Request as the bench module's enqueue_batch does; an op is one job.
func BenchmarkClientEnqueueMany(b *testing.B) {
	c := queue.NewClient(benchBroker(b))
	ctx := context.Background()
	reqs := make([]queue.Request, 1000)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "noop", Options: []queue.Option{queue.OnQueue("q")}}
	}
	b.ResetTimer()
	from := costNow(b)
	for done := 0; done < b.N; done += len(reqs) {
		if _, _, err := c.EnqueueMany(ctx, reqs[:min(len(reqs), b.N-done)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportCost(b, from)
}

// costs is what this process and redis-server have spent so far.
type costs struct {
	cpu      time.Duration // this process
	redisCPU float64       // seconds
	cmds     int64         // commands redis-server ran, those of scripts included
	scripts  int64         // script calls (EVALSHA)
}

func costNow(b *testing.B) costs {
	return costs{cpu: testenv.CPUTime(), redisCPU: redisCPU(b), cmds: redisCommands(b), scripts: scriptCalls(b)}
}

// reportCost reports jobs/s and, per job (op) since from, redis-server's CPU time and
// commands and this process's CPU time, and the jobs per script call: on a shared machine the
// CPU times vary less than the rate, and the commands not at all.
func reportCost(b *testing.B, from costs) {
	to, n := costNow(b), float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric((to.redisCPU-from.redisCPU)*1e6/n, "redis-µs/job")
	b.ReportMetric(float64(to.cmds-from.cmds)/n, "redis-cmds/job")
	b.ReportMetric(float64((to.cpu-from.cpu).Microseconds())/n, "go-µs/job")
	b.ReportMetric(n/float64(to.scripts-from.scripts), "jobs/script-call")
}

// BenchmarkMemoryPerJob reports the Redis memory (INFO used_memory) that each pending job
// with a small payload adds, and each completed one keeps until its result TTL (docs/scaling.md).
func BenchmarkMemoryPerJob(b *testing.B) {
	br := benchBroker(b)
	rc := rawClient(b)
	ctx := context.Background()
	used := func() float64 {
		b.Helper()
		info, err := rc.Info(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		b.Fatal("no used_memory in INFO memory")
		return 0
	}
	before := used()
	for batch := range slices.Chunk(benchJobs("q", b.N), 1000) {
		benchEnqueue(b, br, batch)
	}
	pending := used()
	benchWorkers(b, br, []string{"q"}, true) // its ResetTimer drops the metrics reported before
	b.ReportMetric((pending-before)/float64(b.N), "B/pending-job")
	b.ReportMetric((used()-before)/float64(b.N), "B/completed-job")
}

// BenchmarkDependencies: what a dependency and a batch callback cost (queuetest.BenchDependencies).
func BenchmarkDependencies(b *testing.B) { queuetest.BenchDependencies(b, benchBroker(b)) }

// scriptCalls is the number of EVALSHA calls the shared server has processed so far.
func scriptCalls(b *testing.B) int64 { return evalshaCalls(b, server.Addr()) }
