package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/openapitest"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
	"github.com/codex-dominion/dominion/store"
)

// openQueue opens a second broker on the service's queue (the same SQLite file or Redis), as
// `dominion jobs` would, for the tests to look at the jobs or enqueue maintenance jobs.
func (s *server) openQueue() *queue.Client {
	s.t.Helper()
	ctx := context.Background()
	var (
		b   queue.Broker
		err error
	)
	if s.cfg.RedisURL != "" {
		b, err = redisbroker.Open(ctx, s.cfg.RedisURL, redisbroker.Options{})
	} else {
		b, err = sqlitebroker.Open(ctx, filepath.Join(s.cfg.DataDir, "queue.db"), sqlitebroker.Options{})
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { b.Close() })
	return queue.NewClient(b)
}

// jobCount returns how many jobs the queue has ever held (in any state).
func (s *server) jobCount() int64 {
	s.t.Helper()
	qs, err := s.openQueue().Queues(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	var n int64
	for _, q := range qs {
		for _, st := range queue.States {
			n += q.Count(st)
		}
	}
	return n
}

// The seed's example request, sent as written, runs to completed with its metric stored, and
// the savings are the documented formula's $33.33/week.
func TestSeedRequestCompletes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		var a accepted
		s.call("POST", "/api/chat", seedBody, http.StatusAccepted, &a)
		switch {
		case a.WorkflowID == "":
			t.Fatalf("no workflow_id in %+v", a)
		case a.JobID != a.WorkflowID:
			t.Errorf("job_id %q, want the workflow id %q", a.JobID, a.WorkflowID)
		case a.Status != "queued":
			t.Errorf("status %q, want queued", a.Status)
		case a.StatusURL != "/api/workflows/"+a.WorkflowID:
			t.Errorf("status_url %q", a.StatusURL)
		case !a.Enqueued:
			t.Errorf("enqueued false with the queue up")
		}
		want := savings{WeeklyHoursSaved: 1.33, WeeklySavings: 33.33, MonthlySavings: 144.44, YearlySavings: 1733.33}
		if a.Savings != want {
			t.Errorf("savings %+v, want %+v", a.Savings, want)
		}

		w := s.waitStatus(a.WorkflowID, "completed", 30*time.Second)
		if w.AgentID != "agent_jermaine_super_action" || w.Type != "customer_followup" {
			t.Errorf("agent %q type %q", w.AgentID, w.Type)
		}
		if w.Attempts != 1 || w.StepsDone != w.TotalSteps || w.TotalSteps < 1 {
			t.Errorf("attempts %d, steps %d/%d", w.Attempts, w.StepsDone, w.TotalSteps)
		}
		if w.Savings != want {
			t.Errorf("stored savings %+v, want %+v (as in the 202 answer)", w.Savings, want)
		}
		if len(w.Metrics) != 1 {
			t.Fatalf("metrics %+v, want one", w.Metrics)
		}
		m := w.Metrics[0]
		if m.Status != "completed" || m.Savings != 33.33 || m.Attempt != 1 || m.DurationMS < 1900 {
			t.Errorf("metric %+v: want completed, savings 33.33, attempt 1, about 2 s (the seed's 2 s step)", m)
		}
		if w.StartedAt.IsZero() || w.FinishedAt.Before(w.StartedAt) {
			t.Errorf("timestamps started %v finished %v", w.StartedAt, w.FinishedAt)
		}
		var ctx struct {
			WorkflowType     string             `json:"workflow_type"`
			CalculatorInputs map[string]float64 `json:"calculator_inputs"`
		}
		if err := json.Unmarshal(w.Inputs, &ctx); err != nil || ctx.WorkflowType != "customer_followup" ||
			ctx.CalculatorInputs["automation_percent"] != 80 {
			t.Errorf("stored inputs %s (%v)", w.Inputs, err)
		}
	})
}

