//go:build unix

// The distributed setup with real processes: `dominion serve --no-worker` takes the workflows,
// a separate `dominion worker` runs them. The processes are stopped with SIGTERM, so these
// tests build on Unix systems only.

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// seedRequest is the seed's example request.
const seedRequest = `{"agent_id":"agent_jermaine_super_action","mode":"execute","context":{"workflow_type":"customer_followup","calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`

// fastWorkflows is customer_followup with a short wait instead of the seed's 2 s.
const fastWorkflows = `workflows:
  - name: customer_followup
    description: the seed's type, fast
    steps:
      - name: follow_up
        kind: delay
        duration: 50ms
`

// TestSeparateWorkerRunsWorkflows runs `dominion serve --no-worker` and a separate
// `dominion worker --queues workflows=1` process on one configuration, embedded (one data
// directory) and distributed (Redis and PostgreSQL): the seed's workflow, accepted by serve,
// is completed by the worker, which also runs the maintenance jobs.
func TestSeparateWorkerRunsWorkflows(t *testing.T) {
	t.Parallel()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		separateWorker(t, testConfig(config.Config{DataDir: t.TempDir()}))
	})
	t.Run("redis+postgres", func(t *testing.T) {
		t.Parallel()
		r := testenv.StartRedis(t)
		pg := testenv.StartPostgres(t)
		cfg := testConfig(config.Config{RedisURL: r.URL(), DatabaseURL: pg.NewDatabase(t), DataDir: t.TempDir()})
		separateWorker(t, cfg)
		// The store was PostgreSQL: nothing in the data directory.
		if p := filepath.Join(cfg.DataDir, config.StoreDBFile); fileExists(p) {
			t.Errorf("%s was created although DATABASE_URL is set", p)
		}
	})
}

