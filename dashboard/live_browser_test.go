package dashboard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// testLivePagesFollowEvents: the overview, the queues page and a queue's jobs page show the
// counts of jobs that run while they are open, without a reload and with no periodic refresh
// (Interval is an hour): the job events drive them. A job run on an idle dashboard shows
// on the overview within a second or so. The statistics are read at most a few times a
// second however many jobs run.
func testLivePagesFollowEvents(t *testing.T, b *browser, newEnv func(testing.TB, func(*dashboard.Config)) *env) {
	e := newEnv(t, func(c *dashboard.Config) { c.Interval = time.Hour })
	e.enqueue("work", nil, queue.OnQueue("mail")) // the queue exists when the pages open
	pages := []struct{ path, sel string }{
		{"/", "[data-test=total-completed]"},
		{"/queues", `[data-live="queue.mail.completed"]`},
		{"/jobs?queue=mail&state=pending", "[data-test=tab-completed] .count"},
	}
	tabs := make([]*tab, len(pages))
	for i, p := range pages {
		tabs[i] = b.tab(t)
		tabs[i].do("open "+p.path, chromedp.Navigate(e.base+p.path))
		tabs[i].waitVisible(`#live[data-state=live]`, 10*time.Second)
		evalIn[bool](tabs[i], `window.__sameDocument = true`)
		if got := tabs[i].text(p.sel); got != "0" {
			t.Fatalf("%s shows %s completed before any job ran", p.path, got)
		}
	}
	readsBefore, start := e.src.queuesCalls.Load(), time.Now()
	e.startWorker([]string{"mail"}, func(w *queue.Worker) {
		w.HandleFunc("work", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	})
	const n = 100
	reqs := make([]queue.Request, n)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "work", Options: []queue.Option{queue.OnQueue("mail")}}
	}
	if _, _, err := e.client.EnqueueMany(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(n + 1)
	for i, p := range pages {
		waitShown(t, tabs[i], p.sel, want, 30*time.Second)
	}
	if got := tabs[2].text("[data-test=tab-pending] .count"); got != "0" {
		t.Errorf("the jobs page shows %s pending once all ran", got)
	}
	reads, took := e.src.queuesCalls.Load()-readsBefore, time.Since(start)
	if limit := int64(took/(250*time.Millisecond)) + 5; reads > limit {
		t.Errorf("%d reads of the queue statistics in %s while %d jobs ran: want at most %d (four a second)", reads, took, n, limit)
	}
	t.Logf("%d jobs: the three pages showed them all within %s, with %d reads of the statistics", n, took.Round(time.Millisecond), reads)

	// One job on an idle dashboard: shown at once, not at the next periodic refresh.
	start = time.Now()
	e.enqueue("work", nil, queue.OnQueue("mail"))
	waitShown(t, tabs[0], pages[0].sel, fmt.Sprint(n+2), 5*time.Second)
	t.Logf("one more job: on the overview %s after its enqueue (the periodic refresh: an hour)", time.Since(start).Round(time.Millisecond))
	for i, p := range pages {
		if !evalIn[bool](tabs[i], `window.__sameDocument === true`) {
			t.Errorf("%s was reloaded", p.path)
		}
	}
	if got := e.src.subscriptions.Load(); got != 1 {
		t.Errorf("three open pages made %d event subscriptions, want one", got)
	}
}

// waitShown waits until the element sel of tb shows want.
func waitShown(t *testing.T, tb *tab, sel, want string, within time.Duration) {
	t.Helper()
	var got string
	testenv.Until(t, within, sel+" to show "+want, func() bool {
		got = tb.text(sel)
		return got == want
	}, func() string { return fmt.Sprintf("%s shows %s, want %s", sel, got, want) })
}

// testJobsListFollowsEvents: a queue's jobs page lists the jobs enqueued while it is open, and
// drops them when they run, without a reload and with no periodic refresh; the buttons of a
// pushed row work (their CSRF token is the browser's).
func testJobsListFollowsEvents(t *testing.T, b *browser) {
	e := newEnv(t, func(c *dashboard.Config) { c.Interval = time.Hour })
	first := e.enqueue("work", nil, queue.OnQueue("mail"))
	tb := b.tab(t)
	tb.do("open the pending jobs of mail", chromedp.Navigate(e.base+"/jobs?queue=mail&state=pending"))
	tb.waitVisible(`#live[data-state=live]`, 10*time.Second)
	evalIn[bool](tb, `window.__sameDocument = true`)
	rows := func() int { return evalIn[int](tb, `document.querySelectorAll('[data-test=job-link]').length`) }
	if n := rows(); n != 1 {
		t.Fatalf("%d rows before, want 1", n)
	}
	var added []*queue.Job
	for range 2 {
		added = append(added, e.enqueue("work", nil, queue.OnQueue("mail")))
	}
	testenv.Until(t, 10*time.Second, "the new jobs listed", func() bool { return rows() == 3 },
		func() string { return fmt.Sprintf("%d rows", rows()) })
	if !evalIn[bool](tb, `window.__sameDocument === true`) {
		t.Fatal("the page was reloaded to list the new jobs")
	}
	waitShown(t, tb, `[data-test=range]`, "1–3 of 3 pending jobs, in the order they run (highest priority first)", 10*time.Second)
	// The last row's Cancel button was pushed with the list: it cancels that job.
	tb.do("cancel the last job", chromedp.Click(chromedp.CSS(`tbody tr:last-child button[data-test=row-cancel]`)))
	testenv.Until(t, 10*time.Second, "the job canceled", func() bool { return e.jobState(added[1].ID) == queue.StateCanceled })
	tb.waitVisible(`[data-test=flash]`, 10*time.Second)
	evalIn[bool](tb, `window.__sameDocument = true`)
	e.startWorker([]string{"mail"}, func(w *queue.Worker) {
		w.HandleFunc("work", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	})
	tb.waitVisible(`[data-test=no-jobs]`, 15*time.Second)
	if !evalIn[bool](tb, `window.__sameDocument === true`) {
		t.Fatal("the page was reloaded to drop the jobs that ran")
	}
	e.waitState(first.ID, queue.StateCompleted)
}
