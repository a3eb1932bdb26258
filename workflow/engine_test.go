package workflow_test

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

func TestExecuteEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTypes(delayType("customer_followup", 20*time.Millisecond)))
	e.startWorker(nil)
	acc := e.submit("customer_followup")
	if !acc.Enqueued || acc.JobID != acc.Workflow.ID {
		t.Fatalf("Submit: enqueued %v, job id %q, workflow id %q", acc.Enqueued, acc.JobID, acc.Workflow.ID)
	}
	if acc.Savings.WeeklySavings != 33.33 || acc.Workflow.WeeklySavings != 33.33 || acc.Workflow.TotalSteps != 1 {
		t.Errorf("accepted savings %+v, stored %v, steps %d", acc.Savings, acc.Workflow.WeeklySavings, acc.Workflow.TotalSteps)
	}
	w := e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
	if w.CurrentStep != 1 || len(w.Steps) != 1 || w.Steps[0].Name != "work" || w.Attempts != 1 {
		t.Errorf("steps: current %d, recorded %+v, attempts %d", w.CurrentStep, w.Steps, w.Attempts)
	}
	if len(w.Metrics) != 1 {
		t.Fatalf("metrics = %+v, want one", w.Metrics)
	}
	m := w.Metrics[0]
	if m.Status != store.StatusCompleted || m.Savings != 33.33 || m.Duration < 20*time.Millisecond || m.Attempt != 1 {
		t.Errorf("metric = %+v", m)
	}
	job := e.waitJob(acc.JobID, queue.StateCompleted)
	var res workflow.ExecResult
	if err := json.Unmarshal(job.Result, &res); err != nil {
		t.Fatalf("job result %s: %v", job.Result, err)
	}
	if res.Status != store.StatusCompleted || res.StepsRun != 1 || res.WeeklySavings != 33.33 || job.Queue != workflow.DefaultQueue {
		t.Errorf("job result %+v on queue %s", res, job.Queue)
	}
	// The stored context is the request's calculator inputs when none was given.
	var ctx struct {
		Type   string                    `json:"workflow_type"`
		Inputs workflow.CalculatorInputs `json:"calculator_inputs"`
	}
	if err := json.Unmarshal(w.Inputs, &ctx); err != nil || ctx.Type != "customer_followup" || ctx.Inputs.HourlyWage != 25 {
		t.Errorf("stored inputs %s (%v)", w.Inputs, err)
	}
	// A duplicate job for a finished workflow does nothing.
	if _, err := e.client.Enqueue(t.Context(), workflow.JobExecute, workflow.ExecutePayload{WorkflowID: w.ID}, queue.OnQueue(workflow.DefaultQueue), queue.WithID("dup-1")); err != nil {
		t.Fatal(err)
	}
	job = e.waitJob("dup-1", queue.StateCompleted)
	if !strings.Contains(string(job.Result), "nothing to do") {
		t.Errorf("duplicate job result %s", job.Result)
	}
	if again, _ := e.store.GetWorkflow(t.Context(), w.ID); again.Attempts != 1 || len(again.Metrics) != 1 {
		t.Errorf("duplicate job ran the workflow again: attempts %d, metrics %d", again.Attempts, len(again.Metrics))
	}
	// Get and List go to the store.
	if got, err := e.engine.Get(t.Context(), w.ID); err != nil || got.ID != w.ID {
		t.Errorf("Get = %v, %v", got.ID, err)
	}
	page, err := e.engine.List(t.Context(), store.ListFilter{Status: store.StatusCompleted})
	if err != nil || len(page.Workflows) != 1 {
		t.Errorf("List(completed) = %d workflows, %v", len(page.Workflows), err)
	}
	if _, err := e.engine.List(t.Context(), store.ListFilter{Status: "bogus"}); !isInputError(err, "status") {
		t.Errorf("List(bogus status) = %v", err)
	}
}

func isInputError(err error, field string) bool {
	var ie *workflow.InputError
	return errors.As(err, &ie) && ie.Field == field
}

func TestSubmitRefusesBadInputAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := seedRequest("nope")
	if _, err := e.engine.Submit(t.Context(), req); !isInputError(err, "context.workflow_type") {
		t.Fatalf("Submit(unknown type) = %v", err)
	}
	req = seedRequest("customer_followup")
	req.Mode = workflow.ModePreview
	if _, err := e.engine.Submit(t.Context(), req); !isInputError(err, "mode") {
		t.Fatalf("Submit(preview) = %v", err)
	}
	page, err := e.store.ListWorkflows(t.Context(), store.ListFilter{})
	if err != nil || len(page.Workflows) != 0 {
		t.Fatalf("stored %d workflows (%v), want none", len(page.Workflows), err)
	}
	// The given context is stored as it is.
	req = seedRequest("customer_followup")
	req.Context = json.RawMessage(`{"workflow_type":"customer_followup","calculator_inputs":{"tasks_per_week":20},"note":"vip"}`)
	acc, err := e.engine.Submit(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(acc.Workflow.Inputs), `"note":"vip"`) {
		t.Errorf("stored context %s", acc.Workflow.Inputs)
	}
}

// hook is an httptest server that records requests and answers with the status its
// function gives.
type hook struct {
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []hookRequest
	calls map[string]*atomic.Int64 // by path
}

