package service_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestEveryAttemptInTheAPI: a workflow whose webhook fails once is retried by the queue and
// completes; GET /api/workflows/{id} shows a metric for each attempt (retried, completed), the
// last attempt's duration and the time from acceptance to finish, which counts the retry's
// backoff too; the list shows the latter. Every answer is checked against docs/openapi.json.
func TestEveryAttemptInTheAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		var calls atomic.Int64
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if calls.Add(1) == 1 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(hook.Close)
		types := fmt.Sprintf("workflows:\n  - name: flaky\n    steps:\n      - name: call\n        kind: http\n        url: %s/\n"+
			"  - name: slow\n    steps:\n      - name: wait\n        kind: delay\n        duration: 1h\n", hook.URL)
		s := start(t, b, withTypes(t, types), withRetries(2))

		acc := s.submit("agent-a", "flaky")
		w := s.waitStatus(acc.WorkflowID, "completed", 60*time.Second)
		if len(w.Metrics) != 2 || w.Metrics[0].Status != "retried" || w.Metrics[1].Status != "completed" ||
			w.Metrics[0].Attempt != 1 || w.Metrics[1].Attempt != 2 || w.Metrics[0].Savings != 0 || w.Metrics[1].Savings != 33.33 {
			t.Fatalf("metrics %+v, want attempt 1 retried, attempt 2 completed", w.Metrics)
		}
		if w.LastAttemptDurationMS == nil || *w.LastAttemptDurationMS != w.Metrics[1].DurationMS {
			t.Errorf("last_attempt_duration_ms %v, want the last metric's %v", w.LastAttemptDurationMS, w.Metrics[1].DurationMS)
		}
		total := float64(w.FinishedAt.Sub(w.CreatedAt).Microseconds()) / 1000
		if w.TotalDurationMS == nil || *w.TotalDurationMS != total || total < w.Metrics[0].DurationMS+w.Metrics[1].DurationMS {
			t.Errorf("total_duration_ms %v, want %v (created %s, finished %s; attempts %v ms and %v ms)",
				w.TotalDurationMS, total, w.CreatedAt, w.FinishedAt, w.Metrics[0].DurationMS, w.Metrics[1].DurationMS)
		}
		list := s.listAll("agent=agent-a")
		if len(list) != 1 || list[0].TotalDurationMS == nil || *list[0].TotalDurationMS != total || list[0].LastAttemptDurationMS != nil {
			t.Errorf("list entry: %+v, want total_duration_ms %v and no last_attempt_duration_ms (no metrics in lists)", list, total)
		}
		// Running, no attempt finished: neither duration.
		if r := s.waitStatus(s.submit("agent-b", "slow").WorkflowID, "running", 30*time.Second); r.TotalDurationMS != nil || r.LastAttemptDurationMS != nil {
			t.Errorf("running workflow with durations: %+v", r)
		}
		// A preview without a type answers as the document says (no workflow_type).
		s.call("POST", "/api/chat", `{"agent_id":"a","mode":"preview","context":{"calculator_inputs":`+
			`{"tasks_per_week":20,"time_per_task_minutes":5,"hourly_wage":25,"automation_percent":80}}}`, http.StatusOK, nil)
	})
}
