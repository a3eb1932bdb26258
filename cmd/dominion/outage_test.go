//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// dashboardAddrRE finds the address in the dashboard's start-up log line.
var dashboardAddrRE = regexp.MustCompile(`msg="dashboard listening" .*listen=(\S+)`)

// TestServeStartsWithPostgresDown starts serve, a separate worker, the scheduler and the
// dashboard while their PostgreSQL server is stopped: they all start and keep running; serve
// answers /healthz 200, /readyz 503 naming the store (without its password), and POST
// /api/chat 503 store_unavailable with Retry-After, writing nothing. Then PostgreSQL starts:
// the same requests are accepted and complete, /readyz is ready, and serve logged the outage
// in one line and the return in one.
func TestServeStartsWithPostgresDown(t *testing.T) {
	t.Parallel()
	pg, cfg := ownPostgres(t)
	pg.Stop()

	srv := startProc(t, "serve", cfg, "serve", "--no-dashboard", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, srv)
	procs := []*proc{srv,
		startProc(t, "worker", cfg, "worker", "--queues", "workflows=1"),
		startProc(t, "scheduler", cfg, "scheduler"),
		startProc(t, "dashboard", cfg, "dashboard", "--addr", "127.0.0.1:0"),
	}
	dash := "http://" + logAddr(t, procs[3], dashboardAddrRE) + "/dashboard/"
	eventually(t, 30*time.Second, func() bool { return strings.Contains(procs[1].Output(), `msg="dominion worker"`) },
		func() string { return "the worker did not start:\n" + procs[1].Output() })
	hc := apiClient(t) // the dashboard is not in the API's description: a plain client for it
	if code, body := httpDo(t, &http.Client{Timeout: 10 * time.Second}, "GET", dash, ""); code != http.StatusOK {
		t.Errorf("GET %s with PostgreSQL down: %d %s", dash, code, body)
	}
	if code, body := httpDo(t, hc, "GET", base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz with PostgreSQL down: %d %s, want 200", code, body)
	}
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	code, body := httpDo(t, hc, "GET", base+"/readyz", "")
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &ready) != nil ||
		ready.Checks["store"] == "ok" || ready.Checks["store"] == "" || ready.Checks["queue"] != "ok" ||
		strings.Contains(body, passwordOf(cfg.DatabaseURL)) {
		t.Errorf("/readyz with PostgreSQL down: %d %s; want 503 naming the store, without its password", code, body)
	}

	const n = 5
	for i := range n {
		resp := postChat(t, hc, base)
		if resp.code != http.StatusServiceUnavailable || resp.retryAfter == "" || resp.errCode != "store_unavailable" {
			t.Fatalf("POST /api/chat %d with PostgreSQL down: %d Retry-After %q %s; want 503 store_unavailable with Retry-After",
				i, resp.code, resp.retryAfter, resp.body)
		}
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range n {
		var resp chatResponse
		eventually(t, time.Minute, func() bool {
			resp = postChat(t, hc, base)
			return resp.code == http.StatusAccepted
		}, func() string {
			return fmt.Sprintf("POST /api/chat after PostgreSQL started: %d %s", resp.code, resp.body)
		})
		ids = append(ids, resp.workflowID)
	}
	awaitCompleted(t, hc, base, ids)
	eventually(t, 30*time.Second, func() bool {
		code, _ := httpDo(t, hc, "GET", base+"/readyz", "")
		return code == http.StatusOK
	}, func() string { return "/readyz not ready after PostgreSQL started" })
	// Every request that reached the store is one of the accepted workflows: the refused
	// ones wrote nothing.
	var list struct {
		Workflows []struct {
			ID string `json:"id"`
		} `json:"workflows"`
	}
	if code, body := httpDo(t, hc, "GET", base+"/api/workflows?limit=100", ""); code != http.StatusOK ||
		json.Unmarshal([]byte(body), &list) != nil || len(list.Workflows) != n {
		t.Errorf("GET /api/workflows: %d %s; want exactly the %d accepted workflows", code, body, n)
	}
	if down, back := strings.Count(srv.Output(), "store unreachable"), strings.Count(srv.Output(), "store reachable again"); down != 1 || back != 1 {
		t.Errorf("serve logged the outage %d times and the return %d times, want once each:\n%s", down, back, srv.Output())
	}
	for _, p := range procs {
		if code := p.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0:\n%s", p.Name, code, p.Output())
		}
	}
}

// ownPostgres starts a PostgreSQL server for one test (which stops it) and returns it with a
// configuration on a new database of it, the embedded broker and the fast workflow types.
func ownPostgres(t *testing.T) (*testenv.Postgres, config.Config) {
	t.Helper()
	pg := testenv.StartPostgres(t)
	cfg := testConfig(config.Config{DataDir: t.TempDir(), DatabaseURL: pg.NewDatabase(t)})
	cfg.WorkflowsFile = writeFile(t, "workflows.yaml", fastWorkflows)
	return pg, cfg
}

