package dashboard_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/queue"
)

// testBatchPageLive: an open batch's page shows its counts change in place as its jobs finish
// (the page is not reloaded), and reloads itself to say sealed, then finished, with its
// callback's link, as its jobs' events arrive.
func testBatchPageLive(t *testing.T, b *browser) {
	e := newEnv(t, func(c *dashboard.Config) { c.Interval = time.Hour }) // only events refresh the page
	ctx := context.Background()
	id, err := e.client.OpenBatch(ctx, queue.BatchID("live-batch"), queue.OnComplete("report", nil))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.enqueue("step", nil, queue.InBatch(id))
	}
	release := make(chan struct{}, 3)
	e.startWorker([]string{"default"}, func(w *queue.Worker) {
		w.HandleFunc("step", func(ctx context.Context, _ *queue.Job) (any, error) {
			select {
			case <-release:
				return nil, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		w.HandleFunc("report", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	})
	tb := b.tab(t)
	tb.do("open the batch", chromedp.Navigate(e.base+"/batches/"+id))
	tb.waitVisible(`[data-test=batch-state]`, 10*time.Second)
	if got := tb.text("[data-test=batch-state]"); got != "open" {
		t.Fatalf("batch state %q, want open", got)
	}
	evalIn[bool](tb, `window.notReloaded = true`)
	release <- struct{}{}
	waitShown(t, tb, "[data-test=batch-completed]", "1", 15*time.Second)
	waitShown(t, tb, "[data-test=batch-pending]", "2", 15*time.Second)
	if !evalIn[bool](tb, `window.notReloaded === true`) {
		t.Fatal("the page was reloaded to show the counts")
	}
	// Sealing is no job's event: the page says so with the next one (or the periodic refresh).
	if err := e.client.SealBatch(ctx, id); err != nil {
		t.Fatal(err)
	}
	release <- struct{}{}
	tb.waitVisible(`[data-item-state="sealed/0"]`, 15*time.Second) // reloaded
	waitShown(t, tb, "[data-test=batch-completed]", "2", 15*time.Second)
	release <- struct{}{}
	tb.waitVisible(`[data-item-state="finished/0"]`, 15*time.Second)
	if got := tb.text("[data-test=batch-completed]"); got != "3" {
		t.Fatalf("finished batch shows %s completed, want 3", got)
	}
	tb.waitVisible(`[data-test=on-complete]`, 5*time.Second)
}
