//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// TestHTTPHandlerWorkerKilled runs a job type served by an HTTP endpoint (DOMINION_HANDLERS)
// in a real `dominion worker` process and SIGKILLs it while the endpoint holds the request:
// when the lease runs out a second worker delivers the job again, with the same
// Idempotency-Key and the next attempt number, and the endpoint's answer completes it.
func TestHTTPHandlerWorkerKilled(t *testing.T) {
	t.Parallel()
	faultBrokers(t, func(t *testing.T, tb testBroker) {
		type delivery struct {
			key     string
			attempt int
		}
		var (
			mu   sync.Mutex
			got  []delivery
			held = make(chan struct{})
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Attempt int `json:"attempt"`
			}
			raw, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(raw, &body)
			mu.Lock()
			got = append(got, delivery{r.Header.Get("Idempotency-Key"), body.Attempt})
			first := len(got) == 1
			mu.Unlock()
			if first {
				close(held)
				<-r.Context().Done() // held until the worker dies and the connection drops
				return
			}
			fmt.Fprint(w, `{"charged":true}`)
		}))
		defer srv.Close()
		cfg := tb.cfg
		cfg.Lease = time.Second
		yaml := fmt.Sprintf("handlers:\n  - type: hook.charge\n    url: %s/charge\n    timeout: 1m\n", srv.URL)
		cfg.HandlersFile = writeFile(t, "handlers.yaml", yaml)
		c := client(t, cfg)
		job, err := c.Enqueue(t.Context(), "hook.charge", map[string]int{"amount": 5}, queue.OnQueue("hooks"))
		if err != nil {
			t.Fatal(err)
		}
		w1 := startProc(t, "worker 1", cfg, "worker", "--queues", "hooks")
		select {
		case <-held:
		case <-time.After(time.Minute):
			t.Fatal("the endpoint got no request within a minute")
		}
		if code := w1.signal(syscall.SIGKILL, 15*time.Second); code != -1 {
			t.Fatalf("worker 1 exited %d before SIGKILL", code)
		}
		w2 := startProc(t, "worker 2", cfg, "worker", "--queues", "hooks")
		testenv.Eventually(t, time.Minute, func() error {
			j, err := c.Get(t.Context(), job.ID)
			if err != nil || j.State != queue.StateCompleted {
				return fmt.Errorf("job %s: %v, err %v", job.ID, j, err)
			}
			if string(j.Result) != `{"charged":true}` || j.Attempt != 2 {
				return fmt.Errorf("completed job: attempt %d, result %s", j.Attempt, j.Result)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 2 || got[0].key != job.ID || got[1].key != job.ID || got[0].attempt != 1 || got[1].attempt != 2 {
			t.Errorf("deliveries %+v, want attempts 1 and 2 with key %s", got, job.ID)
		}
		if code := w2.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("worker 2 exited %d after SIGTERM, want 0", code)
		}
	})
}
