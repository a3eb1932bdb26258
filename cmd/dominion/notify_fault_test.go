//go:build unix

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/internal/webhook"
	"github.com/codex-dominion/dominion/queue"
)

// TestNotifyResentAfterWorkerKill SIGKILLs the worker process while a workflow's webhook
// notification is on the wire (the receiver holds the request): when the lease runs out a
// second worker sends it again, signed, with the same body and the same Idempotency-Key, and
// the notification job completes. The workflow itself is not run again.
func TestNotifyResentAfterWorkerKill(t *testing.T) {
	t.Parallel()
	faultBrokers(t, func(t *testing.T, tb testBroker) {
		type delivery struct{ key, signature, body string }
		var (
			mu   sync.Mutex
			got  []delivery
			held = make(chan struct{})
		)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, delivery{r.Header.Get("Idempotency-Key"), r.Header.Get(webhook.HeaderSignature), string(raw)})
			first := len(got) == 1
			mu.Unlock()
			if first {
				close(held)
				<-r.Context().Done() // held until the worker dies and the connection drops
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer hook.Close()

		cfg := tb.cfg
		cfg.Lease = time.Second
		types := fmt.Sprintf(`workflows:
  - name: quick
    steps:
      - kind: delay
        duration: 1ms
    notify:
      - on: completed
        channels:
          - kind: webhook
            url: %s/done
            secret: s3cret
`, hook.URL)
		cfg.WorkflowsFile = writeFile(t, "workflows.yaml", types)
		srv := startProc(t, "serve", cfg, "serve", "--no-worker", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
		base := "http://" + listenAddr(t, srv)
		w1 := startProc(t, "worker 1", cfg, "worker", "--queues", "workflows")

		hc := apiClient(t)
		id := submitWorkflow(t, hc, base, `{"agent_id":"a1","mode":"execute","context":{"workflow_type":"quick","calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`)
		select {
		case <-held:
		case <-time.After(time.Minute):
			t.Fatal("the webhook got no notification within a minute")
		}
		if code := w1.signal(syscall.SIGKILL, 15*time.Second); code != -1 {
			t.Fatalf("worker 1 exited %d before SIGKILL", code)
		}
		w2 := startProc(t, "worker 2", cfg, "worker", "--queues", "workflows")

		c := client(t, cfg)
		jobID := "notify:" + id + ":1:completed:0:0"
		testenv.Eventually(t, time.Minute, func() error {
			j, err := c.Get(t.Context(), jobID)
			if err != nil || j.State != queue.StateCompleted {
				return fmt.Errorf("notification job %s: %v, err %v", jobID, j, err)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 2 {
			t.Fatalf("%d deliveries, want 2 (the one cut by the kill and the resend): %+v", len(got), got)
		}
		for i, d := range got {
			if d.key != jobID || d.signature != webhook.Sign("s3cret", []byte(d.body)) || d.body != got[0].body {
				t.Errorf("delivery %d: key %q, signature %q, body %s; want key %s, signed, the same body", i+1, d.key, d.signature, d.body, jobID)
			}
		}
		if wf, raw, ok := getWorkflow(hc, base, id); !ok || wf.Status != "completed" || wf.Attempts != 1 {
			t.Errorf("workflow after the kill: %s, want completed in 1 attempt", raw)
		}
		if code := w2.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("worker 2 exited %d after SIGTERM, want 0", code)
		}
	})
}
