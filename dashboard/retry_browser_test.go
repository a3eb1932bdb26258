package dashboard_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// testBulkRetryOfWorkflowJobs: "Retry all" on a queue's dead jobs retries the workflow of a
// dead execute_workflow job (it runs again under a new job), as the job's own Retry, `jobs
// retry` and the API do, and sends the plain dead job back to pending; that job's timeline
// then shows the retry.
func testBulkRetryOfWorkflowJobs(t *testing.T, b *browser) {
	ctx := context.Background()
	st := openStore(t)
	types := workflow.NewRegistry()
	// An email step with no SMTP server fails for good: the workflow fails, its job goes dead.
	if err := types.Add(workflow.Type{Name: "mail_nobody", Steps: []workflow.StepSpec{
		{Name: "mail", Kind: workflow.KindEmail, To: []string{"nobody@example.com"}, Subject: "hi", Body: "hi"},
	}}); err != nil {
		t.Fatal(err)
	}
	broker := openBroker(t)
	engine := workflow.NewEngine(workflow.Config{Store: st, Client: queue.NewClient(broker), Types: types, Logger: quiet, MaxRetries: -1})
	e := newEnvWith(t, broker, func(c *dashboard.Config) { c.Workflows = engine })
	var mu sync.Mutex
	failed := map[string]bool{}
	e.startWorker([]string{workflow.DefaultQueue}, func(w *queue.Worker) {
		engine.Register(w)
		w.HandleFunc("flaky", func(ctx context.Context, j *queue.Job) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			if !failed[j.ID] {
				failed[j.ID] = true
				return nil, queue.NoRetry(errors.New("upstream said 503"))
			}
			return nil, nil
		})
	})
	acc, err := engine.Submit(ctx, workflow.Request{AgentID: "a", Mode: workflow.ModeExecute, Type: "mail_nobody"})
	if err != nil {
		t.Fatal(err)
	}
	wid := acc.Workflow.ID
	plain := e.enqueue("flaky", nil, queue.OnQueue(workflow.DefaultQueue))
	e.waitState(acc.JobID, queue.StateDead)
	e.waitState(plain.ID, queue.StateDead)

	tb := b.tab(t)
	tb.do("open the dead jobs", chromedp.Navigate(e.base+"/jobs?queue=workflows&state=dead"))
	tb.do("retry all", chromedp.Click(chromedp.CSS(`button[data-test=retry-all]`)))
	tb.waitVisible(`[data-test=confirm-yes]`, 5*time.Second)
	tb.do("confirm", chromedp.Click(chromedp.CSS(`[data-test=confirm-yes]`)))
	tb.waitVisible(`[data-test=flash]`, 15*time.Second)
	if msg := tb.text("[data-test=flash]"); !strings.Contains(msg, "1 job retried.") || !strings.Contains(msg, "1 workflow of workflow jobs retried") {
		t.Errorf("flash after Retry all: %q", msg)
	}
	e.waitState(plain.ID, queue.StateCompleted)
	e.waitState(wid+"-r1", queue.StateDead) // the workflow ran again, under a new job, and failed again
	if w, err := engine.Get(ctx, wid); err != nil || w.Attempts != 2 || w.Status != store.StatusFailed {
		t.Errorf("workflow after Retry all: %+v, %v; want it run again (2 attempts)", w, err)
	}
	if s := e.jobState(acc.JobID); s != queue.StateDead {
		t.Errorf("the workflow's old job is %s, want it left dead", s)
	}

	tb.do("open the retried job", chromedp.Navigate(e.base+"/jobs/"+plain.ID))
	tb.waitVisible(`[data-test=job-state].state-completed`, 10*time.Second)
	steps := evalIn[[]string](tb, `Array.from(document.querySelectorAll('.timeline .badge')).map(b => b.textContent)`)
	if strings.Join(steps, " ") != "enqueued failed retried active completed" {
		t.Errorf("timeline of the retried job: %v, want enqueued failed retried active completed", steps)
	}
}