func separateWorker(t *testing.T, cfg config.Config) {
	cfg.WorkflowsFile = writeFile(t, "workflows.yaml", fastWorkflows)
	srv := startProc(t, "serve", cfg, "serve", "--no-worker", "--no-dashboard", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, srv)
	w := startProc(t, "worker", cfg, "worker", "--queues", "workflows=1", "--shutdown-timeout", "5s")
	hc := apiClient(t)

	resp, err := hc.Post(base+"/api/chat", "application/json", strings.NewReader(seedRequest))
	if err != nil {
		t.Fatal(err)
	}
	var accepted struct {
		WorkflowID string `json:"workflow_id"`
		StatusURL  string `json:"status_url"`
		Enqueued   bool   `json:"enqueued"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &accepted) != nil || accepted.WorkflowID == "" || !accepted.Enqueued {
		t.Fatalf("POST /api/chat: %d %s", resp.StatusCode, body)
	}
	// One line per request: the workflow accepted is on the request's line, not on one of its own.
	requestLine := regexp.MustCompile(`msg="http request" .*route="POST /api/chat" .*status=202 .*workflow_id=` +
		accepted.WorkflowID + ` type=customer_followup job_id=` + accepted.WorkflowID + ` weekly_savings=33.33`)
	eventually(t, 10*time.Second, func() bool { return requestLine.MatchString(srv.Output()) },
		func() string { return "serve's log has no request line with the workflow:\n" + srv.Output() })
	if strings.Contains(srv.Output(), "workflow accepted") {
		t.Errorf("serve logged the workflow on a second line:\n%s", srv.Output())
	}

	var wf struct {
		Status  string `json:"status"`
		Metrics []struct {
			Status  string  `json:"status"`
			Savings float64 `json:"savings"`
		} `json:"metrics"`
	}
	var last string
	eventually(t, 30*time.Second, func() bool {
		resp, err := hc.Get(base + "/api/workflows/" + accepted.WorkflowID)
		if err != nil {
			last = err.Error()
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(b)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(b, &wf) == nil && wf.Status == "completed"
	}, func() string { return "the workflow is not completed: " + last + "\nworker:\n" + w.Output() })
	if len(wf.Metrics) != 1 || wf.Metrics[0].Status != "completed" || wf.Metrics[0].Savings != 33.33 {
		t.Errorf("workflow metrics: %s", last)
	}
	// serve runs no worker: the separate worker ran it (it logs so just after recording it).
	completedLine := regexp.MustCompile(`msg="workflow completed" .*workflow_id=` + accepted.WorkflowID)
	eventually(t, 10*time.Second, func() bool { return completedLine.MatchString(w.Output()) },
		func() string { return "the worker's log does not show the workflow completed:\n" + w.Output() })

	// The maintenance jobs, enqueued on the worker's queue, run too.
	c := client(t, cfg)
	ok(t, cfg, "enqueue", "generate_weekly_report", "{}", "--queue", "workflows", "--id", "report")
	ok(t, cfg, "enqueue", "cleanup_old_workflows", `{"days":30}`, "--queue", "workflows", "--id", "cleanup")
	for _, id := range []string{"report", "cleanup"} {
		var j *queue.Job
		eventually(t, 30*time.Second, func() bool {
			var err error
			j, err = c.Get(t.Context(), id)
			return err == nil && j.State == queue.StateCompleted
		}, func() string {
			return "job " + id + " is not completed: " + jobString(j) + "\nworker:\n" + w.Output()
		})
	}

	if code := w.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("worker exited %d after SIGTERM, want 0", code)
	}
	if code := srv.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	if pw := passwordOf(cfg.DatabaseURL); pw != "" {
		for _, p := range []*proc{srv, w} {
			if strings.Contains(p.Output(), pw) {
				t.Errorf("%s shows the DATABASE_URL password:\n%s", p.Name, p.Output())
			}
		}
	}
}

// listenAddrRE finds the address in serve's start-up log line.
var listenAddrRE = regexp.MustCompile(`msg="dominion serve" addr=(\S+)`)

// listenAddr waits for serve's start-up log line and returns the address it listens on.
func listenAddr(t *testing.T, p *proc) string {
	t.Helper()
	return logAddr(t, p, listenAddrRE)
}

// logAddr waits for p to log the line re matches and returns re's first group.
func logAddr(t *testing.T, p *proc, re *regexp.Regexp) string {
	t.Helper()
	var addr string
	eventually(t, 30*time.Second, func() bool {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			addr = m[1]
			return true
		}
		return !p.Running()
	}, func() string { return p.Name + " did not log its address:\n" + p.Output() })
	if addr == "" {
		t.Fatalf("%s exited:\n%s", p.Name, p.Output())
	}
	return addr
}

func jobString(j *queue.Job) string {
	if j == nil {
		return "(none)"
	}
	s := string(j.State)
	for _, e := range j.Errors {
		s += "; " + e.Error
	}
	return s
}

// passwordOf returns the password of a URL, if any.
func passwordOf(raw string) string {
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if userinfo, _, ok := strings.Cut(rest, "@"); ok {
			if _, pw, ok := strings.Cut(userinfo, ":"); ok {
				return pw
			}
		}
	}
	return ""
}

// TestWorkerNoWorkflows checks that `dominion worker --no-workflows` opens no workflow store,
// and that a plain `dominion worker` opens the embedded one, as serve does: in the queue's
// file, with no dominion.db made either way.
func TestWorkerNoWorkflows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		store bool
	}{
		{[]string{"--no-workflows"}, false},
		{nil, true},
	} {
		cfg := testConfig(config.Config{DataDir: t.TempDir()})
		ctx, cancel := context.WithCancel(t.Context())
		var stdout, stderr testenv.LogBuffer
		done := make(chan int, 1)
		go func() { done <- run(ctx, append([]string{"worker"}, tc.args...), &stdout, &stderr, cfg) }()
		eventually(t, 30*time.Second, func() bool { return strings.Contains(stderr.String(), `msg="dominion worker"`) },
			func() string { return "the worker did not start:\n" + stderr.String() })
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("worker %v exited %d:\n%s", tc.args, code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("worker %v did not stop within 30 s:\n%s", tc.args, stderr.String())
		}
		res := result{0, stdout.String(), stderr.String()}
		want := `store="off (--no-workflows)"`
		if tc.store {
			want = "store=\"sqlite " + cfg.QueueDBPath() + "\""
		}
		if !strings.Contains(res.stderr, want) {
			t.Errorf("worker %v: the log does not say %s:\n%s", tc.args, want, res.stderr)
		}
		if p := filepath.Join(cfg.DataDir, config.StoreDBFile); fileExists(p) {
			t.Errorf("worker %v: %s was made; the workflows belong in %s", tc.args, p, config.QueueDBFile)
		}
	}
}
