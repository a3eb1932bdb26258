package service_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestGraphWorkflowRuns: GET /api/workflows/{id} of a graph workflow lists, besides its
// finished steps, the released step that runs (runs: state, tries), in the documented shape
// (the client checks every answer against docs/openapi.json); once it completes, runs is
// left out.
func TestGraphWorkflowRuns(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	letGo := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letGo)
	s := start(t, backend{name: "embedded"}, withTypes(t, fmt.Sprintf(`workflows:
  - name: fan
    steps:
      - {name: first, kind: delay, duration: 1ms, needs: []}
      - {name: held, kind: http, url: "%s/held", needs: [first], retry: {attempts: 2}}
`, hook.URL)))
	id := s.submit("agent-graph", "fan").WorkflowID
	type run struct {
		Name, State    string
		Attempt, Tries int
	}
	type view struct {
		Status string
		Steps  []struct{ Name string }
		Runs   []run
	}
	got := waitAs(s, "/api/workflows/"+id, "held running", 15*time.Second, func(v view) (bool, string) {
		// first runs (1 ms) before held does: wait for held's run, not any.
		return len(v.Runs) == 1 && v.Runs[0].Name == "held" && v.Runs[0].State == "running", fmt.Sprintf("%+v", v)
	})
	if want := (run{Name: "held", State: "running", Attempt: 1, Tries: 1}); got.Runs[0] != want || len(got.Steps) != 1 || got.Steps[0].Name != "first" {
		t.Errorf("while held runs: %+v, want steps [first] and runs [%+v]", got, want)
	}
	letGo()
	done := waitAs(s, "/api/workflows/"+id, "completed", 15*time.Second, func(v view) (bool, string) {
		return v.Status == "completed", fmt.Sprintf("%+v", v)
	})
	if len(done.Runs) != 0 || len(done.Steps) != 2 {
		t.Errorf("completed: %+v, want 2 steps and no runs", done)
	}
}
