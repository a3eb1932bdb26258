package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// The browser tests drive Debian's Chromium, headless, against the dashboard served by
// httptest over a real embedded broker, with real workers running the jobs.
//
// With DOMINION_SCREENSHOTS=1 they also write the screenshots of docs/dashboard.md to
// docs/img/ (CI leaves the files alone).

// browser is one Chromium process shared by the subtests of a test; each subtest opens tabs.
type browser struct {
	ctx context.Context
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.Chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("lang", "en-US"),
	}
	for _, f := range testenv.ChromiumFlags {
		name, value, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if ok {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{ctx: ctx}
}

// tab is one browser tab that records every console error and uncaught exception.
type tab struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func (b *browser) tab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb := &tab{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				tb.mu.Lock()
				tb.errors = append(tb.errors, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line+1))
				tb.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, e := range tb.errors {
			t.Errorf("console error: %s", e)
		}
	})
	return tb
}

// forgive waits (up to 5 s) until a console error containing substr has been recorded, then
// drops every such error: those an action of the test caused on purpose. Chromium reports a
// console message a moment after the action that caused it, so dropping what is recorded at
// once would miss it.
func (tb *tab) forgive(substr string) {
	testenv.Poll(tb.ctx, 5*time.Second, func() bool { return tb.seen(substr) })
	tb.mu.Lock()
	defer tb.mu.Unlock()
	kept := tb.errors[:0]
	for _, e := range tb.errors {
		if !strings.Contains(e, substr) {
			kept = append(kept, e)
		}
	}
	tb.errors = kept
}

func (tb *tab) seen(substr string) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, e := range tb.errors {
		if strings.Contains(e, substr) {
			return true
		}
	}
	return false
}

// do runs actions with a deadline, failing the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func evalIn[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitVisible waits for sel to be visible, across page loads, for up to d.
func (tb *tab) waitVisible(sel string, d time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
		tb.t.Fatalf("waiting for %s on %s: %v", sel, loc, err)
	}
}

// screenshots reports whether the tests write the documentation's screenshots.
func screenshots() bool { return os.Getenv("DOMINION_SCREENSHOTS") == "1" }