type hookRequest struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func newHook(t *testing.T, answer func(r *http.Request, n int64) int) *hook {
	h := &hook{calls: map[string]*atomic.Int64{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		c := h.calls[r.URL.Path]
		if c == nil {
			c = &atomic.Int64{}
			h.calls[r.URL.Path] = c
		}
		h.mu.Unlock()
		n := c.Add(1)
		code := answer(r, n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"path":%q,"call":%d}`, r.URL.Path, n)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) count(path string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.calls[path]; c != nil {
		return c.Load()
	}
	return 0
}

func (h *hook) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

func TestHTTPStep(t *testing.T) {
	t.Parallel()
	h := newHook(t, func(*http.Request, int64) int { return http.StatusAccepted })
	typ := workflow.Type{Name: "notify", Steps: []workflow.StepSpec{
		{Name: "wait", Kind: workflow.KindDelay, Duration: time.Millisecond},
		{Name: "crm", Kind: workflow.KindHTTP, URL: h.srv.URL + "/crm", Method: "put",
			Headers: map[string]string{"Authorization": "Bearer xyz", "Idempotency-Key": "mine"}, Secret: "s3cret"},
		{Name: "plain", Kind: workflow.KindHTTP, URL: h.srv.URL + "/plain"},
	}}
	e := newEnv(t, withTypes(typ))
	e.startWorker(nil)
	acc := e.submit("notify")
	w := e.waitStatus(acc.Workflow.ID, store.StatusCompleted)

	reqs := h.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Method != "PUT" || r.Path != "/crm" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer xyz" {
		t.Errorf("Authorization %q", got)
	}
	if got, want := r.Header.Get("Idempotency-Key"), w.ID+":1"; got != want {
		t.Errorf("Idempotency-Key %q, want %q (a configured header does not replace it)", got, want)
	}
	if got, want := r.Header.Get("X-Dominion-Signature"), workflow.Sign("s3cret", r.Body); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	// Verify the signature as a receiver would, independently of Sign.
	sig := strings.TrimPrefix(r.Header.Get("X-Dominion-Signature"), "sha256=")
	if !hmac.Equal([]byte(sig), []byte(hmacHex("s3cret", r.Body))) {
		t.Error("signature does not verify")
	}
	var body workflow.StepData
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	if body.WorkflowID != w.ID || body.Type != "notify" || body.AgentID != "agent_jermaine_super_action" ||
		body.Mode != "execute" || body.Attempt != 1 || body.Step.Index != 1 || body.Step.Name != "crm" ||
		body.Step.Total != 3 || body.Inputs.TasksPerWeek != 20 || body.Savings.WeeklySavings != 33.33 ||
		body.Savings.YearlySavings != 1733.33 {
		t.Errorf("body = %+v", body)
	}
	if string(body.Outputs["wait"]) != `{"waited_ms":1}` {
		t.Errorf("outputs of earlier steps = %v", body.Outputs)
	}
	if p := reqs[1]; p.Method != "POST" || p.Header.Get("X-Dominion-Signature") != "" || p.Header.Get("Idempotency-Key") != w.ID+":2" {
		t.Errorf("second request %s, signature %q, key %q", p.Method, p.Header.Get("X-Dominion-Signature"), p.Header.Get("Idempotency-Key"))
	}
	// The answer is the step's output.
	if out := string(w.Steps[1].Output); out != `{"status":202,"response":{"path":"/crm","call":1}}` {
		t.Errorf("step output %s", out)
	}
}

func TestHTTPStepTimeoutAndStatus(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client hanging up
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	bad := newHook(t, func(r *http.Request, _ int64) int {
		if r.URL.Path == "/moved" {
			return http.StatusFound // not followed
		}
		return http.StatusNotFound
	})
	e := newEnv(t, withTypes(
		workflow.Type{Name: "slow", Steps: []workflow.StepSpec{{Kind: workflow.KindHTTP, URL: slow.URL, Timeout: 50 * time.Millisecond}}},
		workflow.Type{Name: "missing", Steps: []workflow.StepSpec{{Kind: workflow.KindHTTP, URL: bad.srv.URL + "/gone"}}},
		workflow.Type{Name: "moved", Steps: []workflow.StepSpec{{Kind: workflow.KindHTTP, URL: bad.srv.URL + "/moved"}}},
		workflow.Type{Name: "refused", Steps: []workflow.StepSpec{{Kind: workflow.KindHTTP, URL: refusedURL(t)}}},
	), withConfig(func(c *workflow.Config) { c.MaxRetries = 5 }))
	e.startWorker(nil)

	// A timeout is retried (5 retries here), then the workflow fails.
	acc := e.submit("slow")
	w := e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "step 1 (http_1)") || !strings.Contains(w.Error, "timed out after 50ms") || w.Attempts != 6 {
		t.Errorf("error %q after %d attempts", w.Error, w.Attempts)
	}
	job := e.waitJob(acc.JobID, queue.StateDead)
	if len(job.Errors) != 6 {
		t.Errorf("job has %d attempt errors, want 6", len(job.Errors))
	}
	// A 4xx is permanent: no retry.
	acc = e.submit("missing")
	w = e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "404 Not Found") || w.Attempts != 1 || bad.count("/gone") != 1 {
		t.Errorf("error %q, attempts %d, calls %d", w.Error, w.Attempts, bad.count("/gone"))
	}
	if len(w.Metrics) != 1 || w.Metrics[0].Status != store.StatusFailed || w.Metrics[0].Savings != 0 {
		t.Errorf("failure metric %+v", w.Metrics)
	}
	// So is a 3xx: redirects are not followed, as for HTTP job handlers.
	acc = e.submit("moved")
	w = e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "302 Found") || w.Attempts != 1 || bad.count("/moved") != 1 {
		t.Errorf("error %q, attempts %d, calls %d", w.Error, w.Attempts, bad.count("/moved"))
	}
	// A connection error is retried; the error keeps the URL's credentials out.
	acc = e.submit("refused")
	w = e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if w.Attempts != 6 || !strings.Contains(w.Error, "refused") || strings.Contains(w.Error, "pw-secret") || strings.Contains(w.Error, "tok-secret") {
		t.Errorf("error %q after %d attempts", w.Error, w.Attempts)
	}
}

// refusedURL returns a URL with credentials on a local port where nothing listens.
func refusedURL(t *testing.T) string {
	return "http://user:pw-secret@" + testenv.FreeAddr(t) + "/hook?token=tok-secret"
}

func TestEmailStep(t *testing.T) {
	t.Parallel()
	smtpd := testenv.StartSMTP(t, testenv.WithSMTPAuth("dominion", "mail-pass"))
	typ := workflow.Type{Name: "mail", Steps: []workflow.StepSpec{{
		Name: "notify", Kind: workflow.KindEmail, To: []string{"Ops Team <ops@example.com>", "cs@example.com"},
		Subject: "Done: {{.Type}} for {{.AgentID}} — ✓",
		Body:    "Workflow {{.WorkflowID}} saves ${{printf \"%.2f\" .Savings.WeeklySavings}} a week.\n.\nEnd.",
	}}}
	e := newEnv(t, withTypes(typ), withConfig(func(c *workflow.Config) {
		c.SMTP = workflow.SMTPConfig{Addr: smtpd.Addr(), Username: "dominion", Password: "mail-pass", From: "Dominion <dominion@example.com>"}
	}))
	e.startWorker(nil)
	acc := e.submit("mail")
	w := e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
	msgs := smtpd.WaitMessages(t, 1, waitFor)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "dominion@example.com" || strings.Join(m.To, ",") != "ops@example.com,cs@example.com" || m.AuthUser != "dominion" {
		t.Errorf("envelope from %q to %v auth %q", m.From, m.To, m.AuthUser)
	}
	hdr, err := m.Header()
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mimeDecoder).DecodeHeader(hdr.Get("Subject"))
	if err != nil || subject != "Done: mail for agent_jermaine_super_action — ✓" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	if got := hdr.Get("X-Dominion-Workflow"); got != w.ID {
		t.Errorf("X-Dominion-Workflow %q", got)
	}
	want := "Workflow " + w.ID + " saves $33.33 a week.\r\n.\r\nEnd.\r\n"
	if body := m.Body(); body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if !strings.Contains(string(w.Steps[0].Output), `"message_id"`) {
		t.Errorf("step output %s", w.Steps[0].Output)
	}
}

func TestEmailStepFailures(t *testing.T) {
	t.Parallel()
	smtpd := testenv.StartSMTP(t, testenv.WithSMTPAuth("dominion", "right"),
		testenv.WithSMTPReject("nobody@example.com", 550, "5.1.1 no such user"))
	e := newEnv(t, withTypes(
		workflow.Type{Name: "wrongpass", Steps: []workflow.StepSpec{{Kind: workflow.KindEmail, To: []string{"a@example.com"}}}},
		workflow.Type{Name: "nobody", Steps: []workflow.StepSpec{{Kind: workflow.KindEmail, To: []string{"nobody@example.com"}}}},
	), withConfig(func(c *workflow.Config) {
		c.SMTP = workflow.SMTPConfig{Addr: smtpd.Addr(), Username: "dominion", Password: "wrong-secret-pw"}
		c.MaxRetries = 2
	}))
	e.startWorker(nil)
	acc := e.submit("wrongpass")
	w := e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "auth as dominion") || strings.Contains(w.Error, "wrong-secret-pw") || w.Attempts != 1 {
		t.Errorf("error %q (attempts %d): want a permanent auth failure without the password", w.Error, w.Attempts)
	}
	if s := fmt.Sprint(workflow.SMTPConfig{Password: "wrong-secret-pw"}); strings.Contains(s, "wrong-secret-pw") {
		t.Errorf("SMTPConfig prints its password: %s", s)
	}
	// Without SMTP configured, an email step fails at once.
	other := newEnv(t, withTypes(workflow.Type{Name: "m", Steps: []workflow.StepSpec{{Kind: workflow.KindEmail, To: []string{"a@example.com"}}}}))
	acc2, err := other.engine.Submit(t.Context(), seedRequest("m"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := other.engine.ExecuteWorkflow(t.Context(), acc2.Workflow.ID)
	if err == nil || res.Status != store.StatusFailed || !strings.Contains(res.Note, "no SMTP server configured") {
		t.Errorf("without SMTP: %+v, %v", res, err)
	}
}

func TestFailingStepThenRetryResumes(t *testing.T) {
	t.Parallel()
	var fixed atomic.Bool
	h := newHook(t, func(r *http.Request, n int64) int {
		if r.URL.Path == "/second" && !fixed.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	typ := workflow.Type{Name: "two", Steps: []workflow.StepSpec{
		{Name: "first", Kind: workflow.KindHTTP, URL: h.srv.URL + "/first"},
		{Name: "second", Kind: workflow.KindHTTP, URL: h.srv.URL + "/second"},
		{Name: "third", Kind: workflow.KindHTTP, URL: h.srv.URL + "/third"},
	}}
	e := newEnv(t, withTypes(typ)) // no queue retries: the first failure is final
	e.startWorker(nil)
	acc := e.submit("two")
	w := e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "step 2 (second)") || !strings.Contains(w.Error, "503") {
		t.Errorf("error %q", w.Error)
	}
	if w.CurrentStep != 1 || h.count("/first") != 1 || h.count("/second") != 1 || h.count("/third") != 0 {
		t.Fatalf("current step %d; calls first %d second %d third %d", w.CurrentStep, h.count("/first"), h.count("/second"), h.count("/third"))
	}
	e.waitJob(acc.JobID, queue.StateDead)

	// Retrying a workflow that is not failed or canceled is refused.
	fixed.Store(true)
	rw, err := e.engine.Retry(t.Context(), w.ID)
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if rw.Status != store.StatusQueued || rw.JobID != w.ID+"-r1" {
		t.Errorf("after Retry: status %s job %q", rw.Status, rw.JobID)
	}
	w = e.waitStatus(w.ID, store.StatusCompleted)
	if h.count("/first") != 1 || h.count("/second") != 2 || h.count("/third") != 1 {
		t.Errorf("after retry: calls first %d (want 1: not repeated) second %d third %d", h.count("/first"), h.count("/second"), h.count("/third"))
	}
	if w.Attempts != 2 || len(w.Metrics) != 2 || w.Error != "" {
		t.Errorf("attempts %d metrics %+v error %q", w.Attempts, w.Metrics, w.Error)
	}
	e.waitJob(w.ID+"-r1", queue.StateCompleted)
	if _, err := e.engine.Retry(t.Context(), w.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Retry(completed) = %v, want ErrConflict", err)
	}
}

func TestQueueRetriesResumeAtFailedStep(t *testing.T) {
	t.Parallel()
	h := newHook(t, func(r *http.Request, n int64) int {
		if r.URL.Path == "/flaky" && n <= 2 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	typ := workflow.Type{Name: "flaky", Steps: []workflow.StepSpec{
		{Name: "first", Kind: workflow.KindHTTP, URL: h.srv.URL + "/first"},
		{Name: "flaky", Kind: workflow.KindHTTP, URL: h.srv.URL + "/flaky"},
	}}
	e := newEnv(t, withTypes(typ), withConfig(func(c *workflow.Config) { c.MaxRetries = 3 }))
	e.startWorker(nil)
	acc := e.submit("flaky")
	w := e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
	if h.count("/first") != 1 || h.count("/flaky") != 3 || w.Attempts != 3 {
		t.Errorf("calls first %d flaky %d, attempts %d", h.count("/first"), h.count("/flaky"), w.Attempts)
	}
	// Every request for one step carries the same idempotency key.
	for _, r := range h.requests() {
		if r.Path == "/flaky" && r.Header.Get("Idempotency-Key") != w.ID+":1" {
			t.Errorf("idempotency key %q", r.Header.Get("Idempotency-Key"))
		}
	}
	// One metric per attempt: the two the queue retried, then the one that completed.
	if len(w.Metrics) != 3 || w.Metrics[0].Status != store.StatusRetried || w.Metrics[1].Status != store.StatusRetried ||
		w.Metrics[2].Status != store.StatusCompleted || w.Metrics[2].Attempt != 3 {
		t.Errorf("metrics %+v: want retried, retried, completed (attempt 3)", w.Metrics)
	}
}

func TestCancelBetweenSteps(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h := newHook(t, func(r *http.Request, n int64) int {
		if r.URL.Path == "/first" && n == 1 {
			entered <- struct{}{}
			<-release
		}
		return http.StatusOK
	})
	typ := workflow.Type{Name: "two", Steps: []workflow.StepSpec{
		{Name: "first", Kind: workflow.KindHTTP, URL: h.srv.URL + "/first"},
		{Name: "second", Kind: workflow.KindHTTP, URL: h.srv.URL + "/second"},
	}}
	e := newEnv(t, withTypes(typ))
	e.startWorker(nil)
	// Cancel through an engine without a queue client, so that only the store says
	// "canceled": the running attempt must notice between steps.
	storeOnly := e.engineWith(func(c *workflow.Config) { c.Client = nil })
	acc := e.submit("two")
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("first step never called")
	}
	st, err := storeOnly.Cancel(t.Context(), acc.Workflow.ID)
	if err != nil || st != store.StatusCanceled {
		t.Fatalf("Cancel = %s, %v", st, err)
	}
	close(release)
	job := e.waitJob(acc.JobID, queue.StateCompleted)
	var res workflow.ExecResult
	_ = json.Unmarshal(job.Result, &res)
	if res.Status != store.StatusCanceled {
		t.Errorf("job result %s", job.Result)
	}
	w, _ := e.store.GetWorkflow(t.Context(), acc.Workflow.ID)
	if w.Status != store.StatusCanceled || h.count("/second") != 0 || len(w.Metrics) != 1 || w.Metrics[0].Status != store.StatusCanceled {
		t.Errorf("status %s, second step called %d times, metrics %+v", w.Status, h.count("/second"), w.Metrics)
	}
	if _, err := e.engine.Cancel(t.Context(), acc.Workflow.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second Cancel = %v, want ErrConflict", err)
	}
	// The first step finished after the cancel, so it was not recorded: a retry runs it
	// again, with the same idempotency key, then the second.
	if _, err := e.engine.Retry(t.Context(), acc.Workflow.ID); err != nil {
		t.Fatal(err)
	}
	w = e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
	if h.count("/first") != 2 || h.count("/second") != 1 || w.Attempts != 2 {
		t.Errorf("after retry: first %d second %d attempts %d", h.count("/first"), h.count("/second"), w.Attempts)
	}
	for _, r := range h.requests() {
		if r.Path == "/first" && r.Header.Get("Idempotency-Key") != w.ID+":0" {
			t.Errorf("first step's idempotency key %q", r.Header.Get("Idempotency-Key"))
		}
	}
}

func TestCancelInterruptsDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTypes(delayType("long", time.Hour)))
	e.startWorker(nil)
	acc := e.submit("long")
	e.waitStatus(acc.Workflow.ID, store.StatusRunning)
	st, err := e.engine.Cancel(t.Context(), acc.Workflow.ID)
	if err != nil || st != store.StatusCanceled {
		t.Fatalf("Cancel = %s, %v", st, err)
	}
	// The job's context is canceled: the delay stops well before its hour.
	e.waitJob(acc.JobID, queue.StateCanceled)
	w, _ := e.store.GetWorkflow(t.Context(), acc.Workflow.ID)
	if w.Status != store.StatusCanceled || w.CurrentStep != 0 {
		t.Errorf("status %s step %d", w.Status, w.CurrentStep)
	}
	// Canceling the job in the queue (dashboard, CLI) cancels the workflow too.
	acc = e.submit("long")
	e.waitStatus(acc.Workflow.ID, store.StatusRunning)
	if _, err := e.client.Cancel(t.Context(), acc.JobID); err != nil {
		t.Fatal(err)
	}
	e.waitJob(acc.JobID, queue.StateCanceled)
	e.waitStatus(acc.Workflow.ID, store.StatusCanceled)

	// Canceling a queued workflow cancels its pending job too.
	paused := newEnv(t, withTypes(delayType("long", time.Hour)))
	acc = paused.submit("long")
	if _, err := paused.engine.Cancel(t.Context(), acc.Workflow.ID); err != nil {
		t.Fatal(err)
	}
	if job, err := paused.client.Get(t.Context(), acc.JobID); err != nil || job.State != queue.StateCanceled {
		t.Errorf("job after Cancel: %+v, %v", job, err)
	}
	// Retry re-arms the canceled job (the workflow never started, so it keeps its id).
	rw, err := paused.engine.Retry(t.Context(), acc.Workflow.ID)
	if err != nil || rw.JobID != acc.JobID {
		t.Fatalf("Retry = job %q, %v", rw.JobID, err)
	}
	if job, err := paused.client.Get(t.Context(), acc.JobID); err != nil || job.State != queue.StatePending {
		t.Errorf("job after Retry: %+v, %v", job, err)
	}
}

func TestCleanupOldWorkflows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTypes(delayType("quick", time.Millisecond)))
	ctx := t.Context()
	run := func() string {
		acc := e.submit("quick")
		if _, err := e.engine.ExecuteWorkflow(ctx, acc.Workflow.ID); err != nil {
			t.Fatal(err)
		}
		return acc.Workflow.ID
	}
	// Three finish now (two completed, one canceled), one stays queued; then the clock the
	// store and the engine share moves on 30 days for one more, and 10 more for the last:
	// the first three are 40 days old when the clean-up runs, by the engine's clock.
	old1, old2 := run(), run()
	canceled := e.submit("quick").Workflow.ID
	if _, err := e.engine.Cancel(ctx, canceled); err != nil {
		t.Fatal(err)
	}
	oldQueued := e.submit("quick").Workflow.ID
	e.clock.Set(30 * 24 * time.Hour)
	recent := run()
	e.clock.Set(40 * 24 * time.Hour)
	recent2 := run()

	n, err := e.engine.CleanupOldWorkflows(ctx, 0) // 0: the default, 30 days
	if err != nil || n != 3 {
		t.Fatalf("CleanupOldWorkflows(30) = %d, %v; want 3", n, err)
	}
	for _, id := range []string{old1, old2, canceled} {
		if _, err := e.store.GetWorkflow(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old workflow %s still there (%v)", id, err)
		}
	}
	for _, id := range []string{oldQueued, recent, recent2} {
		if _, err := e.store.GetWorkflow(ctx, id); err != nil {
			t.Errorf("workflow %s deleted: %v", id, err)
		}
	}
	if _, err := e.engine.CleanupOldWorkflows(ctx, -1); !isInputError(err, "days") {
		t.Errorf("CleanupOldWorkflows(-1) = %v", err)
	}
	// As a job: days 5 deletes the 10-day-old one.
	e.startWorker(nil)
	job, err := e.client.Enqueue(ctx, workflow.JobCleanup, workflow.CleanupPayload{Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	job = e.waitJob(job.ID, queue.StateCompleted)
	if string(job.Result) != `{"days":5,"deleted":1}` {
		t.Errorf("cleanup job result %s", job.Result)
	}
	// No payload: the default 30 days.
	job, err = e.client.Enqueue(ctx, workflow.JobCleanup, nil)
	if err != nil {
		t.Fatal(err)
	}
	job = e.waitJob(job.ID, queue.StateCompleted)
	if string(job.Result) != `{"days":30,"deleted":0}` {
		t.Errorf("cleanup job (no payload) result %s", job.Result)
	}
	job, err = e.client.Enqueue(ctx, workflow.JobCleanup, json.RawMessage(`{"days":-3}`))
	if err != nil {
		t.Fatal(err)
	}
	job = e.waitJob(job.ID, queue.StateDead)
	if len(job.Errors) != 1 || !strings.Contains(job.Errors[0].Error, "negative") {
		t.Errorf("negative days: %+v", job.Errors)
	}
}

func TestWeeklyReport(t *testing.T) {
	t.Parallel()
	h := newHook(t, func(*http.Request, int64) int { return http.StatusInternalServerError })
	e := newEnv(t, withTypes(
		delayType("quick", 5*time.Millisecond),
		workflow.Type{Name: "broken", Steps: []workflow.StepSpec{{Kind: workflow.KindHTTP, URL: h.srv.URL}}},
	))
	ctx := t.Context()
	if _, err := e.engine.Report(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Report before any = %v", err)
	}
	// Ten days ago: one completed workflow, outside the report.
	e.clock.Set(-10 * 24 * time.Hour)
	acc := e.submit("quick")
	if _, err := e.engine.ExecuteWorkflow(ctx, acc.Workflow.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(0)
	var durations time.Duration
	for range 3 {
		acc := e.submit("quick")
		if _, err := e.engine.ExecuteWorkflow(ctx, acc.Workflow.ID); err != nil {
			t.Fatal(err)
		}
		w, _ := e.store.GetWorkflow(ctx, acc.Workflow.ID)
		durations += w.Metrics[0].Duration
	}
	failed := e.submit("broken")
	if _, err := e.engine.ExecuteWorkflow(ctx, failed.Workflow.ID); err == nil {
		t.Fatal("broken workflow did not fail")
	}
	// Queued (in the outbox: the worker started below must not run it).
	if _, err := e.engineWith(func(c *workflow.Config) { c.Client = nil }).Submit(ctx, seedRequest("quick")); err != nil {
		t.Fatal(err)
	}
	req := seedRequest("quick")
	req.Inputs.HourlyWage = 50 // 66.67 a week
	big, err := e.engine.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.ExecuteWorkflow(ctx, big.Workflow.ID); err != nil {
		t.Fatal(err)
	}
	w, _ := e.store.GetWorkflow(ctx, big.Workflow.ID)
	durations += w.Metrics[0].Duration

	// Through the queue, as the scheduler runs it.
	e.startWorker(nil)
	job, err := e.client.Enqueue(ctx, workflow.JobReport, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	job = e.waitJob(job.ID, queue.StateCompleted)
	var view workflow.ReportView
	if err := json.Unmarshal(job.Result, &view); err != nil {
		t.Fatalf("report result %s: %v", job.Result, err)
	}
	if view.Total != 6 || view.Completed != 4 || view.Failed != 1 || view.Canceled != 0 {
		t.Errorf("report counts %+v: want total 6, completed 4, failed 1", view)
	}
	if view.CompletionRate < 0.666 || view.CompletionRate > 0.667 {
		t.Errorf("completion rate %v, want 4/6", view.CompletionRate)
	}
	if d := view.TotalSavings - (3*33.33 + 66.67); d > 1e-9 || d < -1e-9 {
		t.Errorf("total savings %v, want %v", view.TotalSavings, 3*33.33+66.67)
	}
	avg := durations / 4
	if got := time.Duration(view.AvgDurationMS * float64(time.Millisecond)); got < avg-time.Millisecond || got > avg+time.Millisecond {
		t.Errorf("average duration %v, want %v", got, avg)
	}
	if to := view.To.Sub(view.From); to != 7*24*time.Hour {
		t.Errorf("period %s – %s", view.From, view.To)
	}
	stored, err := e.engine.Report(ctx, "")
	if err != nil || stored.Week != view.Week || stored.Summary.Total != 6 {
		t.Errorf("latest report %+v, %v", stored, err)
	}
	if byWeek, err := e.engine.Report(ctx, view.Week); err != nil || byWeek.Summary.Completed != 4 {
		t.Errorf("Report(%s) = %+v, %v", view.Week, byWeek, err)
	}
	if _, err := e.engine.Report(ctx, "last week"); !isInputError(err, "week") {
		t.Errorf("Report(bad week) = %v", err)
	}
	direct, err := e.engine.GenerateWeeklyReport(ctx)
	if err != nil || direct.Summary.Total != 6 || direct.Week != view.Week {
		t.Errorf("GenerateWeeklyReport = %+v, %v", direct, err)
	}
}

func TestRelayEnqueuesWhatTheQueueRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTypes(delayType("quick", time.Millisecond)))
	ctx := t.Context()
	// A serve process whose queue is down: its broker is closed.
	down := openBroker(t, e.dir+"/down.db")
	if err := down.Close(); err != nil {
		t.Fatal(err)
	}
	offline := e.engineWith(func(c *workflow.Config) { c.Client = queue.NewClient(down) })
	var ids []string
	for range 3 {
		acc, err := offline.Submit(ctx, seedRequest("quick"))
		if err != nil {
			t.Fatalf("Submit with the queue down = %v, want accepted", err)
		}
		if acc.Enqueued || acc.Workflow.Status != store.StatusQueued || acc.JobID != acc.Workflow.ID {
			t.Fatalf("accepted %+v", acc)
		}
		ids = append(ids, acc.Workflow.ID)
	}
	pending, err := e.store.PendingEnqueue(ctx, 10)
	if err != nil || len(pending) != 3 {
		t.Fatalf("outbox holds %d (%v), want 3", len(pending), err)
	}
	// A racing relay already enqueued the first one: the relay adopts that job.
	if _, err := e.client.Enqueue(ctx, workflow.JobExecute, workflow.ExecutePayload{WorkflowID: ids[0]},
		queue.WithID(ids[0]), queue.OnQueue(workflow.DefaultQueue)); err != nil {
		t.Fatal(err)
	}
	// The offline process's relay keeps failing, and stops with its context.
	rctx, stop := contextWithCancel(t)
	done := make(chan struct{})
	go func() { defer close(done); offline.RunRelay(rctx) }()

	// Another process, whose queue works, relays them (adopting the job of the first) at
	// its first sweep after their Submit's EnqueueTimeout: a sweep leaves rows younger than
	// that to the Submit still enqueuing them.
	other := e.engineWith(func(c *workflow.Config) { c.RelaySweep, c.EnqueueTimeout = 50*time.Millisecond, time.Second })
	relayCtx, stopRelay := contextWithCancel(t)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); other.RunRelay(relayCtx) }()
	if !poll(t, func() bool {
		p, err := e.store.PendingEnqueue(ctx, 10)
		return err == nil && len(p) == 0
	}) {
		t.Fatal("the relay did not empty the outbox")
	}
	e.startWorker(nil)
	for _, id := range ids {
		w := e.waitStatus(id, store.StatusCompleted)
		if w.JobID != id || w.Attempts != 1 {
			t.Errorf("workflow %s: job %q, attempts %d", id, w.JobID, w.Attempts)
		}
		e.waitJob(id, queue.StateCompleted)
	}
	// Woken after an offline submit, it relays at once.
	acc, err := offline.Submit(ctx, seedRequest("quick"))
	if err != nil || acc.Enqueued {
		t.Fatalf("Submit = %+v, %v", acc, err)
	}
	other.Wake()
	e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
	e.waitJob(acc.JobID, queue.StateCompleted)
	if n, err := e.engine.RelayOnce(ctx); err != nil || n != 0 {
		t.Errorf("RelayOnce on an empty outbox = %d, %v", n, err)
	}
	stop()
	<-done
	stopRelay()
	<-relayDone
	stats, err := e.client.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stats {
		if q.Name == workflow.DefaultQueue && q.Completed != 4 {
			t.Errorf("queue %s has %d completed jobs, want 4 (one per workflow)", q.Name, q.Completed)
		}
	}
}

// TestSubmitLogsAccepted checks that a workflow accepted outside an HTTP request (a program
// embedding the engine) is logged on a line of its own, with its id, type, job and savings.
// (Through the API it joins the request's line instead: cmd/dominion's
// TestSeparateWorkerRunsWorkflows.)
func TestSubmitLogsAccepted(t *testing.T) {
	t.Parallel()
	var buf testenv.LogBuffer
	e := newEnv(t, withConfig(func(c *workflow.Config) { c.Logger = slog.New(slog.NewTextHandler(&buf, nil)) }))
	acc := e.submit("customer_followup")
	want := `msg="workflow accepted" component=workflow workflow_id=` + acc.Workflow.ID + ` type=customer_followup job_id=` + acc.JobID + ` weekly_savings=33.33`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("log has no line %q:\n%s", want, buf.String())
	}
}
