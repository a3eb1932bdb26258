//go:build unix

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	cfg.WorkflowsFile = filepath.Join(t.TempDir(), "workflows.yaml")
	types := fmt.Sprintf(`workflows:
  - name: notify_then_wait
    steps:
      - name: notify
        kind: http
        url: %s/hook
      - name: wait
        kind: delay
        duration: 2s
`, hook.URL)
	if err := os.WriteFile(cfg.WorkflowsFile, []byte(types), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startProc(t, "serve", cfg, "serve", "--no-worker", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, srv)
	first := startProc(t, "worker-1", cfg, "worker", "--queues", "workflows=1", "--lease", "1s")

	body := `{"agent_id":"a1","mode":"execute","context":{"workflow_type":"notify_then_wait","calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`
	hc := apiClient(t)
	id := submitWorkflow(t, hc, base, body)
	var wf workflowView
	var last string
	get := func() bool {
		var ok bool
		wf, last, ok = getWorkflow(hc, base, id)
		return ok
	}
	// The first step is recorded done; the worker is now in the 2 s wait.
	eventually(t, 30*time.Second, func() bool { return get() && wf.StepsDone == 1 && wf.Status == "running" },
		func() string { return "the first step was never recorded: " + last })
	first.signal(syscall.SIGKILL, 10*time.Second)

	second := startProc(t, "worker-2", cfg, "worker", "--queues", "workflows=1", "--lease", "1s")
	eventually(t, 60*time.Second, func() bool { return get() && wf.Status == "completed" },
		func() string {
			return "the workflow did not complete after the kill: " + last + "\nworker-2:\n" + second.Output()
		})
	if n := calls.Load(); n != 1 {
		t.Errorf("the HTTP step ran %d times, want 1: the step finished before the kill was repeated", n)
	}
	if wf.Attempts != 2 || wf.StepsDone != 2 {
		t.Errorf("workflow after recovery: %s, want 2 attempts and 2 steps done", last)
	}
	if code := second.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("worker-2 exited %d after SIGTERM", code)
	}
}
