package sqlitebroker

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

func benchBroker(b *testing.B) *Broker {
	b.Helper()
	br, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	return br
}

func benchJob(q string) *queue.Job {
	return &queue.Job{
		ID: queue.NewID(), Queue: q, Type: "noop", Payload: []byte(`{"n":1}`),
		State: queue.StatePending, MaxRetries: 3, ResultTTL: time.Hour, EnqueuedAt: time.Now(),
	}
}

func benchJobs(n int) []*queue.Job {
	jobs := make([]*queue.Job, n)
	for i := range jobs {
		jobs[i] = benchJob("default")
	}
	return jobs
}

// BenchmarkEnqueueMany enqueues batches of 1000 jobs, one call (one transaction) each; b.N
// counts batches.
func BenchmarkEnqueueMany(b *testing.B) {
	br := benchBroker(b)
	ctx := context.Background()
	const batch = 1000
	batches := make([][]*queue.Job, b.N)
	for i := range batches {
		batches[i] = benchJobs(batch)
	}
	b.ResetTimer()
	cpu0 := testenv.CPUTime()
	for _, jobs := range batches {
		if _, err := br.Enqueue(ctx, jobs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "jobs/s")
	reportCPU(b, cpu0, b.N*batch)
}

// BenchmarkEnqueue enqueues one job per call, from concurrent goroutines.
func BenchmarkEnqueue(b *testing.B) {
	br := benchBroker(b)
	ctx := context.Background()
	b.SetParallelism(8)
	cpu0 := testenv.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.Enqueue(ctx, []*queue.Job{benchJob("default")}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	reportCPU(b, cpu0, b.N)
}

// BenchmarkFetchFinish fetches batches of 50 jobs (and of 10 and 1) and finishes them as
// completed, the way the Worker does; b.N counts jobs.
func BenchmarkFetchFinish(b *testing.B) {
	for _, batch := range []int{50, 10, 1} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchFetchFinish(b, batch) })
	}
}

func benchFetchFinish(b *testing.B, batch int) {
	br := benchBroker(b)
	ctx := context.Background()
	for left := b.N; left > 0; left -= 1000 {
		if _, err := br.Enqueue(ctx, benchJobs(min(left, 1000))); err != nil {
			b.Fatal(err)
		}
	}
	req := queue.FetchRequest{WorkerID: "bench", Queues: []string{"default"}, Max: batch, Lease: time.Minute}
	b.ResetTimer()
	cpu0 := testenv.CPUTime()
	for done := 0; done < b.N; {
		jobs, err := br.Fetch(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		outcomes := make([]queue.Outcome, len(jobs))
		now := time.Now()
		for i, j := range jobs {
			outcomes[i] = queue.Outcome{JobID: j.ID, Queue: j.Queue, WorkerID: j.WorkerID, Attempt: j.Attempt,
				State: queue.StateCompleted, FinishedAt: now}
		}
		if err := br.Finish(ctx, outcomes); err != nil {
			b.Fatal(err)
		}
		done += len(jobs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	reportCPU(b, cpu0, b.N)
}

// BenchmarkEnqueueToStart measures, for one job at a time, the time from Enqueue to the
// return of a Fetch that was already waiting, and reports its median and 99th percentile.
func BenchmarkEnqueueToStart(b *testing.B) {
	br := benchBroker(b)
	ctx := context.Background()
	req := queue.FetchRequest{WorkerID: "bench", Queues: []string{"default"}, Max: 1, Lease: time.Minute, Wait: 10 * time.Second}
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		started := make(chan time.Time, 1)
		go func() {
			jobs, err := br.Fetch(ctx, req)
			if err != nil || len(jobs) != 1 {
				b.Errorf("fetch: %v, %d jobs", err, len(jobs))
			}
			started <- time.Now()
		}()
		waitForWaiters(b, br)
		t0 := time.Now()
		if _, err := br.Enqueue(ctx, []*queue.Job{benchJob("default")}); err != nil {
			b.Fatal(err)
		}
		t1 := <-started
		mu.Lock()
		lat = append(lat, t1.Sub(t0))
		mu.Unlock()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// waitForWaiters returns once a Fetch is waiting on the broker.
func waitForWaiters(tb testing.TB, br *Broker) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for br.waiters.Load() == 0 {
		if time.Now().After(deadline) {
			tb.Fatal("no Fetch started waiting")
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// reportCPU reports the CPU time per job since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration, jobs int) {
	b.ReportMetric(float64((testenv.CPUTime()-cpu0).Microseconds())/float64(jobs), "cpu-µs/job")
}

// BenchmarkWorkerNoop runs queue.Worker at concurrency 50 on b.N no-op jobs enqueued
// beforehand and reports the jobs it completes per second.
func BenchmarkWorkerNoop(b *testing.B) { workerNoop(b, false) }

// BenchmarkWorkerNoopSubscribed is BenchmarkWorkerNoop while one subscriber reads the
// queue's events (docs/BENCHMARKS.md: what lifecycle events cost).
func BenchmarkWorkerNoopSubscribed(b *testing.B) { workerNoop(b, true) }

func workerNoop(b *testing.B, subscribe bool) {
	br := benchBroker(b)
	ctx := context.Background()
	if subscribe {
		queuetest.DrainEvents(b, br, queue.DefaultQueue)
	}
	for left := b.N; left > 0; left -= 1000 {
		if _, err := br.Enqueue(ctx, benchJobs(min(left, 1000))); err != nil {
			b.Fatal(err)
		}
	}
	w := queue.NewWorker(br, queue.WorkerConfig{Concurrency: 50, MaxBatch: 50,
		Logger: slog.New(slog.DiscardHandler)})
	w.HandleFunc("noop", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	cpu0 := testenv.CPUTime()
	go func() { done <- w.Run(runCtx) }()
	for {
		qs, err := br.Queues(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(qs) == 1 && qs[0].Completed == int64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	reportCPU(b, cpu0, b.N)
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDependencies: what a dependency and a batch callback cost (queuetest.BenchDependencies).
func BenchmarkDependencies(b *testing.B) { queuetest.BenchDependencies(b, benchBroker(b)) }
