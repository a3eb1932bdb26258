// Package tracing is Dominion's OpenTelemetry tracing: the SDK with the OTLP exporter over
// HTTP (http/protobuf; its transport is otlphttp.go rather than otlptracehttp's, which links
// gRPC into the binary), configured by the standard OTEL_* variables, and the
// instrumentation that makes one trace follow a request: the HTTP server's spans, a job's
// enqueue (its trace context travels in queue.Job.Metadata as traceparent), the job's
// execution in whichever worker runs it, and outgoing HTTP requests (which carry
// traceparent).
//
// Tracing is off unless configured (config.Tracing.Enabled): a process without it builds no
// Provider and installs none of these hooks, so it pays nothing. Nothing here sets the
// OpenTelemetry globals.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/queue"
)

// instrumentation is the name of Dominion's tracer.
const instrumentation = "github.com/codex-dominion/dominion"

// Provider is a process's tracer provider and propagator.
type Provider struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New starts the SDK: the OTLP exporter over HTTP (the OTEL_EXPORTER_OTLP_* variables, read
// from the environment like the SDK's own: otlphttp.go), the sampler of OTEL_TRACES_SAMPLER (default: parent-based,
// always on) and a resource named OTEL_SERVICE_NAME (default "dominion") with the process's
// role. Shut it down at exit to flush the last spans.
func New(ctx context.Context, role string) (*Provider, error) {
	client, err := newOTLPHTTP(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(attribute.String("service.name", "dominion"), attribute.String("dominion.role", role)),
		resource.Environment(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{
		tp: tp, tracer: tp.Tracer(instrumentation),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

// Shutdown flushes the spans not yet exported and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.tp.Shutdown(ctx)
}

// Tracer returns Dominion's tracer.
func (p *Provider) Tracer() trace.Tracer { return p.tracer }

// HTTP starts a server span per request, child of the caller's traceparent if any, named
// after the route pattern that matched.
func (p *Provider) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := p.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := p.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		rec := httpx.NewRecorder(w)
		r2 := r.WithContext(ctx)
		next.ServeHTTP(rec, r2)
		if r2.Pattern != "" {
			span.SetName(r2.Pattern)
			span.SetAttributes(attribute.String("http.route", r2.Pattern))
		}
		status := rec.Status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// Transport wraps base (nil: http.DefaultTransport) so that each request gets a client span
// and carries its traceparent.
func (p *Provider) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		ctx, span := p.tracer.Start(r.Context(), "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("http.request.method", r.Method),
				attribute.String("server.address", r.URL.Host), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		r = r.Clone(ctx)
		p.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
		resp, err := base.RoundTrip(r)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			return nil, err
		}
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 500 {
			span.SetStatus(codes.Error, resp.Status)
		}
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// EnqueueMiddleware starts a producer span around each enqueue and puts its trace context
// in every job's metadata, so that the job's handler span is its child.
func (p *Provider) EnqueueMiddleware() queue.EnqueueMiddleware {
	return func(next queue.EnqueueFunc) queue.EnqueueFunc {
		return func(ctx context.Context, jobs []*queue.Job) ([]error, error) {
			name := "enqueue"
			if len(jobs) == 1 {
				name = "enqueue " + jobs[0].Type
			}
			ctx, span := p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attribute.Int("messaging.batch.message_count", len(jobs))))
			defer span.End()
			if len(jobs) == 1 {
				span.SetAttributes(jobAttrs(jobs[0])...)
			}
			// One injection for the batch: every job carries the same trace context.
			carrier := propagation.MapCarrier{}
			p.prop.Inject(ctx, carrier)
			for _, j := range jobs {
				if j.Metadata == nil {
					j.Metadata = make(map[string]string, len(carrier))
				}
				for k, v := range carrier {
					j.Metadata[k] = v
				}
			}
			errs, err := next(ctx, jobs)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return errs, err
		}
	}
}

// JobMiddleware starts a consumer span around each handler, child of the span that enqueued
// the job (from its metadata).
func (p *Provider) JobMiddleware() queue.Middleware {
	return func(next queue.Handler) queue.Handler {
		return queue.HandlerFunc(func(ctx context.Context, j *queue.Job) (any, error) {
			if len(j.Metadata) > 0 {
				ctx = p.prop.Extract(ctx, propagation.MapCarrier(j.Metadata))
			}
			ctx, span := p.tracer.Start(ctx, "job "+j.Type, trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(append(jobAttrs(j), attribute.Int("dominion.job.attempt", j.Attempt))...))
			defer span.End()
			res, err := next.ProcessJob(ctx, j)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return res, err
		})
	}
}

func jobAttrs(j *queue.Job) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "dominion"), attribute.String("messaging.destination.name", j.Queue),
		attribute.String("messaging.message.id", j.ID), attribute.String("dominion.job.type", j.Type),
	}
}
