package tracing_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/internal/tracing"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// TestJobSpanIsChildOfEnqueue enqueues a plain job through a client instrumented by one
// provider (the "serve" process) on a SQLite broker, runs it in a worker instrumented by
// another (the "worker" process), and checks what an OTLP receiver got: one trace in which
// the job's consumer span is a child of the enqueue's producer span, itself a child of the
// span that was current when the job was enqueued. The trace context crosses only through
// the stored job.
func TestJobSpanIsChildOfEnqueue(t *testing.T) {
	rcv := testenv.StartOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	ctx := t.Context()
	serve, err := tracing.New(ctx, "serve")
	if err != nil {
		t.Fatal(err)
	}
	worker, err := tracing.New(ctx, "worker")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := sqlitebroker.Open(ctx, filepath.Join(t.TempDir(), "queue.db"), sqlitebroker.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	handlerTrace := make(chan trace.TraceID, 1)
	w := queue.NewWorker(b, queue.WorkerConfig{Logger: quiet, Middleware: []queue.Middleware{worker.JobMiddleware()}})
	w.HandleFunc("mail", func(ctx context.Context, _ *queue.Job) (any, error) {
		handlerTrace <- trace.SpanContextFromContext(ctx).TraceID()
		return nil, nil
	})
	jobtest.StartWorker(t, w)

	c := queue.NewClient(b, queue.WithEnqueueMiddleware(serve.EnqueueMiddleware()))
	reqCtx, request := serve.Tracer().Start(ctx, "request")
	job, err := c.Enqueue(reqCtx, "mail", map[string]string{"to": "a@example.com"})
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	var ran trace.TraceID
	select {
	case ran = <-handlerTrace:
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not run within 30 s")
	}
	if want := request.SpanContext().TraceID(); ran != want {
		t.Errorf("the handler's context has trace %s, want the enqueuer's %s", ran, want)
	}
	testenv.Until(t, 30*time.Second, "the job completed", func() bool {
		j, err := b.Get(ctx, job.ID)
		return err == nil && j.State == queue.StateCompleted
	})
	for _, p := range []*tracing.Provider{serve, worker} {
		if err := p.Shutdown(context.Background()); err != nil { // flushes the spans
			t.Fatal(err)
		}
	}

	spans, _ := rcv.Spans()
	req := findSpan(t, spans, "request", tracepb.Span_SPAN_KIND_INTERNAL, "serve")
	producer := findSpan(t, spans, "enqueue mail", tracepb.Span_SPAN_KIND_PRODUCER, "serve")
	consumer := findSpan(t, spans, "job mail", tracepb.Span_SPAN_KIND_CONSUMER, "worker")
	for _, s := range []testenv.Span{producer, consumer} {
		if !bytes.Equal(s.TraceId, req.TraceId) {
			t.Errorf("span %q is in trace %x, want %x", s.Name, s.TraceId, req.TraceId)
		}
	}
	if !bytes.Equal(producer.ParentSpanId, req.SpanId) {
		t.Errorf("producer span's parent is %x, want the request span %x", producer.ParentSpanId, req.SpanId)
	}
	if !bytes.Equal(consumer.ParentSpanId, producer.SpanId) {
		t.Errorf("consumer span's parent is %x, want the producer span %x", consumer.ParentSpanId, producer.SpanId)
	}
	if got := attr(consumer, "messaging.message.id"); got != job.ID {
		t.Errorf("consumer span's messaging.message.id = %q, want the job's id %q", got, job.ID)
	}
}

// findSpan returns the one span named name of that kind sent by the process of role.
func findSpan(t *testing.T, spans []testenv.Span, name string, kind tracepb.Span_SpanKind, role string) testenv.Span {
	t.Helper()
	var found []testenv.Span
	for _, s := range spans {
		if s.Name == name && s.Kind == kind && s.Role == role {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %q of kind %v from %s, want 1 (received %d spans)", len(found), name, kind, role, len(spans))
	}
	return found[0]
}

func attr(s testenv.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}
