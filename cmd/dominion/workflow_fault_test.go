//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
)

// TestWorkflowSurvivesWorkerKill kills the worker process with SIGKILL in the middle of a
// workflow, after its first step (an HTTP call) and during its second (a wait): a second worker
// recovers the job when the lease runs out and completes the workflow, and the first step is
// not repeated.
func TestWorkflowSurvivesWorkerKill(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	k := startKillable(t, fmt.Sprintf(`workflows:
  - name: notify_then_wait
    steps:
      - name: notify
        kind: http
        url: %s/hook
      - name: wait
        kind: delay
        duration: 2s
`, hook.URL), "notify_then_wait")
	first, wf, last, get := k.first, &k.wf, &k.last, k.get
	// The first step is recorded done; the worker is now in the 2 s wait.
	eventually(t, 30*time.Second, func() bool { return get() && wf.StepsDone == 1 && wf.Status == "running" },
		func() string { return "the first step was never recorded: " + *last })
	first.signal(syscall.SIGKILL, 10*time.Second)

	// The first worker's 1 s lease brings the job back soon; the second's own lease is long, so
	// that a loaded machine stalling it for a second does not make it lose the job it recovered
	// (a third attempt).
	second := startProc(t, "worker-2", k.cfg, "worker", "--queues", "workflows=1", "--lease", "30s")
	eventually(t, 60*time.Second, func() bool { return get() && wf.Status == "completed" },
		func() string {
			return "the workflow did not complete after the kill: " + *last + "\nworker-2:\n" + second.Output()
		})
	if n := calls.Load(); n != 1 {
		t.Errorf("the HTTP step ran %d times, want 1: the step finished before the kill was repeated", n)
	}
	if wf.Attempts != 2 || wf.StepsDone != 2 {
		t.Errorf("workflow after recovery: %s, want 2 attempts and 2 steps done", *last)
	}
	if code := second.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("worker-2 exited %d after SIGTERM", code)
	}
}

// TestAcceptedSurvivesServeKill kills an embedded `dominion serve` with SIGKILL while eight
// clients keep posting workflows: every workflow answered 202 before the kill is there, and
// completes, once serve is started again on the data directory. (A workflow and its job are
// committed in one transaction before the answer; nothing waits in memory.)
func TestAcceptedSurvivesServeKill(t *testing.T) {
	t.Parallel()
	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	cfg.WorkflowsFile = writeFile(t, "workflows.yaml", fastWorkflows)
	first := startProc(t, "serve-1", cfg, "serve", "--no-worker", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
	ids := postUntilKilled(t, "http://"+listenAddr(t, first), 200, func() {
		if code := first.signal(syscall.SIGKILL, 10*time.Second); code != -1 {
			t.Fatalf("serve-1 exited %d before SIGKILL", code)
		}
	})

	second := startProc(t, "serve-2", cfg, "serve", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, second)
	hc := apiClient(t)
	left := ids
	var last string
	eventually(t, 60*time.Second, func() bool {
		for len(left) > 0 {
			wf, raw, ok := getWorkflow(hc, base, left[0])
			if !ok || wf.Status != "completed" {
				last = left[0] + ": " + raw
				return false
			}
			left = left[1:]
		}
		return true
	}, func() string {
		return fmt.Sprintf("%d of the %d workflows accepted before the kill are not completed (first: %s)", len(left), len(ids), last)
	})
}

// postUntilKilled has eight clients post the seed's request to base until at least n were
// accepted, then calls kill (while requests are in flight) and returns the ids of every
// workflow answered 202.
func postUntilKilled(t *testing.T, base string, n int, kill func()) []string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	var (
		mu   sync.Mutex
		ids  []string
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := hc.Post(base+"/api/chat", "application/json", strings.NewReader(seedRequest))
				if err != nil {
					return // killed
				}
				var a struct {
					WorkflowID string `json:"workflow_id"`
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusAccepted && json.Unmarshal(raw, &a) == nil {
					mu.Lock()
					ids = append(ids, a.WorkflowID)
					mu.Unlock()
				}
			}
		})
	}
	eventually(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ids) >= n
	}, func() string { return fmt.Sprintf("fewer than %d workflows accepted", n) })
	kill()
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return ids
}

// TestGraphWorkflowSurvivesWorkerKill kills the worker with SIGKILL while a graph workflow
// runs its branches: a → (b: a 3 s wait, c: an HTTP call) → d. After a and c finished and
// during b, the worker dies; a second worker recovers b's job when its lease runs out, runs b
// and then d, and neither a nor c runs again.
func TestGraphWorkflowSurvivesWorkerKill(t *testing.T) {
	t.Parallel()
	var calls [3]atomic.Int32 // a, c, d
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			calls[0].Add(1)
		case "/c":
			calls[1].Add(1)
		case "/d":
			calls[2].Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	k := startKillable(t, fmt.Sprintf(`workflows:
  - name: diamond
    steps:
      - {name: a, kind: http, url: "%[1]s/a"}
      - {name: b, kind: delay, duration: 3s, needs: [a]}
      - {name: c, kind: http, url: "%[1]s/c", needs: [a]}
      - {name: d, kind: http, url: "%[1]s/d", needs: [b, c]}
`, hook.URL), "diamond")
	first, wf, last, get := k.first, &k.wf, &k.last, k.get
	// a and c are recorded; b is in its 3 s wait.
	eventually(t, 30*time.Second, func() bool { return get() && wf.StepsDone == 2 && wf.Status == "running" },
		func() string { return "a and c were never recorded: " + *last })
	first.signal(syscall.SIGKILL, 10*time.Second)

	second := startProc(t, "worker-2", k.cfg, "worker", "--queues", "workflows=1", "--lease", "1s")
	eventually(t, 60*time.Second, func() bool { return get() && wf.Status == "completed" },
		func() string {
			return "the workflow did not complete after the kill: " + *last + "\nworker-2:\n" + second.Output()
		})
	for i, name := range []string{"a", "c", "d"} {
		if n := calls[i].Load(); n != 1 {
			t.Errorf("step %s ran %d times, want 1", name, n)
		}
	}
	if wf.Attempts != 1 || wf.StepsDone != 4 {
		t.Errorf("workflow after recovery: %s, want 1 attempt (a step's job was recovered, not the workflow restarted) and 4 steps done", *last)
	}
	if code := second.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("worker-2 exited %d after SIGTERM", code)
	}
}

// killable is a server and a first worker (lease 1 s) on workflow types typesYAML, and one
// workflow of type typ submitted to them.
type killable struct {
	cfg   config.Config
	first *proc
	wf    workflowView // the workflow as get last read it
	last  string       // get's last answer
	get   func() bool
}

func startKillable(t *testing.T, typesYAML, typ string) *killable {
	t.Helper()
	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	cfg.WorkflowsFile = writeFile(t, "workflows.yaml", typesYAML)
	srv := startProc(t, "serve", cfg, "serve", "--no-worker", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, srv)
	k := &killable{cfg: cfg, first: startProc(t, "worker-1", cfg, "worker", "--queues", "workflows=1", "--lease", "1s")}
	body := `{"agent_id":"a1","mode":"execute","context":{"workflow_type":"` + typ + `","calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`
	hc := apiClient(t)
	id := submitWorkflow(t, hc, base, body)
	k.get = func() bool {
		var ok bool
		k.wf, k.last, ok = getWorkflow(hc, base, id)
		return ok
	}
	return k
}
