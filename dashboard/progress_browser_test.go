package dashboard_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// testJobProgressLive: a running job's page shows the progress its handler reports, each new
// report in place as it comes (the page is not reloaded), and the page follows the job to
// completed.
func testJobProgressLive(t *testing.T, b *browser) {
	e := newEnv(t, func(c *dashboard.Config) { c.Interval = time.Hour }) // only events refresh the page
	step := make(chan struct{})
	e.startWorkerCfg(queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "default", Weight: 1}}, ProgressInterval: time.Millisecond},
		func(w *queue.Worker) {
			w.HandleFunc("report", func(ctx context.Context, j *queue.Job) (any, error) {
				for _, p := range []struct {
					pct int
					msg string
				}{{20, "fetching <b>rows</b>"}, {70, "sending"}} {
					if err := queue.ReportProgress(ctx, p.pct, p.msg); err != nil {
						return nil, err
					}
					<-step
				}
				return nil, nil
			})
		})
	j := e.enqueue("report", nil)
	testenv.Until(t, 15*time.Second, "the first progress stored", func() bool {
		got, err := e.client.Get(t.Context(), j.ID)
		return err == nil && got.Progress != nil
	})
	tb := b.tab(t)
	tb.do("open the running job", chromedp.Navigate(e.base+"/jobs/"+j.ID))
	tb.waitVisible(`[data-test=job-state].state-active`, 10*time.Second)
	waitShown(t, tb, "[data-test=job-progress]", "20% · fetching <b>rows</b>", 15*time.Second)
	evalIn[bool](tb, `window.notReloaded = true`)
	step <- struct{}{}
	waitShown(t, tb, "[data-test=job-progress]", "70% · sending", 15*time.Second)
	if !evalIn[bool](tb, `window.notReloaded === true`) {
		t.Fatal("the page was reloaded to show the progress")
	}
	if got := evalIn[float64](tb, `document.querySelector("[data-test=job-progress] progress").value`); got != 70 {
		t.Fatalf("progress bar at %v, want 70", got)
	}
	step <- struct{}{}
	tb.waitVisible(`[data-test=job-state].state-completed`, 15*time.Second)
	if got := tb.text("[data-test=job-progress]"); got != "70% · sending" {
		t.Fatalf("completed job's page shows progress %q", got)
	}
}
