package service_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIdempotencyKey: a client that sends POST /api/chat again with the same Idempotency-Key
// (it got no answer: a timeout, a 503 whose commit had landed, a dropped connection) gets
// the first request's workflow, not a second one; the key with another body is refused.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		body := chatBody("agent-k", "execute", "customer_followup")
		post := func(key, body string) (int, http.Header, []byte) {
			t.Helper()
			return s.doHeader("POST", "/api/chat", body, []string{"Idempotency-Key", key})
		}
		decode := func(raw []byte) accepted {
			t.Helper()
			var a accepted
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatalf("answer %s: %v", raw, err)
			}
			return a
		}

		code, hdr, raw := post("order-42", body)
		first := decode(raw)
		if code != http.StatusAccepted || hdr.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first request: %d, Idempotent-Replayed %q; body %s", code, hdr.Get("Idempotent-Replayed"), raw)
		}
		s.waitStatus(first.WorkflowID, "completed", 30*time.Second)

		code, hdr, raw = post("order-42", body)
		again := decode(raw)
		if code != http.StatusAccepted || hdr.Get("Idempotent-Replayed") != "true" || again.WorkflowID != first.WorkflowID {
			t.Fatalf("the request again: %d, Idempotent-Replayed %q, workflow %s (first %s)",
				code, hdr.Get("Idempotent-Replayed"), again.WorkflowID, first.WorkflowID)
		}
		if again.Status != "completed" {
			t.Errorf("the replayed answer says %q; the workflow is completed", again.Status)
		}

		code, _, raw = post("order-42", chatBody("agent-other", "execute", "customer_followup"))
		var e errorResp
		if err := json.Unmarshal(raw, &e); err != nil || code != http.StatusUnprocessableEntity ||
			e.Error.Code != "idempotency_key_reused" || e.Error.Field != "Idempotency-Key" {
			t.Fatalf("the key with another body: %d %s, want 422 idempotency_key_reused", code, raw)
		}

		for _, bad := range []string{"has space", strings.Repeat("k", 256), "tab\tkey", "é"} {
			code, _, raw := post(bad, body)
			if err := json.Unmarshal(raw, &e); err != nil || code != http.StatusBadRequest || e.Error.Code != "invalid_header" {
				t.Errorf("key %.20q: %d %s, want 400 invalid_header", bad, code, raw)
			}
		}

		if got := s.listAll("agent=agent-k"); len(got) != 1 {
			t.Fatalf("agent-k has %d workflows, want 1", len(got))
		}
		if w := s.get(first.WorkflowID); len(w.Metrics) != 1 {
			t.Errorf("the workflow ran %d times, want 1", len(w.Metrics))
		}
	})
}

// TestIdempotencyKeyConcurrent: twenty clients sending one key at once create one workflow.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		const racers = 20
		ids := make([]string, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				code, _, raw := s.doHeader("POST", "/api/chat", chatBody("racer", "execute", "customer_followup"),
					[]string{"Idempotency-Key", "one-key"})
				var a accepted
				if err := json.Unmarshal(raw, &a); err != nil || code != http.StatusAccepted {
					t.Errorf("racer %d: %d %s", i, code, raw)
				}
				ids[i] = a.WorkflowID
			})
		}
		wg.Wait()
		for i, id := range ids {
			if id != ids[0] {
				t.Fatalf("racer %d got workflow %s, racer 0 %s", i, id, ids[0])
			}
		}
		s.waitStatus(ids[0], "completed", 30*time.Second)
		if got := s.listAll("agent=racer"); len(got) != 1 {
			t.Fatalf("%d workflows for one key, want 1", len(got))
		}
	})
}
