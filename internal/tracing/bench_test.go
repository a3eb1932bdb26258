package tracing_test

import (
	"context"
	"testing"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/internal/tracing"
	"github.com/codex-dominion/dominion/queue"
)

// BenchmarkJobMiddleware is the CPU cost per job of tracing, every trace sampled: the
// enqueue's context injection (per job of a batch of 1,000) and the job's consumer span,
// exported over OTLP/HTTP to a local endpoint that discards it.
func BenchmarkJobMiddleware(b *testing.B) {
	sink := testenv.StartOTLPSink(b)
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink)
	p, err := tracing.New(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	jobs := make([]*queue.Job, 1000)
	for i := range jobs {
		jobs[i] = &queue.Job{ID: queue.NewID(), Queue: "q", Type: "noop", Attempt: 1}
	}
	enqueue := p.EnqueueMiddleware()(func(context.Context, []*queue.Job) ([]error, error) { return nil, nil })
	if _, err := enqueue(context.Background(), jobs); err != nil {
		b.Fatal(err)
	}
	h := p.JobMiddleware()(queue.HandlerFunc(func(context.Context, *queue.Job) (any, error) { return nil, nil }))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%len(jobs) == 0 {
			_, _ = enqueue(context.Background(), jobs)
		}
		if _, err := h.ProcessJob(context.Background(), jobs[i%len(jobs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