// Preview answers the estimate and stores nothing; extra keys in context are accepted.
func TestPreviewStoresNothing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		var p struct {
			Mode    string  `json:"mode"`
			Savings savings `json:"savings"`
		}
		body := strings.Replace(seedBody, `"execute"`, `"preview"`, 1)
		s.call("POST", "/api/chat", body, http.StatusOK, &p)
		if p.Mode != "preview" || p.Savings.WeeklySavings != 33.33 || p.Savings.WeeklyHoursSaved != 1.33 {
			t.Errorf("preview %+v", p)
		}
		// Without a workflow type, preview is still a calculator.
		s.call("POST", "/api/chat", `{"agent_id":"a","mode":"preview","context":{"calculator_inputs":`+
			`{"tasks_per_week":10,"time_per_task_minutes":6,"hourly_wage":30,"automation_percent":100}}}`, http.StatusOK, &p)
		if p.Savings.WeeklySavings != 30 || p.Savings.WeeklyHoursSaved != 1 {
			t.Errorf("preview without type %+v", p)
		}
		// ... and its answer has no empty workflow_type.
		var raw map[string]any
		s.call("POST", "/api/chat", `{"agent_id":"a","mode":"preview","context":{"calculator_inputs":`+
			`{"tasks_per_week":10,"time_per_task_minutes":6,"hourly_wage":30,"automation_percent":100}}}`, http.StatusOK, &raw)
		if v, ok := raw["workflow_type"]; ok {
			t.Errorf("preview without type answers workflow_type %q", v)
		}
		if got := s.listAll(""); len(got) != 0 {
			t.Errorf("preview stored %d workflows", len(got))
		}
		if n := s.jobCount(); n != 0 {
			t.Errorf("preview enqueued %d jobs", n)
		}

		// Extra context keys (the seed's clients send some) are accepted and kept.
		body = `{"agent_id":"a","mode":"execute","context":{"workflow_type":"customer_followup","channel":"email",` +
			`"customer":{"id":42},"calculator_inputs":{"tasks_per_week":1,"time_per_task_minutes":1,"hourly_wage":1,"automation_percent":1}}}`
		var a accepted
		s.call("POST", "/api/chat", body, http.StatusAccepted, &a)
		w := s.get(a.WorkflowID)
		var stored map[string]any
		if err := json.Unmarshal(w.Inputs, &stored); err != nil || stored["channel"] != "email" {
			t.Errorf("extra context keys not kept: %s", w.Inputs)
		}
	})
}

