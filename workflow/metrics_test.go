package workflow_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// TestEveryAttemptRecordsAMetric runs workflows through a real worker on both stores and
// reads their metrics as a user would (GetWorkflow, what the API and the dashboard show): one
// row per finished attempt, whatever its outcome: retried by the queue, completed, failed for
// good, or canceled while it ran.
func TestEveryAttemptRecordsAMetric(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) string{
		"sqlite": func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string {
			return testenv.StartPostgres(t).NewDatabase(t)
		},
	}
	for name, dsn := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			everyAttemptRecordsAMetric(t, dsn(t))
		})
	}
}

func everyAttemptRecordsAMetric(t *testing.T, dsn string) {
	h := newHook(t, func(r *http.Request, n int64) int {
		if r.URL.Path == "/broken" || (r.URL.Path == "/flaky" && n <= 2) {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	step := func(name string) workflow.Type {
		return workflow.Type{Name: name, Steps: []workflow.StepSpec{{Name: "call", Kind: workflow.KindHTTP, URL: h.srv.URL + "/" + name}}}
	}
	e := newEnvOn(t, dsn, withTypes(step("flaky"), step("broken"), delayType("long", time.Hour)),
		withConfig(func(c *workflow.Config) { c.MaxRetries = 2 }))
	e.startWorker(nil)

	statuses := func(w store.Workflow) []store.Status {
		var out []store.Status
		for i, m := range w.Metrics {
			if m.Attempt != i+1 || m.Duration <= 0 || m.RecordedAt.IsZero() {
				t.Errorf("workflow %s: metric %d = %+v", w.Type, i, m)
			}
			out = append(out, m.Status)
		}
		return out
	}
	want := func(w store.Workflow, want ...store.Status) {
		t.Helper()
		if got := statuses(w); !slices.Equal(got, want) {
			t.Errorf("workflow %s (%s): metrics %v, want %v", w.Type, w.Status, got, want)
		}
	}

	flaky := e.submit("flaky")
	w := e.waitStatus(flaky.Workflow.ID, store.StatusCompleted)
	want(w, store.StatusRetried, store.StatusRetried, store.StatusCompleted)
	if w.Error != "" || w.Metrics[2].Savings == 0 || w.Metrics[0].Savings != 0 {
		t.Errorf("completed after retries: error %q, metrics %+v", w.Error, w.Metrics)
	}

	broken := e.submit("broken")
	w = e.waitStatus(broken.Workflow.ID, store.StatusFailed)
	want(w, store.StatusRetried, store.StatusRetried, store.StatusFailed)
	e.waitJob(broken.JobID, queue.StateDead)

	long := e.submit("long")
	e.waitStatus(long.Workflow.ID, store.StatusRunning)
	if _, err := e.engine.Cancel(t.Context(), long.Workflow.ID); err != nil {
		t.Fatal(err)
	}
	e.waitJob(long.JobID, queue.StateCanceled)
	w = e.waitStatus(long.Workflow.ID, store.StatusCanceled)
	want(w, store.StatusCanceled)
}
