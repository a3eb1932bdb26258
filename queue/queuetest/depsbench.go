package queuetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// BenchDependencies measures, on br with an idle worker (concurrency 10), what dependencies
// and batches cost (docs/BENCHMARKS.md), and reports the medians and 99th percentiles in ms:
//
//   - pair: from the enqueue of two independent jobs to the start of the later one's handler
//   - chain: from the enqueue of a job and its child (DependsOn) to the start of the child's
//     handler, which waits for its parent's outcome to be recorded
//   - callback: from the return of the last handler of a batch of 3 jobs to the start of the
//     batch's OnComplete callback's handler
//
// b.N rounds of each, one at a time.
func BenchDependencies(b *testing.B, br queue.Broker) {
	ctx := context.Background()
	d := &depsBench{c: queue.NewClient(br), on: queue.OnQueue("deps-bench"),
		starts: make(chan handlerStart, 64), started: map[string]time.Time{}}
	stop := d.startWorker(ctx, br)
	defer stop()
	var pair, chain, callback []float64
	b.ResetTimer()
	for i := range b.N {
		pair = append(pair, d.pair(ctx, b, i))
		chain = append(chain, d.chain(ctx, b, i))
		callback = append(callback, d.callback(ctx, b, i))
		clear(d.started)
	}
	b.StopTimer()
	for name, s := range map[string][]float64{"pair": pair, "chain": chain, "callback": callback} {
		b.ReportMetric(percentile(s, 50), name+"-p50-ms")
		b.ReportMetric(percentile(s, 99), name+"-p99-ms")
	}
}

// handlerStart is when the handler of the job id started.
type handlerStart struct {
	id string
	at time.Time
}

// depsBench is the client and the handler starts of BenchDependencies.
type depsBench struct {
	c       *queue.Client
	on      queue.Option         // the benchmark's queue
	starts  chan handlerStart    // sent by the handler
	started map[string]time.Time // the starts received so far, by job ID
}

// startWorker starts the benchmark's worker on br; stop stops it and waits for it to return.
func (d *depsBench) startWorker(ctx context.Context, br queue.Broker) (stop func()) {
	w := queue.NewWorker(br, queue.WorkerConfig{Concurrency: 10, Queues: []queue.QueueWeight{{Name: "deps-bench", Weight: 1}}})
	w.HandleFunc("bench", func(_ context.Context, j *queue.Job) (any, error) {
		d.starts <- handlerStart{j.ID, time.Now()}
		return nil, nil
	})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	return func() { cancel(); <-done }
}

// startOf waits for the handler of job id to start and returns when it did.
func (d *depsBench) startOf(id string) time.Time {
	for {
		if at, ok := d.started[id]; ok {
			return at
		}
		s := <-d.starts
		d.started[s.id] = s.at
	}
}

// pair enqueues two independent jobs (round i) and returns the ms until the later one starts.
func (d *depsBench) pair(ctx context.Context, b *testing.B, i int) float64 {
	first, second := fmt.Sprintf("p%d-a", i), fmt.Sprintf("p%d-b", i)
	t0 := time.Now()
	if _, _, err := d.c.EnqueueMany(ctx, []queue.Request{{Type: "bench", Options: []queue.Option{d.on, queue.WithID(first)}}, {Type: "bench", Options: []queue.Option{d.on, queue.WithID(second)}}}); err != nil {
		b.Fatal(err)
	}
	return max(ms(d.startOf(first).Sub(t0)), ms(d.startOf(second).Sub(t0)))
}

// chain enqueues a job and its child (round i) and returns the ms until the child starts.
func (d *depsBench) chain(ctx context.Context, b *testing.B, i int) float64 {
	parent, child := fmt.Sprintf("c%d-a", i), fmt.Sprintf("c%d-b", i)
	t0 := time.Now()
	if _, _, err := d.c.EnqueueMany(ctx, []queue.Request{{Type: "bench", Options: []queue.Option{d.on, queue.WithID(parent)}}, {Type: "bench", Options: []queue.Option{d.on, queue.WithID(child), queue.DependsOn(parent)}}}); err != nil {
		b.Fatal(err)
	}
	return ms(d.startOf(child).Sub(t0))
}

// callback enqueues a batch of 3 jobs with an OnComplete callback (round i) and returns the ms
// from the start of the batch's last job to the start of the callback.
func (d *depsBench) callback(ctx context.Context, b *testing.B, i int) float64 {
	cb := fmt.Sprintf("cb%d", i)
	reqs := []queue.Request{{Type: "bench", Options: []queue.Option{d.on}}, {Type: "bench", Options: []queue.Option{d.on}}, {Type: "bench", Options: []queue.Option{d.on}}}
	if _, _, _, err := d.c.EnqueueBatch(ctx, reqs, queue.OnComplete("bench", nil, d.on, queue.WithID(cb))); err != nil {
		b.Fatal(err)
	}
	at := d.startOf(cb)
	last := lastBefore(d.started, at)
	return ms(at.Sub(last))
}

// lastBefore is the latest handler start before at among started: the batch's last job's,
// whose no-op handler returns as it starts.
func lastBefore(started map[string]time.Time, at time.Time) time.Time {
	var best time.Time
	for _, t := range started {
		if t.Before(at) && t.After(best) {
			best = t
		}
	}
	return best
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the p-th percentile of s (nearest rank).
func percentile(s []float64, p int) float64 {
	if len(s) == 0 {
		return 0
	}
	s = slices.Sorted(slices.Values(s))
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
