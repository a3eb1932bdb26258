//go:build unix

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// TestBatchCallbackWorkerKilled runs a batch of 20 jobs served by an HTTP endpoint in a real
// `dominion worker` process, the last one depending on the 19 others, and SIGKILLs the worker
// as the endpoint answers that last job: whether the kill came before or after the worker
// recorded the outcome, the last job is completed exactly when the batch's callback exists,
// and once a second worker has run what was left, the callback has been enqueued and
// delivered exactly once.
func TestBatchCallbackWorkerKilled(t *testing.T) {
	t.Parallel()
	faultBrokers(t, func(t *testing.T, tb testBroker) {
		var (
			mu        sync.Mutex
			callbacks int
			answered  = make(chan struct{}, 1)
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			switch r.URL.Path {
			case "/done":
				mu.Lock()
				callbacks++
				mu.Unlock()
			case "/last":
				fmt.Fprint(w, `{}`)
				w.(http.Flusher).Flush()
				select { // the first delivery only: the test kills its worker now
				case answered <- struct{}{}:
				default:
				}
				return
			}
			fmt.Fprint(w, `{}`)
		}))
		defer srv.Close()
		cfg := tb.cfg
		cfg.Lease = time.Second
		yaml := fmt.Sprintf("handlers:\n  - type: hook.step\n    url: %[1]s/step\n  - type: hook.last\n    url: %[1]s/last\n  - type: hook.done\n    url: %[1]s/done\n", srv.URL)
		cfg.HandlersFile = writeFile(t, "handlers.yaml", yaml)
		c := client(t, cfg)
		reqs := make([]queue.Request, 0, 20)
		var steps []string
		for i := range 19 {
			id := fmt.Sprintf("step-%02d", i)
			steps = append(steps, id)
			reqs = append(reqs, queue.Request{Type: "hook.step", Options: []queue.Option{queue.WithID(id), queue.OnQueue("batch")}})
		}
		reqs = append(reqs, queue.Request{Type: "hook.last", Options: []queue.Option{
			queue.WithID("last"), queue.OnQueue("batch"), queue.DependsOn(steps...)}})
		id, _, errs, err := c.EnqueueBatch(t.Context(), reqs, queue.OnComplete("hook.done", nil, queue.OnQueue("batch")))
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("job %d: %v", i, err)
			}
		}
		w1 := startProc(t, "worker 1", cfg, "worker", "--queues", "batch")
		select {
		case <-answered:
		case <-time.After(time.Minute):
			t.Fatal("the last job was not delivered within a minute")
		}
		if code := w1.signal(syscall.SIGKILL, 15*time.Second); code != -1 {
			t.Fatalf("worker 1 exited %d before SIGKILL", code)
		}
		// The outcome and the callback are one atomic step: both or neither.
		last, err := c.Get(t.Context(), "last")
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Batch(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		_, cbErr := c.Get(t.Context(), s.OnComplete)
		if (last.State == queue.StateCompleted) != (cbErr == nil) || s.Finished() != (cbErr == nil) {
			t.Fatalf("after the kill: last job %s, batch %+v, callback lookup %v: want the callback iff the last job completed", last.State, s, cbErr)
		}
		t.Logf("killed with the last job %s (callback enqueued: %v)", last.State, cbErr == nil)
		w2 := startProc(t, "worker 2", cfg, "worker", "--queues", "batch")
		testenv.Eventually(t, time.Minute, func() error {
			j, err := c.Get(t.Context(), s.OnComplete)
			if err != nil || j.State != queue.StateCompleted {
				return fmt.Errorf("callback %s: %v (%v)", s.OnComplete, j, err)
			}
			return nil
		})
		if s, err := c.Batch(t.Context(), id); err != nil || s.Completed != 20 || s.Pending != 0 || !s.Finished() {
			t.Fatalf("batch after recovery: %+v, %v", s, err)
		}
		assertAllCompleted(t, c, "batch", append(steps, "last", s.OnComplete))
		mu.Lock()
		if callbacks != 1 {
			t.Errorf("the callback was delivered %d times, want once", callbacks)
		}
		mu.Unlock()
		var shown queue.BatchStatus
		decodeJSON(t, ok(t, cfg, "batches", "show", id, "--json"), &shown)
		if shown.ID != id || shown.Total != 20 || shown.Completed != 20 || !shown.Finished() || shown.OnComplete != s.OnComplete {
			t.Errorf("batches show --json: %+v", shown)
		}
		if out := ok(t, cfg, "batches", "show", id); !strings.Contains(out, "State:       finished") || !strings.Contains(out, "Completed:   20") {
			t.Errorf("batches show:\n%s", out)
		}
		if code := w2.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("worker 2 exited %d after SIGTERM, want 0", code)
		}
	})
}
