package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/openapitest"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// One PostgreSQL server for the package, started on first use; each test gets its own
// database.
var (
	pgOnce sync.Once
	pg     *testenv.Postgres
	pgErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pg != nil {
		pg.Close()
	}
	os.Exit(code)
}

func postgres(t testing.TB) *testenv.Postgres {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = testenv.NewPostgres() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pg
}

// seedBody is the seed's example request, as written in it.
const seedBody = `{
    "agent_id": "agent_jermaine_super_action",
    "mode": "execute",
    "context": {
      "workflow_type": "customer_followup",
      "calculator_inputs": {
        "tasks_per_week": 20,
        "time_per_task_minutes": 5,
        "hourly_wage": 25,
        "automation_percent": 80
      }
    }
  }`

// fastTypes are workflow types for tests that run many workflows: customer_followup without
// the seed's 2 s wait, a second type for filters, and a slow one that stays running.
const fastTypes = `workflows:
  - name: customer_followup
    description: the seed's type, fast
    steps:
      - name: follow_up
        kind: delay
        duration: 1ms
  - name: invoice_reminder
    steps:
      - name: remind
        kind: delay
        duration: 1ms
  - name: slow
    steps:
      - name: wait
        kind: delay
        duration: 1h
`

// backend is one configuration the end-to-end tests run in.
type backend struct {
	name        string
	distributed bool
}

var backends = []backend{{name: "embedded"}, {name: "redis+postgres", distributed: true}}

// forEachBackend runs fn as a parallel subtest in each configuration.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// server is a running `dominion serve` for one test.
type server struct {
	t     testing.TB
	base  string
	redis *testenv.Redis // nil when embedded
	cfg   service.Config
	http  *http.Client
}

type option func(*service.Config)

func withToken(tok string) option { return func(c *service.Config) { c.APIToken = tok } }
func withoutWorker() option       { return func(c *service.Config) { c.NoWorker = true } }
func withRetries(n int) option    { return func(c *service.Config) { c.MaxRetries = n } }
func withConcurrency(n int) option {
	return func(c *service.Config) { c.Concurrency = n }
}

// withTypes writes yaml to a file and makes it the workflow types file.
func withTypes(t testing.TB, yaml string) option {
	path := filepath.Join(t.TempDir(), "workflows.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *service.Config) { c.WorkflowsFile = path }
}

// start runs the service in configuration b on a free port until the test ends, and waits
// until /healthz answers.
func start(t testing.TB, b backend, opts ...option) *server {
	t.Helper()
	cfg := service.Config{
		Config:          config.Config{DataDir: t.TempDir()},
		ShutdownTimeout: 5 * time.Second,
		Logger:          testLogger(t),
	}
	// Every /api/ answer the tests receive is checked against docs/openapi.json.
	s := &server{t: t, http: &http.Client{Timeout: 30 * time.Second, Transport: openapitest.Transport(t, nil)}}
	if b.distributed {
		s.redis = testenv.StartRedis(t)
		cfg.RedisURL = s.redis.URL()
		cfg.DatabaseURL = postgres(t).NewDatabase(t)
	}
	for _, o := range opts {
		o(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	s.cfg = cfg
	s.base = "http://" + ln.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("service.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("service did not stop within 30s of its context being canceled")
		}
		s.http.CloseIdleConnections()
	})
	s.eventually("/healthz answers", 10*time.Second, func() (bool, string) {
		code, _ := s.do("GET", "/healthz", "", nil)
		return code == http.StatusOK, fmt.Sprintf("status %d", code)
	})
	return s
}

// startRedisDown is start on Redis and PostgreSQL with Redis stopped: s.redis.Start starts it.
func startRedisDown(t testing.TB, opts ...option) *server {
	t.Helper()
	rd := testenv.StartRedis(t)
	rd.Stop()
	s := start(t, backend{name: "redis+postgres", distributed: true},
		append(opts, func(c *service.Config) { c.RedisURL = rd.URL() })...)
	s.redis = rd
	return s
}

// testLogger sends the service's logs to the test log (shown for failed tests) at warn
// level and above; set DOMINION_TEST_LOG=debug to see everything.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("DOMINION_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// do sends a request with a JSON body (empty: none) and returns the status and the body.
// headers are pairs: name, value, …
func (s *server) do(method, path, body string, headers []string) (int, []byte) {
	s.t.Helper()
	code, _, b := s.doHeader(method, path, body, headers)
	return code, b
}

// doHeader is do that returns the answer's header too.
func (s *server) doHeader(method, path, body string, headers []string) (int, http.Header, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.cfg.APIToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.APIToken)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Errorf("%s %s: Content-Type %q, want application/json (body %s)", method, path, ct, b)
	}
	return resp.StatusCode, resp.Header, b
}

