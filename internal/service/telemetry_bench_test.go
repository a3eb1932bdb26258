package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/codex-dominion/dominion/internal/bench"
	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/loadgen"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue/redisbroker"
)

// BenchmarkTelemetryCost measures what the instrumentation costs, as docs/BENCHMARKS.md
// reports it: the same work with telemetry off (the zero service.Telemetry), with metrics
// (what every process has), and with metrics and tracing, every trace sampled and exported
// over OTLP/HTTP to a local endpoint that discards it. Two workloads: process_c50 (20,000
// no-op jobs through a worker at concurrency 50, on a private redis-server, as
// `dominion bench` measures it) and POST /api/chat (embedded, 64 connections, as
// BenchmarkChatLoad). Compare the modes of one run; -count repeats the whole set, so the
// modes interleave:
//
//	go test ./internal/service -run '^$' -bench TelemetryCost -benchtime 1x -count 5
func BenchmarkTelemetryCost(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(sink.Close)
	b.Setenv(config.EnvOTelEndpoint, sink.URL) // the SDK reads it
	modes := []struct {
		name string
		tel  func(b *testing.B) *service.Telemetry
	}{
		{"off", func(*testing.B) *service.Telemetry { return &service.Telemetry{} }},
		{"metrics", func(b *testing.B) *service.Telemetry { return newTelemetry(b, config.Config{}) }},
		{"metrics+tracing", func(b *testing.B) *service.Telemetry {
			return newTelemetry(b, config.Config{Tracing: config.Tracing{Endpoint: sink.URL}})
		}},
	}
	redis := testenv.StartRedis(b)
	for _, m := range modes {
		b.Run("process_c50/"+m.name, func(b *testing.B) { benchProcess(b, redis.URL(), m.tel(b)) })
	}
	for _, m := range modes {
		b.Run("chat/"+m.name, func(b *testing.B) { benchChat(b, m.tel(b)) })
	}
}

func newTelemetry(b *testing.B, cfg config.Config) *service.Telemetry {
	tel, err := service.NewTelemetry(context.Background(), cfg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// benchProcess reports process_c50's jobs/s on the Redis at url, instrumented by tel.
func benchProcess(b *testing.B, url string, tel *service.Telemetry) {
	br, err := redisbroker.Open(context.Background(), url, redisbroker.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	var rate float64
	for b.Loop() {
		res, err := bench.Run(context.Background(), br, bench.Config{
			Jobs: 20000, Concurrency: 50, Phases: []bench.Phase{bench.PhaseProcess},
			Client: tel.NewClient(br), Worker: tel.Worker,
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		rate = res[0].Value
	}
	b.ReportMetric(rate, "jobs/s")
}

// benchChat reports the accepted/s of POST /api/chat on an embedded serve instrumented by tel.
func benchChat(b *testing.B, tel *service.Telemetry) {
	s := start(b, backends[0], func(c *service.Config) {
		c.Telemetry = tel
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	var rate float64
	for b.Loop() {
		res, err := loadgen.Run(context.Background(), loadgen.Options{
			URL: s.base + "/api/chat", Body: []byte(seedBody), Concurrency: 64, Warmup: 128, Requests: 10000,
		})
		if err != nil {
			b.Fatal(err)
		}
		if res.Failed > 0 {
			b.Fatalf("%d requests failed (first: %s)", res.Failed, res.FirstError)
		}
		rate = res.Throughput
	}
	b.ReportMetric(rate, "accepted/s")
}