// Every kind of bad input gets its 4xx, error code and field, and nothing is stored or
// enqueued.
func TestValidationErrors(t *testing.T) {
	t.Parallel()
	const calc = `"calculator_inputs":{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}`
	withCalc := func(field, value string) string {
		inputs := map[string]string{"tasks_per_week": "20", "time_per_task_minutes": "5", "hourly_wage": "25", "automation_percent": "80"}
		if value == "" {
			delete(inputs, field)
		} else {
			inputs[field] = value
		}
		var parts []string
		for _, k := range []string{"tasks_per_week", "time_per_task_minutes", "hourly_wage", "automation_percent", field} {
			if v, ok := inputs[k]; ok {
				parts = append(parts, fmt.Sprintf("%q:%s", k, v))
				delete(inputs, k)
			}
		}
		return `{"agent_id":"a","mode":"execute","context":{"workflow_type":"customer_followup","calculator_inputs":{` +
			strings.Join(parts, ",") + `}}}`
	}
	big := `{"agent_id":"a","mode":"execute","context":{"workflow_type":"customer_followup",` + calc +
		`,"notes":"` + strings.Repeat("x", 1<<20) + `"}}`
	cases := []struct {
		name        string
		contentType string // default application/json
		body        string
		status      int
		code        string
		field       string
		inMessage   string
	}{
		{"malformed JSON", "", `{"agent_id":`, 400, "malformed_json", "", "not valid JSON"},
		{"empty body", "", ``, 400, "malformed_json", "", "empty"},
		{"trailing data", "", `{"mode":"execute"} {}`, 400, "malformed_json", "", "after"},
		{"not UTF-8", "", "{\"agent_id\":\"\xff\"}", 400, "malformed_json", "", "UTF-8"},
		{"array body", "", `[1,2]`, 400, "invalid_type", "", "object"},
		{"text/plain", "text/plain", seedBody, 415, "unsupported_media_type", "", "application/json"},
		{"no content type", "-", seedBody, 415, "unsupported_media_type", "", "Content-Type"},
		{"form content type", "application/x-www-form-urlencoded", "agent_id=a", 415, "unsupported_media_type", "", ""},
		{"latin-1 charset", "application/json; charset=latin1", seedBody, 415, "unsupported_media_type", "", "UTF-8"},
		{"body over 1 MiB", "", big, 413, "body_too_large", "", "1048576"},
		{"mode missing", "", `{"agent_id":"a","context":{}}`, 400, "required", "mode", "execute, preview"},
		{"mode unknown", "", `{"agent_id":"a","mode":"chat","message":"hi"}`, 400, "unknown_mode", "mode", "execute, preview"},
		{"mode not a string", "", `{"agent_id":"a","mode":1}`, 400, "invalid_type", "mode", "string"},
		{"unknown top-level field", "", `{"agent_id":"a","mode":"execute","extra":1,"context":{}}`, 400, "unknown_field", "extra", "agent_id, mode, context"},
		{"agent_id missing", "", `{"mode":"execute","context":{"workflow_type":"customer_followup",` + calc + `}}`, 400, "required", "agent_id", ""},
		{"agent_id blank", "", `{"agent_id":"  ","mode":"execute","context":{"workflow_type":"customer_followup",` + calc + `}}`, 400, "required", "agent_id", ""},
		{"agent_id not a string", "", `{"agent_id":7,"mode":"execute","context":{}}`, 400, "invalid_type", "agent_id", "string"},
		{"agent_id control chars", "", `{"agent_id":"a\u0007b","mode":"execute","context":{"workflow_type":"customer_followup",` + calc + `}}`, 400, "invalid", "agent_id", ""},
		{"agent_id too long", "", `{"agent_id":"` + strings.Repeat("a", 300) + `","mode":"execute","context":{"workflow_type":"customer_followup",` + calc + `}}`, 400, "invalid", "agent_id", "200"},
		{"context missing", "", `{"agent_id":"a","mode":"execute"}`, 400, "required", "context", ""},
		{"context not an object", "", `{"agent_id":"a","mode":"execute","context":"x"}`, 400, "invalid_type", "context", "object"},
		{"workflow_type missing", "", `{"agent_id":"a","mode":"execute","context":{` + calc + `}}`, 400, "required", "context.workflow_type", "customer_followup"},
		{"workflow_type unknown", "", `{"agent_id":"a","mode":"execute","context":{"workflow_type":"nope",` + calc + `}}`, 400, "unknown_workflow_type", "context.workflow_type", "customer_followup"},
		{"workflow_type not a string", "", `{"agent_id":"a","mode":"execute","context":{"workflow_type":["x"],` + calc + `}}`, 400, "invalid_type", "context.workflow_type", "string"},
		{"calculator_inputs missing", "", `{"agent_id":"a","mode":"execute","context":{"workflow_type":"customer_followup"}}`, 400, "required", "context.calculator_inputs", ""},
		{"calculator_inputs not an object", "", `{"agent_id":"a","mode":"execute","context":{"workflow_type":"customer_followup","calculator_inputs":[]}}`, 400, "invalid_type", "context.calculator_inputs", "object"},
		{"unknown calculator input", "", withCalc("hourly_wag", "25"), 400, "unknown_field", "context.calculator_inputs.hourly_wag", "hourly_wage"},
		{"hourly_wage missing", "", withCalc("hourly_wage", ""), 400, "required", "context.calculator_inputs.hourly_wage", ""},
		{"hourly_wage null", "", withCalc("hourly_wage", "null"), 400, "required", "context.calculator_inputs.hourly_wage", ""},
		{"hourly_wage a string", "", withCalc("hourly_wage", `"25"`), 400, "invalid_type", "context.calculator_inputs.hourly_wage", "number"},
		{"hourly_wage a boolean", "", withCalc("hourly_wage", `true`), 400, "invalid_type", "context.calculator_inputs.hourly_wage", "number"},
		{"hourly_wage negative", "", withCalc("hourly_wage", "-1"), 400, "out_of_range", "context.calculator_inputs.hourly_wage", "negative"},
		{"tasks_per_week negative", "", withCalc("tasks_per_week", "-20"), 400, "out_of_range", "context.calculator_inputs.tasks_per_week", "negative"},
		{"time_per_task_minutes negative", "", withCalc("time_per_task_minutes", "-0.5"), 400, "out_of_range", "context.calculator_inputs.time_per_task_minutes", "negative"},
		{"automation_percent over 100", "", withCalc("automation_percent", "101"), 400, "out_of_range", "context.calculator_inputs.automation_percent", "0 and 100"},
		{"automation_percent under 0", "", withCalc("automation_percent", "-1"), 400, "out_of_range", "context.calculator_inputs.automation_percent", "negative"},
		{"absurd tasks_per_week", "", withCalc("tasks_per_week", "1e12"), 400, "out_of_range", "context.calculator_inputs.tasks_per_week", "at most"},
		{"absurd hourly_wage", "", withCalc("hourly_wage", "99999999999"), 400, "out_of_range", "context.calculator_inputs.hourly_wage", "at most"},
		{"number beyond float64", "", withCalc("tasks_per_week", "1e400"), 400, "out_of_range", "context.calculator_inputs.tasks_per_week", "too large"},
		{"preview validates too", "", strings.Replace(withCalc("automation_percent", "150"), `"execute"`, `"preview"`, 1), 400, "out_of_range", "context.calculator_inputs.automation_percent", ""},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b)
		for _, c := range cases {
			ct := c.contentType
			switch ct {
			case "":
				ct = "application/json"
			case "-":
				ct = ""
			}
			req, err := http.NewRequest("POST", s.base+"/api/chat", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var e errorResp
			decErr := json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if decErr != nil {
				t.Errorf("%s: decode error body: %v", c.name, decErr)
				continue
			}
			if resp.StatusCode != c.status || e.Error.Code != c.code || e.Error.Field != c.field ||
				!strings.Contains(e.Error.Message, c.inMessage) {
				t.Errorf("%s: got %d %+v; want %d code %q field %q message containing %q",
					c.name, resp.StatusCode, e.Error, c.status, c.code, c.field, c.inMessage)
			}
			if e.Error.Message == "" {
				t.Errorf("%s: empty message", c.name)
			}
		}
		if got := s.listAll(""); len(got) != 0 {
			t.Errorf("bad requests stored %d workflows: %+v", len(got), got)
		}
		if n := s.jobCount(); n != 0 {
			t.Errorf("bad requests enqueued %d jobs", n)
		}
	})
}

