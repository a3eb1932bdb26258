package service_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/codex-dominion/dominion/internal/loadgen"
	"github.com/codex-dominion/dominion/internal/service"
)

// BenchmarkChatLoad measures POST /api/chat (the seed's request, execute mode) against a
// running `dominion serve` in both configurations: 64 connections, each sending its next
// request as soon as the previous one is answered. Each benchmark iteration is one request;
// run a fixed count so the percentiles are over enough requests:
//
//	go test ./internal/service -run '^$' -bench ChatLoad -benchtime 20000x -count 5
//
// It reports accepted/s and the p50/p90/p99 latencies. The service runs as `dominion serve`
// does (worker on, info-level logs, here formatted and discarded); the load generator runs
// in the same process and shares its CPUs. Set DOMINION_BENCH_CONNS to change the connection
// count.
func BenchmarkChatLoad(b *testing.B) {
	conns := 64
	if s := os.Getenv("DOMINION_BENCH_CONNS"); s != "" {
		var n int
		for _, c := range s {
			n = n*10 + int(c-'0')
		}
		conns = max(n, 1)
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := start(b, be, func(c *service.Config) {
				c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
			})
			opts := loadgen.Options{
				URL:         s.base + "/api/chat",
				Body:        []byte(seedBody),
				Concurrency: conns,
				Warmup:      2 * conns,
			}
			b.ResetTimer()
			opts.Requests = b.N
			res, err := loadgen.Run(context.Background(), opts)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Failed > 0 {
				b.Fatalf("%d requests failed (first: %s): %v", res.Failed, res.FirstError, res.Statuses)
			}
			b.ReportMetric(res.Throughput, "accepted/s")
			b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(res.P90.Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(res.Max.Microseconds())/1000, "max-ms")
			b.Logf("%d connections: %s", conns, res)
		})
	}
}
