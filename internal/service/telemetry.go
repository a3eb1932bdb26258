package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/metrics"
	"github.com/codex-dominion/dominion/internal/tracing"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// Telemetry is one process's instrumentation: Prometheus metrics, always (they cost a few
// atomic adds per job), and OpenTelemetry tracing when configured. Every command builds one
// with NewTelemetry and hands its hooks to the client, worker, scheduler, engine and HTTP
// server it runs. The zero Telemetry instruments nothing (the benchmarks' baseline).
type Telemetry struct {
	// Metrics is nil when metrics are off (only the zero Telemetry has them off).
	Metrics *metrics.Metrics
	// Tracing is nil when tracing is off.
	Tracing *tracing.Provider
}

// NewTelemetry builds the process's metrics and, when cfg.Tracing is enabled, its tracer
// provider; role names the process in its traces (serve, worker, scheduler, dashboard).
func NewTelemetry(ctx context.Context, cfg config.Config, role string) (*Telemetry, error) {
	t := &Telemetry{Metrics: metrics.New()}
	if cfg.Tracing.Enabled() {
		p, err := tracing.New(ctx, role)
		if err != nil {
			return nil, err
		}
		t.Tracing = p
	}
	return t, nil
}

// Shutdown flushes the spans not yet exported.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil || t.Tracing == nil {
		return nil
	}
	return t.Tracing.Shutdown(ctx)
}

// NewClient returns a queue client on b whose enqueues are counted and traced.
func (t *Telemetry) NewClient(b queue.Broker) *queue.Client {
	if t == nil {
		return queue.NewClient(b)
	}
	var mw []queue.EnqueueMiddleware
	if t.Metrics != nil {
		mw = append(mw, t.Metrics.EnqueueMiddleware())
	}
	if t.Tracing != nil {
		mw = append(mw, t.Tracing.EnqueueMiddleware())
	}
	return queue.NewClient(b, queue.WithEnqueueMiddleware(mw...))
}

// Worker adds the metrics observer and, with tracing, the tracing middleware (outermost, so
// that the log lines of the logging middleware carry the trace id) to cfg.
func (t *Telemetry) Worker(cfg queue.WorkerConfig) queue.WorkerConfig {
	if t == nil {
		return cfg
	}
	if t.Metrics != nil {
		cfg.Observer = t.Metrics
		t.Metrics.WorkerSlots(max(cfg.Concurrency, 1))
	}
	if t.Tracing != nil {
		cfg.Middleware = append([]queue.Middleware{t.Tracing.JobMiddleware()}, cfg.Middleware...)
	}
	return cfg
}

// Scheduler adds the tick observer and a counted, traced client to cfg.
func (t *Telemetry) Scheduler(cfg queue.SchedulerConfig, b queue.Broker) queue.SchedulerConfig {
	if t == nil {
		return cfg
	}
	if t.Metrics != nil {
		cfg.Observer = t.Metrics
	}
	cfg.Client = t.NewClient(b)
	return cfg
}

// StepTransport is the transport of the workflows' http steps: traced when tracing is on,
// nil (the default transport) otherwise.
func (t *Telemetry) StepTransport() http.RoundTripper {
	if t == nil || t.Tracing == nil {
		return nil
	}
	return t.Tracing.Transport(nil)
}

// WatchStats registers the gauges read from the broker (jobs per queue and state, workers)
// and, when st is not nil, the store's outbox.
func (t *Telemetry) WatchStats(b queue.Broker, st store.Store) {
	if t == nil || t.Metrics == nil {
		return
	}
	src := metrics.Sources{Queues: b.Queues, Workers: b.Workers}
	if st != nil {
		src.Outbox = st.CountPendingEnqueue
	}
	t.Metrics.WatchStats(src)
}

// Handler returns h with GET /metrics added in front and every request counted and timed
// (and traced, with tracing on).
func (t *Telemetry) Handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	out := h
	if t.Metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", t.Metrics.Handler())
		mux.Handle("/", h)
		out = t.Metrics.HTTP(mux)
	}
	if t.Tracing != nil {
		out = t.Tracing.HTTP(out) // outermost: the metrics see the request the mux routes
	}
	return out
}

// ServeMetrics serves GET /metrics on addr until ctx is done, for the processes without an
// HTTP listener of their own (worker, scheduler). It returns once listening, or the error of
// listening.
func (t *Telemetry) ServeMetrics(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.Metrics.Handler())
	srv := NewHTTPServer(ctx, mux, log)
	log.Info("serving metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}