// Routes that do not exist, and wrong methods, answer JSON errors too.
func TestNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0])
	var e errorResp
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/nope", 404, "not_found"},
		{"GET", "/nope", 404, "not_found"},
		{"GET", "/api/workflows/0190f0e6-0000-7000-8000-000000000000", 404, "not_found"},
		{"POST", "/api/workflows/0190f0e6-0000-7000-8000-000000000000/cancel", 404, "not_found"},
		{"POST", "/api/workflows/0190f0e6-0000-7000-8000-000000000000/retry", 404, "not_found"},
		{"GET", "/api/chat", 405, "method_not_allowed"},
		{"DELETE", "/api/workflows", 405, "method_not_allowed"},
		{"GET", "/api/workflows/x/cancel", 405, "method_not_allowed"},
		{"POST", "/healthz", 405, "method_not_allowed"},
		{"GET", "/api/workflows?bogus=1", 400, "invalid_parameter"},
		{"GET", "/api/workflows?limit=0", 400, "invalid_parameter"},
		{"GET", "/api/workflows?limit=abc", 400, "invalid_parameter"},
		{"GET", "/api/workflows?status=sleeping", 400, "invalid"},
		{"GET", "/api/workflows?cursor=garbage", 400, "invalid_parameter"},
	} {
		code, body := s.do(c.method, c.path, "", nil)
		if err := json.Unmarshal(body, &e); err != nil || code != c.status || e.Error.Code != c.code {
			t.Errorf("%s %s: %d %s; want %d %s", c.method, c.path, code, body, c.status, c.code)
		}
	}
}