// call is do followed by a status check and decoding of the JSON answer into out.
func (s *server) call(method, path, body string, want int, out any) {
	s.t.Helper()
	code, b := s.do(method, path, body, nil)
	if code != want {
		s.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// eventually polls cond until it holds or timeout passes.
func (s *server) eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	s.t.Helper()
	var state string
	testenv.Until(s.t, timeout, what, func() bool {
		ok, st := cond()
		state = st
		return ok
	}, func() string { return state })
}

// Response shapes, decoded loosely as a client would.

type errorResp struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

type savings struct {
	WeeklyHoursSaved float64 `json:"weekly_hours_saved"`
	WeeklySavings    float64 `json:"weekly_savings"`
	MonthlySavings   float64 `json:"monthly_savings"`
	YearlySavings    float64 `json:"yearly_savings"`
}

type accepted struct {
	WorkflowID string  `json:"workflow_id"`
	JobID      string  `json:"job_id"`
	Status     string  `json:"status"`
	StatusURL  string  `json:"status_url"`
	Enqueued   bool    `json:"enqueued"`
	Savings    savings `json:"savings"`
}

type workflowResp struct {
	ID         string          `json:"id"`
	AgentID    string          `json:"agent_id"`
	Type       string          `json:"type"`
	Status     string          `json:"status"`
	StepsDone  int             `json:"steps_done"`
	TotalSteps int             `json:"total_steps"`
	Attempts   int             `json:"attempts"`
	Error      string          `json:"error"`
	JobID      string          `json:"job_id"`
	Savings    savings         `json:"savings"`
	Inputs     json.RawMessage `json:"inputs"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	// Pointers: left out until known.
	TotalDurationMS       *float64 `json:"total_duration_ms"`
	LastAttemptDurationMS *float64 `json:"last_attempt_duration_ms"`
	Steps                 []struct {
		Index   int    `json:"index"`
		Name    string `json:"name"`
		Attempt int    `json:"attempt"`
	} `json:"steps"`
	Metrics []struct {
		Attempt    int     `json:"attempt"`
		Status     string  `json:"status"`
		DurationMS float64 `json:"duration_ms"`
		Savings    float64 `json:"savings"`
	} `json:"metrics"`
}

type listResp struct {
	Workflows  []workflowResp `json:"workflows"`
	NextCursor string         `json:"next_cursor"`
	NextURL    string         `json:"next_url"`
}

// submit posts a valid execute request of type typ for agent and returns the answer.
func (s *server) submit(agent, typ string) accepted {
	s.t.Helper()
	var a accepted
	s.call("POST", "/api/chat", chatBody(agent, "execute", typ), http.StatusAccepted, &a)
	return a
}

func chatBody(agent, mode, typ string) string {
	return fmt.Sprintf(`{"agent_id":%q,"mode":%q,"context":{"workflow_type":%q,`+
		`"calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`,
		agent, mode, typ)
}

// get returns the workflow with that id.
func (s *server) get(id string) workflowResp {
	s.t.Helper()
	return getAs[workflowResp](s, "/api/workflows/"+id)
}

// waitStatus polls the workflow until it has status want.
func (s *server) waitStatus(id, want string, timeout time.Duration) workflowResp {
	s.t.Helper()
	return waitAs(s, "/api/workflows/"+id, "workflow "+id+" "+want, timeout, func(w workflowResp) (bool, string) {
		return w.Status == want, fmt.Sprintf("status %s, error %q", w.Status, w.Error)
	})
}

// getAs answers GET path (which must be 200), decoded as a T.
func getAs[T any](s *server, path string) T {
	s.t.Helper()
	var v T
	s.call("GET", path, "", http.StatusOK, &v)
	return v
}

// waitAs polls GET path until cond holds for its answer, and returns that answer; cond's
// second result describes the state seen, for the failure message.
func waitAs[T any](s *server, path, what string, timeout time.Duration, cond func(T) (bool, string)) T {
	s.t.Helper()
	var v T
	s.eventually(what, timeout, func() (bool, string) {
		v = getAs[T](s, path)
		return cond(v)
	})
	return v
}

// listAll follows the pages of GET /api/workflows?query and returns every workflow.
func (s *server) listAll(query string) []workflowResp {
	s.t.Helper()
	var all []workflowResp
	path := "/api/workflows?" + query
	for range 1000 {
		var page listResp
		s.call("GET", path, "", http.StatusOK, &page)
		all = append(all, page.Workflows...)
		if page.NextURL == "" {
			return all
		}
		path = page.NextURL
	}
	s.t.Fatal("more than 1000 pages")
	return nil
}
