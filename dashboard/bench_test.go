package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/queue"
)

// BenchmarkJobsPage measures the jobs page of a state holding a million jobs (set
// DOMINION_BENCH_JOBS for another number), on both brokers: the first page, a page in the
// middle and the last page of 50 jobs, and the overview. It times the dashboard's handler
// itself (no network between it and the benchmark); filling the broker is not timed.
//
//	go test -run '^$' -bench JobsPage -benchtime 50x ./dashboard
func BenchmarkJobsPage(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("DOMINION_BENCH_JOBS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 {
			b.Fatalf("DOMINION_BENCH_JOBS=%q: want a number of jobs of at least 100", s)
		}
		n = v
	}
	b.Run("broker=sqlite", func(b *testing.B) {
		benchJobsPage(b, openBroker(b), n)
	})
	b.Run("broker=redis", func(b *testing.B) {
		_, br := openRedisBroker(b)
		benchJobsPage(b, br, n)
	})
}

func benchJobsPage(b *testing.B, broker queue.Broker, n int) {
	ctx := context.Background()
	client := queue.NewClient(broker)
	start := time.Now()
	fill(b, client, "big", n)
	b.Logf("enqueued %d jobs in %s (%.0f jobs/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	qs, err := client.Queues(ctx)
	if err != nil || len(qs) != 1 || qs[0].Pending != int64(n) {
		b.Fatalf("queue statistics %+v, %v: want %d pending", qs, err, n)
	}
	d, err := dashboard.New(dashboard.Config{Queues: client, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	pages := (n + 49) / 50
	for _, p := range []struct{ name, path, want string }{
		{"jobs-first-page", "/dashboard/jobs?queue=big&state=pending", "1–50 of"},
		{"jobs-middle-page", fmt.Sprintf("/dashboard/jobs?queue=big&state=pending&page=%d", pages/2), "of"},
		{"jobs-last-page", fmt.Sprintf("/dashboard/jobs?queue=big&state=pending&page=%d", pages), "of"},
		{"overview", "/dashboard/", "Overview"},
		{"queues", "/dashboard/queues", "big"},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), p.want) {
					b.Fatalf("GET %s: status %d", p.path, rec.Code)
				}
			}
		})
	}
}

// fill enqueues n small jobs on queue q in batches of 2,000 (a few round trips each).
//
// A job refused as a duplicate is counted as stored: its ID is new, so only this call can
// have stored it (the Redis client retries a pipeline whose reply timed out, and the retry
// finds the jobs the first attempt stored). The caller checks the queue's count.
func fill(b testing.TB, c *queue.Client, q string, n int) {
	ctx := context.Background()
	const batch = 2000
	reqs := make([]queue.Request, 0, batch)
	payload := []byte(`{"to":"someone@example.com","template":"newsletter"}`)
	for done := 0; done < n; {
		reqs = reqs[:0]
		for i := 0; i < batch && done+i < n; i++ {
			reqs = append(reqs, queue.Request{Type: "email.send", Payload: payload, Options: []queue.Option{queue.OnQueue(q)}})
		}
		_, errs, err := c.EnqueueMany(ctx, reqs)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, queue.ErrDuplicateJob) {
				b.Fatal(err)
			}
		}
		done += len(reqs)
	}
}