// With a token, every /api/ route needs it; health routes stay open. Without one, all is open.
func TestAuth(t *testing.T) {
	t.Parallel()
	t.Run("token set", func(t *testing.T) {
		t.Parallel()
		const token = "s3cret-token-value"
		s := start(t, backends[0], withToken(token))
		routes := []struct{ method, path, body string }{
			{"POST", "/api/chat", seedBody},
			{"GET", "/api/workflows", ""},
			{"GET", "/api/workflows/x", ""},
			{"POST", "/api/workflows/x/cancel", ""},
			{"POST", "/api/workflows/x/retry", ""},
			{"GET", "/api/workflow-types", ""},
			{"GET", "/api/reports/weekly", ""},
			{"GET", "/api/nope", ""},
		}
		for _, r := range routes {
			for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token + "x", "Bearer"} {
				code, body := s.do(r.method, r.path, r.body, []string{"Authorization", auth})
				var e errorResp
				_ = json.Unmarshal(body, &e)
				if code != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
					t.Errorf("%s %s with %q: %d %s, want 401 unauthorized", r.method, r.path, auth, code, body)
				}
				if strings.Contains(string(body), token) {
					t.Errorf("the token is echoed: %s", body)
				}
			}
		}
		// With the token (s.do sends it).
		var a accepted
		s.call("POST", "/api/chat", seedBody, http.StatusAccepted, &a)
		s.call("GET", "/api/workflows/"+a.WorkflowID, "", http.StatusOK, nil)
		s.call("GET", "/api/workflow-types", "", http.StatusOK, nil)
		// Health routes need nothing.
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, body := s.do("GET", p, "", []string{"Authorization", ""}); code != http.StatusOK {
				t.Errorf("GET %s without a token: %d %s", p, code, body)
			}
		}
	})
	t.Run("token unset", func(t *testing.T) {
		t.Parallel()
		s := start(t, backends[0], withoutWorker())
		s.call("POST", "/api/chat", seedBody, http.StatusAccepted, nil)
		s.call("GET", "/api/workflows", "", http.StatusOK, nil)
		s.call("GET", "/api/workflow-types", "", http.StatusOK, nil)
	})
}

// GET /api/workflows filters by status, type and agent, newest first, in pages.
func TestListFiltersAndPagination(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		// No worker: the workflows stay queued unless canceled here.
		s := start(t, b, withoutWorker(), withTypes(t, fastTypes))
		var ids []string // in submission order
		byID := map[string][2]string{}
		for i := range 12 {
			agent := fmt.Sprintf("agent_%d", i%3)
			typ := "customer_followup"
			if i%2 == 1 {
				typ = "invoice_reminder"
			}
			a := s.submit(agent, typ)
			ids = append(ids, a.WorkflowID)
			byID[a.WorkflowID] = [2]string{agent, typ}
		}
		canceled := map[string]bool{}
		for _, id := range ids[:4] {
			var st struct{ Status string }
			s.call("POST", "/api/workflows/"+id+"/cancel", "", http.StatusOK, &st)
			if st.Status != "canceled" {
				t.Fatalf("cancel %s: %+v", id, st)
			}
			canceled[id] = true
		}

		// Pages of 5: every workflow once, newest first.
		all := s.listAll("limit=5")
		var got []string
		for _, w := range all {
			got = append(got, w.ID)
		}
		want := slices.Clone(ids)
		slices.Reverse(want)
		if !slices.Equal(got, want) {
			t.Fatalf("paged list %v, want %v", got, want)
		}
		var first listResp
		s.call("GET", "/api/workflows?limit=5", "", http.StatusOK, &first)
		if len(first.Workflows) != 5 || first.NextCursor == "" || !strings.Contains(first.NextURL, "limit=5") {
			t.Errorf("first page: %d workflows, next %q %q", len(first.Workflows), first.NextCursor, first.NextURL)
		}
		if first.Workflows[0].Steps != nil || first.Workflows[0].Metrics != nil {
			t.Errorf("list entries carry steps/metrics")
		}

		check := func(query string, keep func(id string) bool) {
			t.Helper()
			var want []string
			for i := len(ids) - 1; i >= 0; i-- {
				if keep(ids[i]) {
					want = append(want, ids[i])
				}
			}
			var got []string
			for _, w := range s.listAll(query) {
				got = append(got, w.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("?%s: %v, want %v", query, got, want)
			}
		}
		check("status=canceled", func(id string) bool { return canceled[id] })
		check("status=queued&limit=3", func(id string) bool { return !canceled[id] })
		check("status=completed", func(string) bool { return false })
		check("type=invoice_reminder", func(id string) bool { return byID[id][1] == "invoice_reminder" })
		check("agent=agent_1", func(id string) bool { return byID[id][0] == "agent_1" })
		check("agent=agent_2&type=customer_followup&status=queued&limit=1", func(id string) bool {
			return byID[id] == [2]string{"agent_2", "customer_followup"} && !canceled[id]
		})
		check("agent=nobody", func(string) bool { return false })
	})
}

