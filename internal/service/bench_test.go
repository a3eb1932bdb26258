package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/loadgen"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
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
			s := start(b, be, asServed)
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

// asServed logs as `dominion serve` does (info level: a line per request, through the
// writer that removes the configuration's secrets), formatted and discarded.
func asServed(c *service.Config) {
	c.Logger = c.Config.Logger(c.Config.Redactor().Writer(io.Discard), slog.LevelInfo)
}

// batchSize is the jobs of one POST /api/jobs and of one EnqueueMany in BenchmarkEnqueueBatch.
const batchSize = 1000

// BenchmarkEnqueueBatch measures jobs enqueued per second in lists of 1,000: through
// POST /api/jobs of a running `dominion serve` (api), and through the library's
// queue.Client.EnqueueMany on the same broker in the same process (library), one list after
// the other from one goroutine, on each broker (embedded: the SQLite queue; redis). Each
// benchmark iteration is one list; the jobs' payloads are encoded beforehand for both, as a
// client in another language would send them. Serve runs without a worker, so the jobs stay
// queued and only enqueueing is measured:
//
//	go test ./internal/service -run '^$' -bench EnqueueBatch -benchtime 10x -count 5
func BenchmarkEnqueueBatch(b *testing.B) {
	for _, be := range []backend{{name: "embedded"}, {name: "redis", distributed: true}} {
		b.Run(be.name, func(b *testing.B) {
			s := start(b, be, asServed, withoutWorker())
			b.Run("api", func(b *testing.B) { benchEnqueueAPI(b, s) })
			b.Run("library", func(b *testing.B) { benchEnqueueLibrary(b, s) })
		})
	}
}

// batchPayload is the payload of job n of a benchmark list: a few fields, as an e-mail job has.
func batchPayload(n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"to":"user-%d@example.com","template":"welcome","user_id":%d}`, n, n))
}

func benchEnqueueAPI(b *testing.B, s *server) {
	type job struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		jobs := make([]job, batchSize)
		for j := range jobs {
			jobs[j] = job{Type: "email.send", Payload: batchPayload(i*batchSize + j)}
		}
		body, err := json.Marshal(map[string]any{"jobs": jobs})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	hc := &http.Client{Timeout: time.Minute} // not the validating client of the tests: its checks would be measured
	defer hc.CloseIdleConnections()
	before := pendingJobs(b, s)
	b.ResetTimer()
	for _, body := range bodies {
		resp, err := hc.Post(s.base+"/api/jobs", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		// The answer is read, not decoded: a client elsewhere would decode it on its own
		// CPU. The queue's statistics check afterwards that every job was stored.
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("POST /api/jobs: %d (%v)", resp.StatusCode, err)
		}
	}
	b.StopTimer()
	if got := pendingJobs(b, s) - before; got != b.N*batchSize {
		b.Fatalf("%d jobs stored, want %d", got, b.N*batchSize)
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "jobs/s")
}

// pendingJobs is the number of jobs waiting on the default queue of s.
func pendingJobs(b *testing.B, s *server) int {
	ctx := context.Background()
	br, err := service.OpenBroker(ctx, s.cfg.Config, s.cfg.Logger)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	st, err := queue.NewClient(br).Queue(ctx, queue.DefaultQueue)
	if errors.Is(err, queue.ErrQueueNotFound) {
		return 0
	}
	if err != nil {
		b.Fatal(err)
	}
	return int(st.Pending)
}

func benchEnqueueLibrary(b *testing.B, s *server) {
	ctx := context.Background()
	br, err := service.OpenBroker(ctx, s.cfg.Config, s.cfg.Logger)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	client := queue.NewClient(br)
	lists := make([][]queue.Request, b.N)
	for i := range lists {
		lists[i] = make([]queue.Request, batchSize)
		for j := range lists[i] {
			lists[i][j] = queue.Request{Type: "email.send", Payload: batchPayload(i*batchSize + j)}
		}
	}
	b.ResetTimer()
	for _, reqs := range lists {
		_, errs, err := client.EnqueueMany(ctx, reqs)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "jobs/s")
}
