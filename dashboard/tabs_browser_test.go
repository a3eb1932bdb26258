package dashboard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/queue"
)

// testHiddenTabsHoldNoStream: eight dashboard tabs open in one browser, each hidden when the
// next one opens, as a browser hides a tab when another comes to the front. A browser opens
// at most six HTTP/1.1 connections to one host, and a live page holds one for its stream, so
// the seventh tab would not even load if hidden tabs kept theirs. Every tab loads and goes live,
// and a tab shown again opens its stream again and shows what changed while it was hidden.
func testHiddenTabsHoldNoStream(t *testing.T, b *browser) {
	e := newEnv(t, func(c *dashboard.Config) { c.Interval = time.Hour })
	e.startWorker([]string{"mail"}, func(w *queue.Worker) {
		w.HandleFunc("work", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	})
	const n, sel = 8, "[data-test=total-completed]"
	tabs := make([]*tab, n)
	for i := range tabs {
		if i > 0 {
			setHidden(tabs[i-1], true)
			tabs[i-1].waitVisible(`#live[data-state=paused]`, 5*time.Second)
		}
		tabs[i] = b.tab(t)
		tabs[i].do(fmt.Sprintf("open tab %d", i+1), chromedp.Navigate(e.base+"/"))
		tabs[i].waitVisible(`#live[data-state=live]`, 10*time.Second)
	}
	e.enqueue("work", nil, queue.OnQueue("mail"))
	waitShown(t, tabs[n-1], sel, "1", 10*time.Second)

	setHidden(tabs[n-1], true)
	e.enqueue("work", nil, queue.OnQueue("mail"))
	setHidden(tabs[2], false)
	tabs[2].waitVisible(`#live[data-state=live]`, 10*time.Second)
	waitShown(t, tabs[2], sel, "2", 10*time.Second)
}

// setHidden makes tab tb's page see itself hidden or shown, as a browser's tab switch does:
// document.visibilityState changes and a visibilitychange event fires. (Headless Chromium
// shows every tab, so the test tells the page.)
func setHidden(tb *tab, hidden bool) {
	state := "visible"
	if hidden {
		state = "hidden"
	}
	evalIn[bool](tb, fmt.Sprintf(`Object.defineProperty(document, "visibilityState", {configurable: true, get: () => %q});
document.dispatchEvent(new Event("visibilitychange")); true`, state))
}