// Cancel stops a running workflow; retry runs a failed one again, resuming, to completion;
// both refuse workflows in the wrong status with 409.
func TestCancelAndRetry(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		var healthy atomic.Bool
		var calls atomic.Int64
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if !healthy.Load() {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(hook.Close)
		types := fastTypes + `  - name: flaky
    steps:
      - name: first
        kind: delay
        duration: 1ms
      - name: notify
        kind: http
        url: ` + hook.URL + `/hook
        timeout: 5s
`
		s := start(t, b, withTypes(t, types), withRetries(-1))

		// Cancel a running workflow.
		slow := s.submit("a", "slow")
		s.waitStatus(slow.WorkflowID, "running", 20*time.Second)
		var st struct {
			WorkflowID string `json:"workflow_id"`
			Status     string `json:"status"`
		}
		s.call("POST", "/api/workflows/"+slow.WorkflowID+"/cancel", "", http.StatusOK, &st)
		if st.Status != "canceled" || st.WorkflowID != slow.WorkflowID {
			t.Errorf("cancel: %+v", st)
		}
		if w := s.get(slow.WorkflowID); w.Status != "canceled" || w.FinishedAt.IsZero() {
			t.Errorf("after cancel: %s, finished %v", w.Status, w.FinishedAt)
		}
		code, body := s.do("POST", "/api/workflows/"+slow.WorkflowID+"/cancel", "", nil)
		var e errorResp
		_ = json.Unmarshal(body, &e)
		if code != http.StatusConflict || e.Error.Code != "conflict" || !strings.Contains(e.Error.Message, "canceled") {
			t.Errorf("second cancel: %d %s, want 409 conflict naming the status", code, body)
		}

		// A failing step fails the workflow (no queue retries configured) ...
		fl := s.submit("a", "flaky")
		w := s.waitStatus(fl.WorkflowID, "failed", 20*time.Second)
		if w.Error == "" || w.StepsDone != 1 || len(w.Metrics) != 1 || w.Metrics[0].Status != "failed" {
			t.Errorf("failed workflow: error %q, steps done %d, metrics %+v", w.Error, w.StepsDone, w.Metrics)
		}
		// ... and a retry, once the endpoint is healthy, resumes at that step and completes.
		healthy.Store(true)
		var a accepted
		s.call("POST", "/api/workflows/"+fl.WorkflowID+"/retry", "", http.StatusAccepted, &a)
		if a.WorkflowID != fl.WorkflowID || a.Status != "queued" || a.StatusURL == "" {
			t.Errorf("retry answer %+v", a)
		}
		w = s.waitStatus(fl.WorkflowID, "completed", 20*time.Second)
		if w.Attempts != 2 || len(w.Metrics) != 2 || w.Error != "" || w.StepsDone != 2 {
			t.Errorf("retried workflow: attempts %d, metrics %+v, error %q, steps %d", w.Attempts, w.Metrics, w.Error, w.StepsDone)
		}
		for _, step := range w.Steps {
			if step.Name == "first" && step.Attempt != 1 {
				t.Errorf("step %q re-ran in attempt %d: retry did not resume", step.Name, step.Attempt)
			}
		}
		if calls.Load() != 2 {
			t.Errorf("the http step ran %d times, want 2", calls.Load())
		}

		// Retrying a completed workflow, or canceling it, is a conflict.
		for _, action := range []string{"retry", "cancel"} {
			code, body = s.do("POST", "/api/workflows/"+fl.WorkflowID+"/"+action, "", nil)
			if code != http.StatusConflict {
				t.Errorf("%s of a completed workflow: %d %s", action, code, body)
			}
		}
		// The canceled one can be retried: it is queued again (and runs, slowly).
		s.call("POST", "/api/workflows/"+slow.WorkflowID+"/retry", "", http.StatusAccepted, &a)
		if a.Status != "queued" {
			t.Errorf("retry of canceled: %+v", a)
		}
		s.waitStatus(slow.WorkflowID, "running", 20*time.Second)
		s.call("POST", "/api/workflows/"+slow.WorkflowID+"/cancel", "", http.StatusOK, nil)
	})
}

