//go:build unix

package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/openapitest"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestTraceFollowsWorkflow sends the seed's request to a `dominion serve` and runs its
// workflow, whose first step is an http step, in a separate `dominion worker` process, both
// exporting to an OTLP/HTTP receiver: the receiver gets one trace in which the request's span
// is the parent of the enqueue, the enqueue of the worker's job span, the job of the step's
// span, the step of the outgoing request's span, and the step's target receives that
// request's span as its traceparent.
func TestTraceFollowsWorkflow(t *testing.T) {
	t.Parallel()
	otlp := testenv.StartOTLPReceiver(t)
	var mu sync.Mutex
	var traceparent string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparent = r.Header.Get("traceparent")
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	cfg.Tracing.Endpoint = otlp.URL
	types := fmt.Sprintf("workflows:\n  - name: notify\n    steps:\n      - name: call_hook\n        kind: http\n        url: %s/hook\n", hook.URL)
	cfg.WorkflowsFile = writeFile(t, "workflows.yaml", types)
	srv := startProc(t, "serve", cfg, "serve", "--no-worker", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, srv)
	worker := startProc(t, "worker", cfg, "worker", "--queues", "workflows=1")

	body := `{"agent_id":"a1","mode":"execute","context":{"workflow_type":"notify","calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`
	hc := apiClient(t)
	id := submitWorkflow(t, hc, base, body)
	waitWorkflow(t, hc, base, id, "completed")
	// Both processes flush their spans when they stop.
	for _, p := range []*proc{worker, srv} {
		if code := p.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM", p.Name, code)
		}
	}

	spans, _ := otlp.Spans()
	find := func(role, name string, kind tracepb.Span_SpanKind) *testenv.Span {
		t.Helper()
		for i, s := range spans {
			if s.Role == role && s.GetName() == name && s.GetKind() == kind {
				return &spans[i]
			}
		}
		t.Fatalf("no %s span %q from %s among the %d received:\n%s", kind, name, role, len(spans), describe(spans))
		return nil
	}
	request := find("serve", "POST /api/chat", tracepb.Span_SPAN_KIND_SERVER)
	enqueue := find("serve", "enqueue execute_workflow", tracepb.Span_SPAN_KIND_PRODUCER)
	job := find("worker", "job execute_workflow", tracepb.Span_SPAN_KIND_CONSUMER)
	step := find("worker", "step call_hook", tracepb.Span_SPAN_KIND_INTERNAL)
	call := find("worker", "HTTP POST", tracepb.Span_SPAN_KIND_CLIENT)
	for _, link := range []struct{ child, parent *testenv.Span }{
		{enqueue, request}, {job, enqueue}, {step, job}, {call, step},
	} {
		if string(link.child.GetTraceId()) != string(request.GetTraceId()) {
			t.Errorf("span %q is in trace %x, want the request's trace %x", link.child.GetName(), link.child.GetTraceId(), request.GetTraceId())
		}
		if string(link.child.GetParentSpanId()) != string(link.parent.GetSpanId()) {
			t.Errorf("span %q's parent is %x, want %q (%x)", link.child.GetName(), link.child.GetParentSpanId(), link.parent.GetName(), link.parent.GetSpanId())
		}
	}
	mu.Lock()
	got := traceparent
	mu.Unlock()
	want := "00-" + hex.EncodeToString(request.GetTraceId()) + "-" + hex.EncodeToString(call.GetSpanId()) + "-01"
	if got != want {
		t.Errorf("the http step's target got traceparent %q, want %q (the outgoing request's span)", got, want)
	}
}

func describe(spans []testenv.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %s %q trace %x span %x parent %x\n", s.Role, s.GetKind(), s.GetName(), s.GetTraceId(), s.GetSpanId(), s.GetParentSpanId())
	}
	return b.String()
}

// apiClient is the HTTP client of the tests that call a dominion process's API: every request
// and answer is checked against docs/openapi.json.
func apiClient(t *testing.T) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: openapitest.Transport(t, nil)}
}

// submitWorkflow posts body to base's /api/chat and returns the accepted workflow's id.
func submitWorkflow(t *testing.T, hc *http.Client, base, body string) string {
	t.Helper()
	resp, err := hc.Post(base+"/api/chat", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var accepted struct {
		WorkflowID string `json:"workflow_id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &accepted) != nil || accepted.WorkflowID == "" {
		t.Fatalf("POST /api/chat: %d %s", resp.StatusCode, raw)
	}
	return accepted.WorkflowID
}

// workflowView is what the tests read of GET /api/workflows/{id}.
type workflowView struct {
	Status    string `json:"status"`
	StepsDone int    `json:"steps_done"`
	Attempts  int    `json:"attempts"`
}

// getWorkflow reads the workflow id from base; ok is false when it could not be read, with
// what was answered in raw.
func getWorkflow(hc *http.Client, base, id string) (wf workflowView, raw string, ok bool) {
	resp, err := hc.Get(base + "/api/workflows/" + id)
	if err != nil {
		return wf, err.Error(), false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return wf, string(b), resp.StatusCode == http.StatusOK && json.Unmarshal(b, &wf) == nil
}

// waitWorkflow waits until the workflow id has the status want.
func waitWorkflow(t *testing.T, hc *http.Client, base, id, want string) {
	t.Helper()
	var last string
	eventually(t, 60*time.Second, func() bool {
		wf, raw, ok := getWorkflow(hc, base, id)
		last = raw
		return ok && wf.Status == want
	}, func() string { return "workflow " + id + " never became " + want + ": " + last })
}
