package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/openapitest"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/codex-dominion/dominion/workflow"
)

// outageTypes: a two-step workflow, so that an outage can fall between its steps.
const outageTypes = `workflows:
  - name: customer_followup
    steps:
      - name: one
        kind: delay
        duration: 5ms
      - name: two
        kind: delay
        duration: 5ms
`

// TestPostgresRestartLosesNothing restarts PostgreSQL under load, once as `pg_ctl stop -m
// fast` does and once as `-m immediate` does, each time down for about 3 s, while 400
// workflows arrive on Redis+PostgreSQL. Every workflow answered 202 completes, no workflow
// in the whole store is left queued or running, and the outages used none of the jobs'
// attempts. While the store is down, POST /api/chat answers 503 store_unavailable with
// Retry-After.
func TestPostgresRestartLosesNothing(t *testing.T) {
	t.Parallel()
	const total = 400
	pgSrv := testenv.StartPostgres(t, testenv.Durable()) // its own server: this test stops it
	s := start(t, backend{name: "redis+postgres", distributed: true}, withTypes(t, outageTypes), withConcurrency(8),
		func(c *service.Config) { c.DatabaseURL = pgSrv.NewDatabase(t) })

	p := &poster{base: s.base, want: total, http: &http.Client{Timeout: 30 * time.Second, Transport: openapitest.Transport(t, nil)}}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(p.run)
	}
	for _, outage := range []struct {
		after int
		stop  func()
	}{{total / 4, pgSrv.Stop}, {total / 2, pgSrv.StopImmediate}} {
		s.eventually(fmt.Sprintf("%d workflows accepted", outage.after), time.Minute, func() (bool, string) {
			return p.accepted() >= outage.after, fmt.Sprintf("%d accepted", p.accepted())
		})
		outage.stop()
		<-time.After(3 * time.Second) // the outage's length, not a synchronisation
		if err := pgSrv.Start(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := p.failure(); err != nil {
		t.Fatal(err)
	}
	if p.unavailable.Load() == 0 {
		t.Fatal("no request saw the store down: the outages did not overlap the load")
	}
	t.Logf("%d accepted, %d answered 503 store_unavailable", p.accepted(), p.unavailable.Load())

	ids := p.ids()
	s.eventually("every accepted workflow completed, none in flight", 2*time.Minute, func() (bool, string) {
		byStatus := map[string]int{}
		done := map[string]bool{}
		for _, w := range s.listAll("limit=500") {
			byStatus[w.Status]++
			done[w.ID] = w.Status == "completed"
		}
		for _, id := range ids {
			if !done[id] {
				return false, fmt.Sprintf("workflow %s not completed; whole store: %v", id, byStatus)
			}
		}
		return byStatus["queued"]+byStatus["running"]+byStatus["failed"] == 0, fmt.Sprintf("whole store: %v", byStatus)
	})
	st := queueStats(t, s, workflow.DefaultQueue)
	if st.Failed != 0 || st.Dead != 0 || st.Retry != 0 {
		t.Fatalf("queue %s: %+v; want no failed attempt and no dead job: outages must not use attempts", workflow.DefaultQueue, st)
	}
	// An attempt that waited for the store counts for nothing in the metrics either: each
	// workflow has one, its completed attempt.
	for _, id := range ids {
		if w := s.get(id); len(w.Metrics) != 1 || w.Metrics[0].Status != "completed" {
			t.Fatalf("workflow %s: metrics %+v, want one completed attempt", id, w.Metrics)
		}
	}
}

// queueStats reads a queue's statistics from the server's Redis.
func queueStats(t *testing.T, s *server, name string) queue.QueueStats {
	t.Helper()
	b, err := redisbroker.Open(t.Context(), s.cfg.RedisURL, redisbroker.Options{Prefix: s.cfg.RedisPrefix, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	qs, err := b.Queues(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("no queue %s in %+v", name, qs)
	return queue.QueueStats{}
}

// poster posts the seed's request until want workflows are accepted, from several
// goroutines, as clients would; a 503 store_unavailable is counted and tried again.
type poster struct {
	base        string
	want        int
	http        *http.Client
	unavailable atomic.Int64

	mu  sync.Mutex
	acc []string
	err error
}

func (p *poster) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acc)
}

func (p *poster) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acc...)
}

func (p *poster) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *poster) run() {
	for p.accepted() < p.want && p.failure() == nil {
		id, retry, err := p.post()
		p.mu.Lock()
		switch {
		case err != nil:
			p.err = err
		case id != "" && len(p.acc) < p.want:
			p.acc = append(p.acc, id)
		}
		p.mu.Unlock()
		if retry {
			<-time.After(50 * time.Millisecond) // pacing while the store is down
		}
	}
}

// post sends one request: the accepted workflow's id, or retry for a 503 store_unavailable,
// or an error for any other answer.
func (p *poster) post() (id string, retry bool, err error) {
	req, err := http.NewRequestWithContext(context.Background(), "POST", p.base+"/api/chat",
		strings.NewReader(chatBody("agent-outage", "execute", "customer_followup")))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("POST /api/chat: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", false, fmt.Errorf("POST /api/chat: read body: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusAccepted:
		var a accepted
		if err := json.Unmarshal(body, &a); err != nil || a.WorkflowID == "" {
			return "", false, fmt.Errorf("POST /api/chat: 202 with body %s (%v)", body, err)
		}
		return a.WorkflowID, false, nil
	case http.StatusServiceUnavailable:
		var e errorResp
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "store_unavailable" || resp.Header.Get("Retry-After") == "" {
			return "", false, fmt.Errorf("POST /api/chat: 503 with Retry-After %q and body %s; want store_unavailable",
				resp.Header.Get("Retry-After"), body)
		}
		p.unavailable.Add(1)
		return "", true, nil
	}
	return "", false, fmt.Errorf("POST /api/chat: status %d, body %s", resp.StatusCode, body)
}

// TestServeStartsWithRedisDown: serve starts while Redis is down, says so on /readyz (503
// naming the queue) while /healthz answers 200, accepts 50 workflows into the outbox (all
// 202), and runs them all once Redis starts.
func TestServeStartsWithRedisDown(t *testing.T) {
	t.Parallel()
	const n = 50
	s := startRedisDown(t, withTypes(t, fastTypes))
	code, body := s.do("GET", "/readyz", "", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"queue"`) || strings.Contains(string(body), `"store":"redis`) {
		t.Fatalf("/readyz with Redis down: %d %s; want 503 naming the queue", code, body)
	}
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, s.submit("agent-degraded", "customer_followup").WorkflowID)
	}
	if err := s.redis.Start(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		s.waitStatus(id, "completed", time.Minute)
	}
	s.eventually("/readyz ready", 30*time.Second, func() (bool, string) {
		code, body := s.do("GET", "/readyz", "", nil)
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}