// GET /api/workflow-types lists the types without their secrets.
func TestWorkflowTypes(t *testing.T) {
	t.Parallel()
	types := fastTypes + `  - name: webhook
    steps:
      - name: call
        kind: http
        url: https://user:pa55word@hooks.example.com/secret-path?token=abc
        headers:
          Authorization: Bearer hdr-secret
        secret: hmac-secret
`
	s := start(t, backends[0], withoutWorker(), withTypes(t, types))
	code, body := s.do("GET", "/api/workflow-types", "", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	for _, secret := range []string{"pa55word", "secret-path", "abc", "hdr-secret", "hmac-secret"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("workflow types show %q: %s", secret, body)
		}
	}
	var out struct {
		WorkflowTypes []struct {
			Name  string `json:"name"`
			Steps []struct {
				Name, Kind, Host string
			} `json:"steps"`
		} `json:"workflow_types"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ty := range out.WorkflowTypes {
		names = append(names, ty.Name)
		if ty.Name == "webhook" && (len(ty.Steps) != 1 || ty.Steps[0].Host != "hooks.example.com" || ty.Steps[0].Kind != "http") {
			t.Errorf("webhook type %+v", ty)
		}
	}
	if !slices.Equal(names, []string{"customer_followup", "invoice_reminder", "slow", "webhook"}) {
		t.Errorf("types %v", names)
	}
}

// GET /api/reports/weekly: 404 before any report, the latest one after generate_weekly_report,
// another week by ?week=.
func TestWeeklyReport(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, withTypes(t, fastTypes))
		var e errorResp
		code, body := s.do("GET", "/api/reports/weekly", "", nil)
		if _ = json.Unmarshal(body, &e); code != 404 || e.Error.Code != "not_found" {
			t.Errorf("no report yet: %d %s", code, body)
		}
		for _, q := range []string{"?week=2026-13", "?week=2026-W54", "?week=x"} {
			code, body = s.do("GET", "/api/reports/weekly"+q, "", nil)
			if _ = json.Unmarshal(body, &e); code != 400 || e.Error.Field != "week" {
				t.Errorf("%s: %d %s", q, code, body)
			}
		}
		a := s.submit("a", "customer_followup")
		s.waitStatus(a.WorkflowID, "completed", 20*time.Second)

		job, err := s.openQueue().Enqueue(context.Background(), "generate_weekly_report", nil)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Week           string  `json:"week"`
			Total          int64   `json:"total"`
			Completed      int64   `json:"completed"`
			CompletionRate float64 `json:"completion_rate"`
			TotalSavings   float64 `json:"total_savings"`
		}
		s.eventually("weekly report "+job.ID, 20*time.Second, func() (bool, string) {
			code, body := s.do("GET", "/api/reports/weekly", "", nil)
			if code != 200 {
				return false, fmt.Sprintf("%d %s", code, body)
			}
			return json.Unmarshal(body, &rep) == nil, string(body)
		})
		if rep.Total != 1 || rep.Completed != 1 || rep.CompletionRate != 1 || math.Abs(rep.TotalSavings-33.33) > 0.001 {
			t.Errorf("report %+v", rep)
		}
		var same struct{ Week string }
		s.call("GET", "/api/reports/weekly?week="+rep.Week, "", http.StatusOK, &same)
		if same.Week != rep.Week {
			t.Errorf("report of week %s is %s", rep.Week, same.Week)
		}
		code, body = s.do("GET", "/api/reports/weekly?week=2020-W01", "", nil)
		if code != 404 {
			t.Errorf("week without a report: %d %s", code, body)
		}
	})
}

// /readyz is 503 with the reason while Redis is down, /healthz stays 200, and readiness comes
// back with Redis.
func TestReadyzWhenRedisStops(t *testing.T) {
	t.Parallel()
	s := start(t, backends[1])
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
		Error  *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	s.call("GET", "/readyz", "", http.StatusOK, &ready)
	if ready.Status != "ready" || ready.Checks["store"] != "ok" || ready.Checks["queue"] != "ok" {
		t.Errorf("ready: %+v", ready)
	}
	s.redis.Stop()
	code, body := s.do("GET", "/readyz", "", nil)
	if err := json.Unmarshal(body, &ready); err != nil || code != http.StatusServiceUnavailable ||
		ready.Status != "not_ready" || ready.Checks["queue"] == "ok" || ready.Checks["store"] != "ok" ||
		ready.Error == nil || ready.Error.Code != "not_ready" || !strings.Contains(ready.Error.Message, "queue") {
		t.Errorf("with Redis stopped: %d %s", code, body)
	}
	s.call("GET", "/healthz", "", http.StatusOK, nil)
	if err := s.redis.Start(); err != nil {
		t.Fatal(err)
	}
	s.eventually("ready again", 20*time.Second, func() (bool, string) {
		code, body := s.do("GET", "/readyz", "", nil)
		return code == http.StatusOK, string(body)
	})
}

// FAULT: Redis is stopped while 200 workflows are posted; every one is accepted (202), and
// once Redis is back the relay enqueues them and all 200 complete.
func TestRedisDownWorkflowsAcceptedAndCompleted(t *testing.T) {
	t.Parallel()
	const n = 200
	s := start(t, backends[1], withTypes(t, fastTypes), withConcurrency(50))
	s.redis.Stop()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ids      = map[string]bool{}
		enqueued int
		next     atomic.Int64
	)
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= n {
				code, body := s.do("POST", "/api/chat", chatBody("fault", "execute", "customer_followup"), nil)
				var a accepted
				if err := json.Unmarshal(body, &a); err != nil || code != http.StatusAccepted || a.WorkflowID == "" {
					t.Errorf("with Redis down: %d %s", code, body)
					continue
				}
				mu.Lock()
				ids[a.WorkflowID] = true
				if a.Enqueued {
					enqueued++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d distinct workflows accepted, want %d", len(ids), n)
	}
	if enqueued != 0 {
		t.Errorf("%d workflows claim to be enqueued while Redis was down", enqueued)
	}
	if got := len(s.listAll("status=queued&limit=500")); got != n {
		t.Errorf("%d queued workflows stored, want %d", got, n)
	}

	if err := s.redis.Start(); err != nil {
		t.Fatal(err)
	}
	s.eventually("all workflows completed", 90*time.Second, func() (bool, string) {
		done := s.listAll("status=completed&limit=500")
		return len(done) == n, fmt.Sprintf("%d of %d completed", len(done), n)
	})
	for _, w := range s.listAll("limit=500") {
		if !ids[w.ID] || w.Status != string(store.StatusCompleted) || w.Attempts != 1 {
			t.Errorf("workflow %s: status %s, attempts %d", w.ID, w.Status, w.Attempts)
		}
	}
}

// On shutdown the API stops first, then the worker lets its running job finish: a workflow
// running when the context is canceled is completed by the time Run returns.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	types := fastTypes + `  - name: short
    steps:
      - name: wait
        kind: delay
        duration: 1s
`
	s := &server{t: t, http: &http.Client{Timeout: 10 * time.Second, Transport: openapitest.Transport(t, nil)}}
	cfg := service.Config{Config: config.Config{DataDir: t.TempDir()}, ShutdownTimeout: 20 * time.Second, Logger: testLogger(t)}
	withTypes(t, types)(&cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener, s.cfg, s.base = ln, cfg, "http://"+ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := service.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	a := s.submit("a", "short")
	s.waitStatus(a.WorkflowID, "running", 10*time.Second)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := s.http.Get(s.base + "/healthz"); err == nil {
		t.Error("the API still answers after Run returned")
	}
	st, err := store.Open(context.Background(), cfg.StoreDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := st.GetWorkflow(context.Background(), a.WorkflowID)
	if err != nil || w.Status != store.StatusCompleted {
		t.Fatalf("after shutdown: %s %v; want completed (the running job finishes)", w.Status, err)
	}
}

// serve mounts the web dashboard at /dashboard/ (and / redirects there); the API's routes and
// JSON 404s are unchanged around it.
func TestDashboardMounted(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withoutWorker())
	noRedirect := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := noRedirect.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/dashboard/" {
		t.Errorf("GET /: %d to %q, want 302 to /dashboard/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = s.http.Get(s.base + "/dashboard/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /dashboard/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if code, body := s.do("GET", "/elsewhere", "", nil); code != http.StatusNotFound {
		t.Errorf("GET /elsewhere: %d %s", code, body)
	}
}
