package bench_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/bench"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// brokers runs fn against the embedded broker and a real Redis.
func brokers(t *testing.T, fn func(t *testing.T, b queue.Broker)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		b, err := sqlitebroker.Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), sqlitebroker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		fn(t, b)
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		r := testenv.StartRedis(t)
		b, err := redisbroker.Open(t.Context(), r.URL(), redisbroker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		fn(t, b)
	})
}

// assertClean checks that no bench queue and no bench worker is left.
func assertClean(t *testing.T, b queue.Broker) {
	t.Helper()
	qs, err := b.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if strings.HasPrefix(q.Name, "bench-") {
			t.Errorf("queue %s left behind: %+v", q.Name, q)
		}
	}
	ws, err := b.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		t.Errorf("worker %s left behind", w.ID)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	brokers(t, func(t *testing.T, b queue.Broker) {
		// A queue of someone else's: bench must not touch it.
		other, err := queue.NewClient(b).Enqueue(t.Context(), "x", nil, queue.OnQueue("other"))
		if err != nil {
			t.Fatal(err)
		}
		var progress bytes.Buffer
		var emitted []bench.Result
		results, err := bench.Run(t.Context(), b, bench.Config{
			Jobs: 300, Concurrency: 4, LatencySamples: 30, Progress: &progress,
		}, func(r bench.Result) { emitted = append(emitted, r) })
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ metric, unit string }{
			{"enqueue_seq", "jobs/s"}, {"enqueue_batch", "jobs/s"}, {"process_c4", "jobs/s"},
			{"latency_p50", "ms"}, {"latency_p99", "ms"},
		}
		if len(results) != len(want) || len(emitted) != len(want) {
			t.Fatalf("results %v, emitted %v; want %v", results, emitted, want)
		}
		for i, w := range want {
			r := results[i]
			if r.Metric != w.metric || r.Unit != w.unit || !(r.Value > 0) || emitted[i] != r {
				t.Errorf("result %d = %+v (emitted %+v), want metric %s in %s, positive", i, r, emitted[i], w.metric, w.unit)
			}
		}
		if results[3].Value > results[4].Value {
			t.Errorf("p50 %v > p99 %v", results[3].Value, results[4].Value)
		}
		assertClean(t, b)
		if j, err := b.Get(t.Context(), other.ID); err != nil || j.State != queue.StatePending {
			t.Errorf("the other queue's job: %+v, %v", j, err)
		}
	})
}

func TestRunPhases(t *testing.T) {
	t.Parallel()
	brokers(t, func(t *testing.T, b queue.Broker) {
		results, err := bench.Run(t.Context(), b, bench.Config{Jobs: 50, Concurrency: 2, Phases: []bench.Phase{bench.PhaseProcess}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 1 || results[0].Metric != "process_c2" {
			t.Fatalf("results = %+v", results)
		}
		assertClean(t, b)
	})
}

// TestInterrupted cancels the run in the middle of each phase: the queues are removed all
// the same.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	brokers(t, func(t *testing.T, b queue.Broker) {
		for _, ph := range bench.AllPhases {
			ctx, cancel := context.WithCancel(t.Context())
			var progress bytes.Buffer
			// Cancel from the progress output, that is in the middle of the phase.
			w := writerFunc(func(p []byte) { progress.Write(p); cancel() })
			_, err := bench.Run(ctx, b, bench.Config{
				Jobs: 1_000_000, LatencySamples: 1_000_000, Phases: []bench.Phase{ph},
				Progress: w, ProgressEvery: 10 * time.Millisecond,
			}, nil)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("phase %s: err = %v, want context.Canceled", ph, err)
			}
			assertClean(t, b)
		}
	})
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestParsePhases(t *testing.T) {
	t.Parallel()
	got, err := bench.ParsePhases("latency, enqueue,latency")
	if err != nil || len(got) != 2 || got[0] != bench.PhaseLatency || got[1] != bench.PhaseEnqueue {
		t.Fatalf("ParsePhases = %v, %v", got, err)
	}
	if _, err := bench.ParsePhases("enqueue,fast"); err == nil || !strings.Contains(err.Error(), `unknown phase "fast"`) {
		t.Fatalf("ParsePhases(fast) = %v", err)
	}
}
