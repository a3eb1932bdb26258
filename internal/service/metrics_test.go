package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/jobs"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// TestPrometheusAgrees runs workflows and jobs through a serve process, has a real Prometheus
// server scrape its /metrics, and checks that Prometheus's own query API gives the counts the
// API and the queue statistics (what `dominion info --json` prints) give.
func TestPrometheusAgrees(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withTypes(t, fastTypes))
	ctx := context.Background()
	const n = 12
	for range n {
		s.submit("agent_1", "customer_followup")
	}
	q := s.openQueue()
	for range 3 {
		if _, err := q.Enqueue(ctx, jobs.Fail, jobs.FailPayload{Message: "boom"}); err != nil {
			t.Fatal(err)
		}
	}
	var stats []queue.QueueStats
	testenv.Eventually(t, 30*time.Second, func() error {
		var err error
		if stats, err = q.Queues(ctx); err != nil {
			return err
		}
		if c, d := total(stats, queue.StateCompleted), total(stats, queue.StateDead); c < n || d < 3 {
			return fmt.Errorf("%d completed and %d dead jobs, want %d and 3", c, d, n)
		}
		return nil
	})
	completedWF := len(s.listAll("status=completed"))
	if completedWF != n {
		t.Fatalf("API lists %d completed workflows, want %d", completedWF, n)
	}
	var processed int64
	for _, qs := range stats {
		processed += qs.Processed
	}

	prom := testenv.StartPrometheus(t, 500*time.Millisecond, strings.TrimPrefix(s.base, "http://"))
	want := map[string]float64{
		`sum(dominion_workflows_finished_total{status="completed"})`:                           float64(completedWF),
		`sum(dominion_jobs_enqueued_total{type="execute_workflow"})`:                           n,
		`sum(dominion_jobs_finished_total{outcome="completed",type="execute_workflow"})`:       n,
		`sum(dominion_jobs_finished_total{outcome="dead",type="dominion.fail"})`:               3,
		`sum(dominion_queue_jobs{state="completed"})`:                                          float64(total(stats, queue.StateCompleted)),
		`sum(dominion_queue_jobs{state="dead"})`:                                               float64(total(stats, queue.StateDead)),
		`sum(dominion_queue_jobs{state="pending"}) + sum(dominion_queue_jobs{state="active"})`: 0,
		`sum(dominion_queue_processed_total)`:                                                  float64(processed),
		`sum(dominion_http_requests_total{route="/api/chat",method="POST",status="202"})`:      n,
		`sum(dominion_workflow_weekly_savings_dollars_total)`:                                  n * 33.33,
		`dominion_workers_live`:   1,
		`dominion_outbox_waiting`: 0,
		`sum(dominion_job_pickup_latency_seconds_count{type="execute_workflow"})`: n,
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		var errs []error
		for query, w := range want {
			got, err := prom.Query(query)
			if err != nil {
				errs = append(errs, err)
			} else if math.Abs(got-w) > 1e-6 {
				errs = append(errs, fmt.Errorf("%s = %v, want %v", query, got, w))
			}
		}
		return errors.Join(errs...)
	})
}

func total(stats []queue.QueueStats, st queue.State) int64 {
	var n int64
	for _, q := range stats {
		n += q.Count(st)
	}
	return n
}

// TestOutboxGaugeCountsAll: with the queue down, every accepted workflow waits in the outbox,
// and dominion_outbox_waiting reports them all, beyond the 1000 it once stopped counting at.
func TestOutboxGaugeCountsAll(t *testing.T) {
	t.Parallel()
	const n = 1234
	s := startRedisDown(t, withTypes(t, fastTypes))
	st, err := store.Open(t.Context(), s.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				if _, err := st.CreateWorkflow(t.Context(), store.NewWorkflow{AgentID: "a", Type: "customer_followup"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := fmt.Sprintf("\ndominion_outbox_waiting %d\n", n)
	testenv.Eventually(t, 30*time.Second, func() error {
		resp, err := s.http.Get(s.base + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), want) {
			i := strings.Index(string(b), "\ndominion_outbox_waiting")
			return fmt.Errorf("/metrics: want %q, got %q", strings.TrimSpace(want), string(b)[max(i, 0):min(max(i, 0)+40, len(b))])
		}
		return nil
	})
}
