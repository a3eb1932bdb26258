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
	c := queue.NewClient(br)
	type start struct {
		id string
		at time.Time
	}
	starts := make(chan start, 64)
	w := queue.NewWorker(br, queue.WorkerConfig{Concurrency: 10, Queues: []queue.QueueWeight{{Name: "deps-bench", Weight: 1}}})
	w.HandleFunc("bench", func(_ context.Context, j *queue.Job) (any, error) {
		starts <- start{j.ID, time.Now()}
		return nil, nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()
	started := map[string]time.Time{}
	startOf := func(id string) time.Time {
		for {
			if at, ok := started[id]; ok {
				return at
			}
			s := <-starts
			started[s.id] = s.at
		}
	}
	on := queue.OnQueue("deps-bench")
	var pair, chain, callback []float64
	b.ResetTimer()
	for i := range b.N {
		a, d := fmt.Sprintf("p%d-a", i), fmt.Sprintf("p%d-b", i)
		t0 := time.Now()
		if _, _, err := c.EnqueueMany(ctx, []queue.Request{{Type: "bench", Options: []queue.Option{on, queue.WithID(a)}}, {Type: "bench", Options: []queue.Option{on, queue.WithID(d)}}}); err != nil {
			b.Fatal(err)
		}
		pair = append(pair, max(ms(startOf(a).Sub(t0)), ms(startOf(d).Sub(t0))))

		a, d = fmt.Sprintf("c%d-a", i), fmt.Sprintf("c%d-b", i)
		t0 = time.Now()
		if _, _, err := c.EnqueueMany(ctx, []queue.Request{{Type: "bench", Options: []queue.Option{on, queue.WithID(a)}}, {Type: "bench", Options: []queue.Option{on, queue.WithID(d), queue.DependsOn(a)}}}); err != nil {
			b.Fatal(err)
		}
		chain = append(chain, ms(startOf(d).Sub(t0)))

		cb := fmt.Sprintf("cb%d", i)
		reqs := []queue.Request{{Type: "bench", Options: []queue.Option{on}}, {Type: "bench", Options: []queue.Option{on}}, {Type: "bench", Options: []queue.Option{on}}}
		if _, _, _, err := c.EnqueueBatch(ctx, reqs, queue.OnComplete("bench", nil, on, queue.WithID(cb))); err != nil {
			b.Fatal(err)
		}
		at := startOf(cb)
		last := lastBefore(started, at)
		callback = append(callback, ms(at.Sub(last)))
		clear(started)
	}
	b.StopTimer()
	for name, s := range map[string][]float64{"pair": pair, "chain": chain, "callback": callback} {
		b.ReportMetric(percentile(s, 50), name+"-p50-ms")
		b.ReportMetric(percentile(s, 99), name+"-p99-ms")
	}
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