// chatResponse is what POST /api/chat answered.
type chatResponse struct {
	code                int
	body, retryAfter    string
	workflowID, errCode string
}

// postChat posts the seed's request.
func postChat(t *testing.T, hc *http.Client, base string) chatResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/api/chat", strings.NewReader(seedRequest))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return chatResponse{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		WorkflowID string `json:"workflow_id"`
		Error      struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &v)
	return chatResponse{code: resp.StatusCode, body: string(b), retryAfter: resp.Header.Get("Retry-After"),
		workflowID: v.WorkflowID, errCode: v.Error.Code}
}

// httpDo sends one request and returns the status and body (0 and the error when none came).
func httpDo(t *testing.T, hc *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWorkerStartsBeforeRedis starts a worker process while its Redis is stopped: it starts,
// says once that the queue is unreachable, stays up, and once the test starts Redis it runs
// the jobs enqueued there.
func TestWorkerStartsBeforeRedis(t *testing.T) {
	t.Parallel()
	tb := redisBroker(t)
	tb.redis.Stop()
	cfg := tb.cfg
	w := startProc(t, "worker", cfg, "worker", "--queues", "early", "--no-workflows")
	eventually(t, 30*time.Second, func() bool { return strings.Contains(w.Output(), `msg="dominion worker"`) },
		func() string { return "the worker did not start with Redis down:\n" + w.Output() })
	if err := tb.redis.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 20
	ids := strings.Fields(ok(t, cfg, "enqueue", "dominion.noop", "--count", strconv.Itoa(n), "--queue", "early"))
	c := client(t, cfg)
	waitStats(t, c, "early", time.Minute, "the worker did not run the jobs once Redis was up",
		func(s queue.QueueStats) bool { return s.Completed == n })
	assertAllCompleted(t, c, "early", ids)
	if k := strings.Count(w.Output(), "queue unreachable at start"); k != 1 {
		t.Errorf("the worker said %d times that the queue was unreachable at start, want once:\n%s", k, w.Output())
	}
	if code := w.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("worker exited %d after SIGTERM, want 0", code)
	}
}

// TestWorkerStartsWithPostgresDown: a workflow is accepted and enqueued, then PostgreSQL
// stops and a worker process starts: the worker starts, its execute_workflow job waits for
// the store without using an attempt, and once PostgreSQL starts the workflow completes in
// one attempt.
func TestWorkerStartsWithPostgresDown(t *testing.T) {
	t.Parallel()
	pg, cfg := ownPostgres(t)
	srv := startProc(t, "serve", cfg, "serve", "--no-worker", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, srv)
	hc := apiClient(t)
	id := submitWorkflow(t, hc, base, seedRequest)
	pg.Stop()

	w := startProc(t, "worker", cfg, "worker", "--queues", "workflows=1")
	c := client(t, cfg)
	eventually(t, time.Minute, func() bool { return strings.Contains(w.Output(), "a dependency is unavailable") },
		func() string { return "the worker did not find the store down:\n" + w.Output() })
	if j, err := c.Get(t.Context(), id); err != nil || j.State == queue.StateCompleted || j.State == queue.StateDead {
		t.Fatalf("job %s while PostgreSQL is down: %s (%v); want it waiting", id, jobString(j), err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	var last string
	eventually(t, time.Minute, func() bool {
		code, body := httpDo(t, hc, "GET", base+"/api/workflows/"+id, "")
		last = body
		return code == http.StatusOK && strings.Contains(body, `"status":"completed"`)
	}, func() string { return "workflow " + id + " not completed: " + last + "\nworker:\n" + w.Output() })
	if !strings.Contains(last, `"attempts":1,`) {
		t.Errorf("workflow after the outage: %s; want 1 attempt (waiting for the store uses none)", last)
	}
	// The workflow row is completed before the worker records the job's outcome.
	var j *queue.Job
	var err error
	eventually(t, 30*time.Second, func() bool {
		j, err = c.Get(t.Context(), id)
		return err == nil && j.State != queue.StateActive
	}, func() string { return fmt.Sprintf("job %s still active: %s (%v)", id, jobString(j), err) })
	if j.State != queue.StateCompleted || j.Attempt != 1 || len(j.Errors) != 0 {
		t.Errorf("job %s: %s; want completed at its first attempt, no error recorded", id, jobString(j))
	}
	for _, p := range []*proc{w, srv} {
		if code := p.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0", p.Name, code)
		}
	}
}