// screenshot writes docs/img/<name>.png when DOMINION_SCREENSHOTS=1: the whole page, or
// only the window for a page longer than a screen or two.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	if !screenshots() {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	shot := chromedp.FullScreenshot(100)
	if evalIn[bool](tb, `document.documentElement.scrollHeight > 1.6 * window.innerHeight`) {
		shot = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "docs", "img")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func TestBrowser(t *testing.T) {
	b := startBrowser(t)

	t.Run("EveryPageLoadsWithoutConsoleErrors", func(t *testing.T) { testEveryPage(t, b) })

	t.Run("DeadJobRetriedThenCompleted", func(t *testing.T) {
		e := newEnv(t, nil)
		var mu sync.Mutex
		failed := map[string]bool{}
		e.startWorker([]string{"default"}, func(w *queue.Worker) {
			w.HandleFunc("flaky", func(ctx context.Context, j *queue.Job) (any, error) {
				mu.Lock()
				defer mu.Unlock()
				if !failed[j.ID] {
					failed[j.ID] = true
					return nil, queue.NoRetry(errors.New("upstream said 503"))
				}
				return map[string]string{"ok": "second time lucky"}, nil
			})
		})
		j := e.enqueue("flaky", map[string]int{"n": 1})
		e.waitState(j.ID, queue.StateDead)

		tb := b.tab(t)
		tb.do("open the dead job", chromedp.Navigate(e.base+"/jobs/"+j.ID))
		tb.waitVisible(`[data-test=job-state].state-dead`, 10*time.Second)
		if got := tb.text(".attempts pre"); !strings.Contains(got, "upstream said 503") {
			t.Errorf("the attempt's error is not shown: %q", got)
		}
		tb.do("retry", chromedp.Click(chromedp.CSS(`button[data-test=retry]`)))
		tb.waitVisible(`[data-test=job-state].state-completed`, 15*time.Second)
		if got := tb.text("[data-test=result]"); !strings.Contains(got, "second time lucky") {
			t.Errorf("result %q", got)
		}
		if e.jobState(j.ID) != queue.StateCompleted {
			t.Errorf("broker says %s", e.jobState(j.ID))
		}
	})

	t.Run("BulkRetryOfWorkflowJobs", func(t *testing.T) { testBulkRetryOfWorkflowJobs(t, b) })
	t.Run("OverviewShowsLastHour", func(t *testing.T) { testOverviewShowsLastHour(t, b) })
	t.Run("JobProgressLive", func(t *testing.T) { testJobProgressLive(t, b) })
	t.Run("WorkflowGraphLive", func(t *testing.T) { testWorkflowGraphLive(t, b) })
	t.Run("BatchPageLive", func(t *testing.T) { testBatchPageLive(t, b) })
	t.Run("LivePagesFollowEvents/sqlite", func(t *testing.T) { testLivePagesFollowEvents(t, b, newEnv) })
	t.Run("LivePagesFollowEvents/redis", func(t *testing.T) { testLivePagesFollowEvents(t, b, newRedisEnv) })
	t.Run("JobsListFollowsEvents", func(t *testing.T) { testJobsListFollowsEvents(t, b) })
	t.Run("HiddenTabsHoldNoStream", func(t *testing.T) { testHiddenTabsHoldNoStream(t, b) })

	t.Run("RunningJobCanceled", func(t *testing.T) {
		e := newEnv(t, nil)
		started := make(chan string, 1)
		e.startWorker([]string{"default"}, func(w *queue.Worker) {
			w.HandleFunc("block", func(ctx context.Context, j *queue.Job) (any, error) {
				started <- j.ID
				<-ctx.Done()
				return nil, context.Cause(ctx)
			})
		})
		j := e.enqueue("block", nil)
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the job did not start")
		}
		e.waitState(j.ID, queue.StateActive)
		tb := b.tab(t)
		tb.do("open the running job", chromedp.Navigate(e.base+"/jobs/"+j.ID))
		tb.waitVisible(`[data-test=job-state].state-active`, 10*time.Second)
		tb.do("cancel", chromedp.Click(chromedp.CSS(`button[data-test=cancel]`)))
		tb.waitVisible(`[data-test=confirm-yes]`, 5*time.Second)
		tb.do("confirm", chromedp.Click(chromedp.CSS(`[data-test=confirm-yes]`)))
		tb.waitVisible(`[data-test=job-state].state-canceled`, 15*time.Second)
		if e.jobState(j.ID) != queue.StateCanceled {
			t.Errorf("broker says %s", e.jobState(j.ID))
		}
	})

	t.Run("QueuePausedAndResumed", func(t *testing.T) {
		e := newEnv(t, nil)
		e.enqueue("noop", nil, queue.OnQueue("mail"))
		tb := b.tab(t)
		tb.do("open queues", chromedp.Navigate(e.base+"/queues"))
		tb.do("pause", chromedp.Click(chromedp.CSS(`button[data-test=pause-mail]`)))
		tb.waitVisible(`[data-test=queue-mail] [data-test=paused]`, 10*time.Second)
		if msg := tb.text("[data-test=flash]"); !strings.Contains(msg, "Queue mail paused") {
			t.Errorf("flash %q", msg)
		}
		if !e.paused("mail") {
			t.Fatal("the broker does not have the queue paused")
		}
		tb.do("resume", chromedp.Click(chromedp.CSS(`button[data-test=resume-mail]`)))
		tb.waitVisible(`button[data-test=pause-mail]`, 10*time.Second)
		if msg := tb.text("[data-test=flash]"); !strings.Contains(msg, "Queue mail resumed") {
			t.Errorf("flash %q", msg)
		}
		if e.paused("mail") {
			t.Fatal("the broker still has the queue paused")
		}
	})

	t.Run("LiveCounterChangesWithoutReload", func(t *testing.T) {
		e := newEnv(t, nil)
		tb := b.tab(t)
		tb.do("open overview", chromedp.Navigate(e.base+"/"))
		tb.waitVisible(`#live[data-state=live]`, 10*time.Second)
		before := tb.text(`[data-test=total-completed]`)
		evalIn[bool](tb, `window.__sameDocument = true`)
		e.startWorker([]string{"default"}, func(w *queue.Worker) {
			w.HandleFunc("work", func(ctx context.Context, j *queue.Job) (any, error) { return nil, nil })
		})
		reqs := make([]queue.Request, 300)
		for i := range reqs {
			reqs[i] = queue.Request{Type: "work"}
		}
		if _, _, err := e.client.EnqueueMany(context.Background(), reqs); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Poll[string](
			`(() => { const t = document.querySelector('[data-test=total-completed]').textContent;
			  return t !== '`+before+`' && window.__sameDocument === true && t; })()`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
		if err != nil {
			t.Fatalf("the completed counter did not change without a reload (it showed %s): %v", before, err)
		}
		t.Logf("completed counter: %s → %s without reloading", before, got)
		if got == "300" {
			t.Log("(the jobs were all done before the first sample showed them)")
		}
		// The chart has drawn the throughput.
		if n := evalIn[int](tb, `document.querySelectorAll('[data-chart=rates] path.line').length`); n == 0 {
			t.Error("the throughput chart drew no line")
		}
	})

	t.Run("LoginAndCSRFEnforced", func(t *testing.T) {
		const token = "correct horse battery staple"
		e := newEnv(t, func(c *dashboard.Config) { c.Token = token })
		e.enqueue("noop", nil)
		tb := b.tab(t)
		tb.do("open queues", chromedp.Navigate(e.base+"/queues"))
		tb.waitVisible(`[data-test=token]`, 10*time.Second)
		tb.screenshot("dashboard-login")
		tb.do("wrong token", chromedp.SendKeys(chromedp.CSS(`[data-test=token]`), "guess"),
			chromedp.Click(chromedp.CSS(`[data-test=login]`)))
		tb.waitVisible(`[data-test=login-error]`, 10*time.Second)
		tb.forgive("status of 401") // the browser logs the failed login's 401, as it should
		tb.do("right token", chromedp.SendKeys(chromedp.CSS(`[data-test=token]`), token),
			chromedp.Click(chromedp.CSS(`[data-test=login]`)))
		tb.waitVisible(`button[data-test=pause-default]`, 10*time.Second)

		// A logged-in browser's POST without the right CSRF token is refused.
		status := evalIn[int](tb, `fetch(document.body.dataset.prefix + '/queues/default/pause', {method: 'POST',
			headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=forged'}).then(r => r.status)`)
		if status != http.StatusForbidden {
			t.Errorf("POST with a forged CSRF token: status %d, want 403", status)
		}
		// So is a form another origin makes the browser post, even with the session cookie.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form id=f method=post action="%s/queues/default/pause"><input name=csrf value=guess></form>
<script>document.getElementById('f').submit()</script>`, e.base)
		}))
		defer evil.Close()
		tb.do("visit the other site", chromedp.Navigate(evil.URL))
		tb.waitVisible(`[data-test=error-heading]`, 10*time.Second)
		if e.paused("default") {
			t.Fatal("a request made by another site paused the queue")
		}
		tb.forgive("status of 403") // the browser logs the refusals above, as it should
		// The real button works.
		tb.do("back to queues", chromedp.Navigate(e.base+"/queues"))
		tb.do("pause", chromedp.Click(chromedp.CSS(`button[data-test=pause-default]`)))
		tb.waitVisible(`[data-test=queue-default] [data-test=paused]`, 10*time.Second)
		if !e.paused("default") {
			t.Fatal("the dashboard's own form did not pause the queue")
		}
		tb.do("log out", chromedp.Click(chromedp.CSS(`[data-test=logout]`)))
		tb.waitVisible(`[data-test=token]`, 10*time.Second)
	})

	t.Run("ReadOnlyShowsNoActions", func(t *testing.T) {
		e := newEnv(t, func(c *dashboard.Config) { c.ReadOnly = true })
		j := e.enqueue("noop", nil, queue.OnQueue("mail"))
		if _, err := e.client.Cancel(context.Background(), j.ID); err != nil {
			t.Fatal(err)
		}
		tb := b.tab(t)
		for _, p := range []string{"/", "/queues", "/jobs?queue=mail&state=canceled", "/jobs/" + j.ID, "/workers"} {
			tb.do("open "+p, chromedp.Navigate(e.base+p))
			tb.waitVisible(`[data-test=read-only]`, 10*time.Second)
			if n := evalIn[int](tb, `document.querySelectorAll('form[method=post], button[data-test]').length`); n != 0 {
				t.Errorf("%s: %d action forms or buttons in read-only mode", p, n)
			}
		}
		csrf := evalIn[string](tb, `document.querySelector('meta[name=dominion-csrf]').content`)
		status := evalIn[int](tb, `fetch(document.body.dataset.prefix + '/jobs/`+j.ID+`/retry', {method: 'POST',
			headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=`+csrf+`'}).then(r => r.status)`)
		if status != http.StatusForbidden {
			t.Errorf("read-only POST with a valid CSRF token: status %d, want 403", status)
		}
		if e.jobState(j.ID) != queue.StateCanceled {
			t.Error("a read-only dashboard retried a job")
		}
		tb.forgive("status of 403") // the browser logs the refusal, as it should
	})
}
