package dashboard_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// testWorkflowGraphLive: a graph workflow's page draws its steps as a graph, each box in its
// step's state (a and c done, b running, d waiting for b), and follows the workflow as it
// runs: once b is let through, the page shows every step done without being reopened.
func testWorkflowGraphLive(t *testing.T, b *browser) {
	ctx := context.Background()
	st := openStore(t)
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/b" {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	letGo := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letGo)
	step := func(name string, needs ...string) workflow.StepSpec {
		return workflow.StepSpec{Name: name, Kind: workflow.KindHTTP, URL: hook.URL + "/" + name, Needs: append([]string{}, needs...)}
	}
	types := workflow.NewRegistry()
	if err := types.Add(workflow.Type{Name: "diamond", Steps: []workflow.StepSpec{
		step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")}}); err != nil {
		t.Fatal(err)
	}
	broker := openBroker(t)
	engine := workflow.NewEngine(workflow.Config{Store: st, Client: queue.NewClient(broker), Types: types, Logger: quiet, MaxRetries: -1})
	e := newEnvWith(t, broker, func(c *dashboard.Config) { c.Workflows = engine; c.Interval = 100 * time.Millisecond })
	e.startWorker([]string{workflow.DefaultQueue}, engine.Register)
	acc, err := engine.Submit(ctx, workflow.Request{AgentID: "a", Mode: workflow.ModeExecute, Type: "diamond"})
	if err != nil {
		t.Fatal(err)
	}
	id := acc.Workflow.ID
	testenv.Until(t, 15*time.Second, "a and c done, b running", func() bool {
		w, err := engine.Get(ctx, id)
		if err != nil || len(w.Steps) != 2 {
			return false
		}
		for _, r := range w.Runs {
			if r.Name == "b" && r.State == store.StepRunning {
				return true
			}
		}
		return false
	})

	tb := b.tab(t)
	tb.do("open the workflow", chromedp.Navigate(e.base+"/workflows/"+id))
	tb.waitVisible(`svg[data-test=graph]`, 10*time.Second)
	states := func() map[string]string {
		return evalIn[map[string]string](tb, `Object.fromEntries(Array.from(document.querySelectorAll('svg[data-test=graph] g.node')).map(g => [g.dataset.step, g.dataset.state]))`)
	}
	want := map[string]string{"a": "done", "b": "running", "c": "done", "d": "waiting"}
	if got := states(); !maps.Equal(got, want) {
		t.Fatalf("graph while b runs: %v, want %v", got, want)
	}
	if n := evalIn[int](tb, `document.querySelectorAll('svg[data-test=graph] path.edge').length`); n != 4 {
		t.Errorf("the graph has %d arrows, want 4 (a→b, a→c, b→d, c→d)", n)
	}
	// Boxes of one column are side by side vertically: b and c in the second column.
	bx := evalIn[float64](tb, `document.querySelector('g.node[data-step=b] rect').x.baseVal.value`)
	cx := evalIn[float64](tb, `document.querySelector('g.node[data-step=c] rect').x.baseVal.value`)
	ax := evalIn[float64](tb, `document.querySelector('g.node[data-step=a] rect').x.baseVal.value`)
	if bx != cx || bx <= ax {
		t.Errorf("columns: a at x=%v, b at %v, c at %v; want b and c in one column right of a", ax, bx, cx)
	}
	tb.screenshot("dashboard-workflow-graph")

	letGo()
	done := map[string]string{"a": "done", "b": "done", "c": "done", "d": "done"}
	var got map[string]string
	testenv.Until(t, 20*time.Second, "the page follows the workflow to its end", func() bool {
		got = states()
		return maps.Equal(got, done) && tb.text("[data-test=workflow-status]") == "completed"
	}, func() string { return fmt.Sprint("graph shown: ", got) })
}
