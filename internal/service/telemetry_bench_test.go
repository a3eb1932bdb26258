package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
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
// over OTLP/HTTP to a local endpoint that discards it. Two workloads:
//
//   - process_c50: 20,000 no-op jobs enqueued, then run by a worker at concurrency 50, on a
//     private redis-server (as `dominion bench` measures it);
//   - chat: 5,000 POST /api/chat on an embedded serve without a worker (the request path:
//     HTTP, store, enqueue), 64 connections.
//
// Each benchmark iteration is one round: every mode once, in turn, so a noisy machine
// slows all modes alike. It reports, per mode, the median over the rounds of the throughput
// and of the process's CPU time per job or request (user + system, from getrusage; steadier
// than the throughput on a loaded machine), and the median ratio of each to "off" in the same round:
//
//	go test ./internal/service -run '^$' -bench TelemetryCost -benchtime 5x
func BenchmarkTelemetryCost(b *testing.B) {
	sink := testenv.StartOTLPSink(b)
	b.Setenv(config.EnvOTelEndpoint, sink) // the SDK reads it
	traced := config.Config{Tracing: config.Tracing{Endpoint: sink}}
	modes := []string{"off", "metrics", "metrics+tracing"}
	telemetry := func(b *testing.B, mode string) *service.Telemetry {
		switch mode {
		case "metrics":
			return newTelemetry(b, config.Config{})
		case "metrics+tracing":
			return newTelemetry(b, traced)
		}
		return &service.Telemetry{}
	}

	b.Run("process_c50", func(b *testing.B) {
		br, err := redisbroker.Open(context.Background(), testenv.StartRedis(b).URL(), redisbroker.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = br.Close() })
		runs := make(map[string]func() float64)
		for _, m := range modes {
			tel := telemetry(b, m)
			runs[m] = func() float64 {
				res, err := bench.Run(context.Background(), br, bench.Config{
					Jobs: 20000, Concurrency: 50, Phases: []bench.Phase{bench.PhaseProcess},
					Client: tel.NewClient(br), Worker: tel.Worker,
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
				return res[0].Value
			}
		}
		compareModes(b, modes, runs, 20000, "jobs/s", "µs-cpu/job")
	})

	b.Run("chat", func(b *testing.B) {
		const requests = 5000
		runs := make(map[string]func() float64)
		for _, m := range modes {
			s := start(b, backends[0], withoutWorker(), func(c *service.Config) {
				c.Telemetry = telemetry(b, m)
				c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
			})
			runs[m] = func() float64 {
				res, err := loadgen.Run(context.Background(), loadgen.Options{
					URL: s.base + "/api/chat", Body: []byte(seedBody), Concurrency: 64, Warmup: 128, Requests: requests,
				})
				if err != nil {
					b.Fatal(err)
				}
				if res.Failed > 0 {
					b.Fatalf("%d requests failed (first: %s)", res.Failed, res.FirstError)
				}
				return res.Throughput
			}
		}
		compareModes(b, modes, runs, requests, "accepted/s", "µs-cpu/request")
	})
}

// compareModes runs one round of every mode per iteration (each doing n operations and
// returning its rate) and reports the medians and the median ratios to modes[0].
func compareModes(b *testing.B, modes []string, runs map[string]func() float64, n int, rateUnit, cpuUnit string) {
	rates := make(map[string][]float64)
	cpus := make(map[string][]float64)
	for b.Loop() {
		for _, m := range modes {
			before := testenv.CPUTime().Seconds()
			rates[m] = append(rates[m], runs[m]())
			cpus[m] = append(cpus[m], (testenv.CPUTime().Seconds()-before)*1e6/float64(n))
		}
	}
	for _, m := range modes {
		b.ReportMetric(median(rates[m]), m+"-"+rateUnit)
		b.ReportMetric(median(cpus[m]), m+"-"+cpuUnit)
		if m == modes[0] {
			continue
		}
		var rateRatio, cpuRatio []float64
		for i := range rates[m] {
			rateRatio = append(rateRatio, rates[m][i]/rates[modes[0]][i])
			cpuRatio = append(cpuRatio, cpus[m][i]/cpus[modes[0]][i])
		}
		b.ReportMetric(median(rateRatio), m+"-rate-ratio")
		b.ReportMetric(median(cpuRatio), m+"-cpu-ratio")
		b.Logf("%s: rate ratios %s, cpu ratios %s", m, fmtAll(rateRatio), fmtAll(cpuRatio))
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func fmtAll(xs []float64) string {
	out := ""
	for _, x := range xs {
		out += fmt.Sprintf(" %.3f", x)
	}
	return out
}

func newTelemetry(b *testing.B, cfg config.Config) *service.Telemetry {
	tel, err := service.NewTelemetry(context.Background(), cfg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}
