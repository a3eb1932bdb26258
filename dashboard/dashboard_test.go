package dashboard_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

func TestPagesRender(t *testing.T) {
	e := newEnv(t, nil)
	dead := e.enqueue("report.build", map[string]any{"week": "2026-W05"}, queue.OnQueue("reports"))
	keyed := e.enqueue("email.send", map[string]string{"to": "a@example.com"}, queue.RateKey("customer:42"))
	e.enqueue("email.send", nil, queue.RunIn(time.Hour))
	h := e.httpClient()
	for _, p := range []string{"/", "/queues", "/jobs", "/jobs?queue=reports&state=pending", "/jobs?state=scheduled",
		"/jobs/" + dead.ID, "/workers", "/jobs?queue=nope&state=dead", "/login"} {
		r := h.get(p)
		want := http.StatusOK
		if p == "/login" {
			want = http.StatusSeeOther // no token: nothing to log in to
		}
		if r.status != want {
			t.Errorf("GET %s: status %d, want %d\n%s", p, r.status, want, r.body)
		}
		if want == http.StatusOK && !strings.Contains(r.body, "</html>") {
			t.Errorf("GET %s: no complete page", p)
		}
	}
	if r := h.get("/jobs/" + keyed.ID); !strings.Contains(r.body, `<dd data-test="rate-key" class="mono">customer:42</dd>`) {
		t.Errorf("the job page does not show the job's rate key:\n%s", r.body)
	}
	if r := h.get("/jobs/NOPE"); r.status != http.StatusNotFound {
		t.Errorf("missing job: status %d", r.status)
	}
	if r := h.get("/nothing-here"); r.status != http.StatusNotFound {
		t.Errorf("unknown page: status %d", r.status)
	}
	if r := h.get("/jobs?state=bogus"); r.status != http.StatusBadRequest {
		t.Errorf("bad state: status %d", r.status)
	}
	// Without workflow and schedule sources, those pages say so.
	for _, p := range []string{"/workflows", "/reports", "/schedules"} {
		if r := h.get(p); r.status != http.StatusNotFound {
			t.Errorf("GET %s without its source: status %d", p, r.status)
		}
	}
	r := h.get("/")
	if strings.Contains(r.body, `href="/dashboard/workflows"`) || strings.Contains(r.body, `href="/dashboard/schedules"`) {
		t.Error("the navigation links to pages whose source is not configured")
	}
	for k, v := range map[string]string{"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
		if !strings.Contains(r.header.Get(k), v) {
			t.Errorf("header %s = %q, want %q", k, r.header.Get(k), v)
		}
	}
}

func TestStaticFilesAreEmbeddedAndCached(t *testing.T) {
	e := newEnv(t, nil)
	h := e.httpClient()
	page := h.get("/").body
	for _, name := range []string{"app.js", "app.css", "theme.js", "favicon.svg"} {
		i := strings.Index(page, "/dashboard/static/"+name+"?v=")
		if i < 0 {
			t.Fatalf("page does not link %s with a version", name)
		}
		u := page[i:]
		u = u[:strings.IndexByte(u, '"')]
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+strings.ReplaceAll(u, "&amp;", "&"), nil)
		r := h.do(req)
		if r.status != 200 || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: status %d, cache %q", name, r.status, r.header.Get("Cache-Control"))
		}
	}
	// Nothing on the page comes from another origin.
	for _, bad := range []string{"http://", "https://", "//cdn"} {
		if i := strings.Index(page, bad); i >= 0 && !strings.Contains(page[i:i+40], "www.w3.org") {
			t.Errorf("page refers to %q: %s", bad, page[i:min(len(page), i+60)])
		}
	}
}

func TestActionsNeedCSRF(t *testing.T) {
	e := newEnv(t, nil)
	e.enqueue("noop", nil)
	h := e.httpClient()
	token := h.csrf("/queues")

	if r := h.post("/queues/default/pause", url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: status %d", r.status)
	}
	if r := h.post("/queues/default/pause", url.Values{"csrf": {token + "x"}}); r.status != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: status %d", r.status)
	}
	// Another browser's token does not work with this browser's cookie.
	other := e.httpClient().csrf("/queues")
	if r := h.post("/queues/default/pause", url.Values{"csrf": {other}}); r.status != http.StatusForbidden {
		t.Fatalf("POST with another browser's CSRF token: status %d", r.status)
	}
	// A request from another origin is refused even with the right token.
	req, _ := http.NewRequest(http.MethodPost, e.base+"/queues/default/pause", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if r := h.do(req); r.status != http.StatusForbidden {
		t.Fatalf("cross-origin POST: status %d", r.status)
	}
	if e.paused("default") {
		t.Fatal("a refused request paused the queue")
	}
	r := h.post("/queues/default/pause", url.Values{"csrf": {token}})
	if r.status != http.StatusSeeOther || !e.paused("default") {
		t.Fatalf("POST with the CSRF token: status %d, paused %v", r.status, e.paused("default"))
	}
	page := h.get("/queues").body
	if !strings.Contains(page, "Queue default paused") {
		t.Error("no flash message after pausing")
	}
	if strings.Contains(h.get("/queues").body, "Queue default paused") {
		t.Error("the flash message is shown twice")
	}
}

// TestPauseUnknownQueueRefused: pausing a queue that does not exist (a misspelled name in a
// hand-made URL) says so and creates no phantom queue.
func TestPauseUnknownQueueRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.enqueue("noop", nil, queue.OnQueue("mail"))
	h := e.httpClient()
	token := h.csrf("/queues")
	if r := h.post("/queues/mial/pause", url.Values{"csrf": {token}}); r.status != http.StatusSeeOther {
		t.Fatalf("pause of a queue that does not exist: status %d", r.status)
	}
	if page := h.get("/queues").body; !strings.Contains(page, `Could not pause queue mial: pause: queue not found: &#34;mial&#34; (there are: mail)`) {
		t.Errorf("no flash saying the queue does not exist:\n%s", page)
	}
	qs, err := e.client.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Name != "mail" {
		t.Errorf("queues after pausing a misspelled one: %+v; want only mail", qs)
	}
}

func TestBulkActionsConfirmAndReport(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	reqs := make([]queue.Request, 12)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "noop", Options: []queue.Option{queue.OnQueue("bulk")}}
	}
	jobs, _, err := e.client.EnqueueMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if _, err := e.client.Cancel(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	h := e.httpClient()
	token := h.csrf("/jobs?queue=bulk&state=canceled")
	// Without confirm=yes, the server asks.
	r := h.post("/queues/bulk/canceled/retry-all", url.Values{"csrf": {token}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Retry all 12 canceled jobs of queue bulk?") {
		t.Fatalf("unconfirmed bulk retry: status %d\n%s", r.status, r.body)
	}
	if e.jobState(jobs[0].ID) != queue.StateCanceled {
		t.Fatal("an unconfirmed bulk action changed jobs")
	}
	r = h.post("/queues/bulk/canceled/retry-all", url.Values{"csrf": {token}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("confirmed bulk retry: status %d", r.status)
	}
	if page := h.get(strings.TrimPrefix(r.location, "/dashboard")).body; !strings.Contains(page, "12 jobs retried.") {
		t.Error("no flash saying what was done")
	}
	if e.jobState(jobs[0].ID) != queue.StatePending {
		t.Error("jobs not retried")
	}
	r = h.post("/queues/bulk/pending/delete-all", url.Values{"csrf": {token}, "confirm": {"yes"}})
	if page := h.get(strings.TrimPrefix(r.location, "/dashboard")).body; !strings.Contains(page, "12 jobs deleted.") {
		t.Errorf("delete all: status %d, no flash", r.status)
	}

	// Cancel all: offered for waiting states only, asked, refused without the CSRF token.
	var waiting []*queue.Job
	for range 3 {
		waiting = append(waiting, e.enqueue("noop", nil, queue.OnQueue("tocancel")))
	}
	later := e.enqueue("noop", nil, queue.OnQueue("tocancel"), queue.RunIn(time.Hour))
	kept := e.enqueue("noop", nil, queue.OnQueue("kept"))
	for _, st := range []string{"pending", "scheduled"} {
		if !strings.Contains(h.get("/jobs?queue=tocancel&state="+st).body, `data-test="cancel-all"`) {
			t.Errorf("%s jobs page does not offer cancel all", st)
		}
	}
	if r := h.post("/queues/tocancel/pending/cancel-all", url.Values{"confirm": {"yes"}}); r.status != http.StatusForbidden {
		t.Errorf("cancel all without CSRF token: status %d", r.status)
	}
	r = h.post("/queues/tocancel/pending/cancel-all", url.Values{"csrf": {token}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Cancel all 3 pending jobs of queue tocancel?") {
		t.Fatalf("unconfirmed cancel all: status %d\n%s", r.status, r.body)
	}
	if e.jobState(waiting[0].ID) != queue.StatePending {
		t.Fatal("an unconfirmed cancel all canceled jobs")
	}
	r = h.post("/queues/tocancel/pending/cancel-all", url.Values{"csrf": {token}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("confirmed cancel all: status %d", r.status)
	}
	if page := h.get(strings.TrimPrefix(r.location, "/dashboard")).body; !strings.Contains(page, "3 jobs canceled.") {
		t.Error("no flash saying how many jobs were canceled")
	}
	for _, j := range waiting {
		if st := e.jobState(j.ID); st != queue.StateCanceled {
			t.Errorf("job %s is %s after cancel all", j.ID, st)
		}
	}
	if page := h.get("/jobs?queue=tocancel&state=canceled").body; strings.Contains(page, `data-test="cancel-all"`) || !strings.Contains(page, `data-test="retry-all"`) {
		t.Error("the canceled jobs page offers cancel all, or not retry all")
	}
	if e.jobState(later.ID) != queue.StateScheduled || e.jobState(kept.ID) != queue.StatePending {
		t.Error("cancel all of pending jobs touched a scheduled job or another queue")
	}
	r = h.post("/queues/tocancel/scheduled/cancel-all", url.Values{"csrf": {token}, "confirm": {"yes"}})
	if page := h.get(strings.TrimPrefix(r.location, "/dashboard")).body; !strings.Contains(page, "1 job canceled.") || e.jobState(later.ID) != queue.StateCanceled {
		t.Errorf("cancel all scheduled: status %d, job %s", r.status, e.jobState(later.ID))
	}
	if r := h.post("/queues/tocancel/dead/cancel-all", url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusBadRequest {
		t.Errorf("cancel all dead jobs: status %d, want 400", r.status)
	}

	e.enqueue("noop", nil, queue.OnQueue("bulk"))
	r = h.post("/queues/bulk/empty", url.Values{"csrf": {token}, "confirm": {"yes"}})
	if page := h.get("/queues").body; !strings.Contains(page, "Queue bulk emptied: 1 job deleted.") {
		t.Errorf("empty: status %d, no flash", r.status)
	}
}

func TestReadOnlyHidesAndRefusesActions(t *testing.T) {
	e := newEnv(t, func(c *dashboard.Config) { c.ReadOnly = true })
	j := e.enqueue("noop", nil)
	h := e.httpClient()
	for _, p := range []string{"/", "/queues", "/jobs", "/jobs/" + j.ID, "/workers"} {
		body := h.get(p).body
		if strings.Contains(body, `method="post"`) {
			t.Errorf("read-only page %s has a form that posts", p)
		}
		if !strings.Contains(body, "Read-only") {
			t.Errorf("read-only page %s does not say so", p)
		}
	}
	token := h.csrf("/queues") // the layout carries it for log-out even when read-only
	for _, p := range []string{"/queues/default/pause", "/jobs/" + j.ID + "/cancel", "/jobs/" + j.ID + "/delete", "/queues/default/empty",
		"/queues/default/pending/cancel-all"} {
		if r := h.post(p, url.Values{"csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusForbidden {
			t.Errorf("read-only POST %s: status %d", p, r.status)
		}
	}
	if e.paused("default") || e.jobState(j.ID) != queue.StatePending {
		t.Error("a read-only dashboard changed something")
	}
}

func TestLogin(t *testing.T) {
	const token = "s3cret-token"
	e := newEnv(t, func(c *dashboard.Config) { c.Token = token })
	h := e.httpClient()
	r := h.get("/queues")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/dashboard/login?next=") {
		t.Fatalf("anonymous GET: status %d, location %q", r.status, r.location)
	}
	if r := h.get("/events"); r.status == http.StatusOK {
		t.Fatal("anonymous event stream allowed")
	}
	csrf := h.csrf("/login")
	if r := h.post("/queues/default/pause", url.Values{"csrf": {csrf}}); r.status == http.StatusSeeOther && e.paused("default") {
		t.Fatal("anonymous POST paused a queue")
	}
	if r := h.post("/login", url.Values{"csrf": {csrf}, "token": {"wrong"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d", r.status)
	}
	if r := h.post("/login", url.Values{"token": {token}}); r.status != http.StatusForbidden {
		t.Fatalf("login without CSRF token: status %d", r.status)
	}
	r = h.post("/login", url.Values{"csrf": {csrf}, "token": {token}, "next": {"/dashboard/queues"}})
	if r.status != http.StatusSeeOther || r.location != "/dashboard/queues" {
		t.Fatalf("login: status %d, location %q", r.status, r.location)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "dominion_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly and SameSite=Strict", session)
	}
	if strings.Contains(session.Value, token) {
		t.Fatal("the session cookie holds the token")
	}
	if r := h.get("/queues"); r.status != http.StatusOK {
		t.Fatalf("logged in: status %d", r.status)
	}
	// A forged or altered session is refused.
	forged := e.httpClient()
	u, _ := url.Parse(e.base + "/")
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: "dominion_session", Value: session.Value[:len(session.Value)-2] + "xx", Path: "/dashboard/"}})
	if r := forged.get("/queues"); r.status != http.StatusSeeOther {
		t.Fatalf("altered session: status %d", r.status)
	}
	// Open redirects are not possible through next.
	if r := h.post("/login", url.Values{"csrf": {csrf}, "token": {token}, "next": {"//evil.example/x"}}); r.location != "/dashboard/" {
		t.Fatalf("next=//evil.example: redirected to %q", r.location)
	}
	// Log out ends the session.
	h.post("/logout", url.Values{"csrf": {h.csrf("/queues")}})
	if r := h.get("/queues"); r.status != http.StatusSeeOther {
		t.Fatalf("after log out: status %d", r.status)
	}
}

func TestSecretsNeverShown(t *testing.T) {
	const password = "hunter2-redis-password"
	e := newEnv(t, func(c *dashboard.Config) {
		c.Broker = "redis redis://:" + password + "@10.0.0.5:6379/0"
	})
	e.enqueue("noop", nil)
	// A broker error that carries the URL, as a careless lower layer might write it.
	failing := &failingSource{countingSource: e.src, err: fmt.Errorf("dial redis://admin:%s@10.0.0.5:6379: connection refused", password)}
	d, err := dashboard.New(dashboard.Config{Queues: failing, Logger: quiet, Broker: "redis://u:" + password + "@h:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := e.httpClient()
	for _, p := range []string{"/", "/queues", "/jobs"} {
		if body := h.get(p).body; strings.Contains(body, password) {
			t.Errorf("%s shows the Redis password", p)
		}
	}
	for _, p := range []string{"/dashboard/", "/dashboard/queues", "/dashboard/workers"} {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if strings.Contains(rec.Body.String(), password) {
			t.Errorf("%s shows the password of a URL in an error", p)
		}
		if !strings.Contains(rec.Body.String(), "xxxxx") {
			t.Errorf("%s: the error is not shown (redacted): %s", p, rec.Body.String())
		}
	}
}

type failingSource struct {
	*countingSource
	err error
}

func (f *failingSource) Queues(context.Context) ([]queue.QueueStats, error) { return nil, f.err }
func (f *failingSource) Workers(context.Context) ([]queue.WorkerInfo, error) {
	return nil, f.err
}

func TestJobsPageReadsOnlyWhatItShows(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	reqs := make([]queue.Request, 260)
	for i := range reqs {
		reqs[i] = queue.Request{Type: fmt.Sprintf("kind%d", i%3), Options: []queue.Option{queue.OnQueue("big")}}
	}
	jobs, _, err := e.client.EnqueueMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	h := e.httpClient()
	r := h.get("/jobs?queue=big&state=pending&page=3")
	if !strings.Contains(r.body, "101–150 of") || !strings.Contains(r.body, ">260</span>") {
		t.Fatalf("page 3 does not show jobs 101–150 of 260:\n%s", r.body)
	}
	if !strings.Contains(r.body, jobs[100].ID) || strings.Contains(r.body, jobs[99].ID) || strings.Contains(r.body, jobs[150].ID) {
		t.Error("page 3 shows the wrong jobs")
	}
	calls := e.src.listCalls()
	if len(calls) != 1 || calls[0] != [2]int{100, 50} {
		t.Fatalf("List calls %v, want one List(offset 100, limit 50)", calls)
	}
	// The last page.
	if r := h.get("/jobs?queue=big&state=pending&page=6"); !strings.Contains(r.body, "251–260 of") {
		t.Error("last page wrong")
	}
	// A search by ID goes to the job; by type it filters.
	if r := h.get("/jobs?queue=big&state=pending&q=" + jobs[7].ID); r.status != http.StatusSeeOther || !strings.HasSuffix(r.location, "/jobs/"+jobs[7].ID) {
		t.Errorf("search by id: status %d, location %q", r.status, r.location)
	}
	r = h.get("/jobs?queue=big&state=pending&q=kind2")
	if !strings.Contains(r.body, jobs[2].ID) || strings.Contains(r.body, jobs[1].ID+"<") {
		t.Error("search by type does not filter by type")
	}
}

func TestOnePollerForAllBrowsers(t *testing.T) {
	e := newEnv(t, nil)
	e.enqueue("noop", nil)
	const browsers = 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	samples := make(chan int, browsers)
	for range browsers {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/events", nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			n := 0
			for sc.Scan() {
				if sc.Text() == "event: sample" {
					n++
					if n == 5 {
						samples <- n
						return
					}
				}
			}
		}()
	}
	start := e.src.queuesCalls.Load()
	for range browsers {
		select {
		case <-samples:
		case <-time.After(15 * time.Second):
			t.Fatal("the browsers did not get 5 samples each")
		}
	}
	calls := e.src.queuesCalls.Load() - start
	// 20 browsers × 5 samples; one poller reads the statistics once per tick, so about 5–10
	// reads, not 100.
	if calls > 15 {
		t.Fatalf("%d reads of the queue statistics for %d browsers × 5 samples: want one per tick", calls, browsers)
	}
	t.Logf("%d browsers, 5 samples each: %d reads of the queue statistics", browsers, calls)
}

func TestCloseEndsStreams(t *testing.T) {
	e := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodGet, e.base+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	e.dash.Close()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Logf("stream ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the event stream")
	}
}

func TestWorkflowAndScheduleActions(t *testing.T) {
	d := newDemo(t)
	ctx := context.Background()
	h := d.httpClient()
	for _, p := range []string{"/", "/workflows", "/workflows?status=failed", "/workflows/" + d.runningWF, "/workflows/" + d.doneWF,
		"/reports", "/schedules", "/jobs/" + d.deadJob} {
		if r := h.get(p); r.status != http.StatusOK {
			t.Errorf("GET %s: status %d", p, r.status)
		}
	}
	checkWorkflowDurations(t, h, d)
	if r := h.get("/workflows?status=bogus"); r.status != http.StatusBadRequest {
		t.Errorf("bad status filter: %d", r.status)
	}
	if r := h.get("/workflows/nope"); r.status != http.StatusNotFound {
		t.Errorf("missing workflow: %d", r.status)
	}
	token := h.csrf("/schedules")
	flash := func(r response) string {
		t.Helper()
		if r.status != http.StatusSeeOther {
			t.Fatalf("action: status %d\n%s", r.status, r.body)
		}
		page := h.get(strings.TrimPrefix(r.location, "/dashboard")).body
		i := strings.Index(page, `data-test="flash">`)
		if i < 0 {
			t.Fatalf("no flash on %s", r.location)
		}
		msg := page[i+len(`data-test="flash">`):]
		return msg[:strings.Index(msg, "<")]
	}
	if msg := flash(h.post("/schedules/warm_caches/enable", url.Values{"csrf": {token}})); !strings.Contains(msg, "Schedule warm_caches enabled") {
		t.Errorf("enable: %q", msg)
	}
	infos, err := d.scheduler.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos {
		if i.Name == "warm_caches" && !i.Enabled {
			t.Error("warm_caches not enabled")
		}
	}
	msg := flash(h.post("/schedules/sync_invoices/run", url.Values{"csrf": {token}}))
	if !strings.Contains(msg, "sync_invoices run now: job sync_invoices:run:") {
		t.Errorf("run now: %q", msg)
	}
	// The schedules page shows the manual run as the last run, marked manual.
	page := h.get("/schedules").body
	row := page[strings.Index(page, `data-test="schedule-sync_invoices"`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `data-test="manual"`) || !strings.Contains(row, "sync_invoices:run:") {
		t.Errorf("schedules page after run now:\n%s", row)
	}
	if msg := flash(h.post("/schedules/nope/run", url.Values{"csrf": {token}})); !strings.Contains(msg, "unknown schedule") {
		t.Errorf("unknown schedule: %q", msg)
	}
	// Cancel the running workflow, then retry it.
	if msg := flash(h.post("/workflows/"+d.runningWF+"/cancel", url.Values{"csrf": {token}})); !strings.Contains(msg, "canceled") {
		t.Errorf("cancel workflow: %q", msg)
	}
	if w, _ := d.store.GetWorkflow(ctx, d.runningWF); w.Status != "canceled" {
		t.Errorf("workflow is %s after cancel", w.Status)
	}
	if page := h.get("/workflows/" + d.runningWF).body; strings.Contains(page, "No finished execution yet") {
		t.Error("a canceled workflow's page says it has no finished execution yet, as if it would run")
	}
	if page := h.get("/workflows").body; !strings.Contains(page, `<td class="nowrap"><time`) {
		t.Error("the workflows list's Created column may wrap")
	}
	if msg := flash(h.post("/workflows/"+d.runningWF+"/cancel", url.Values{"csrf": {token}})); !strings.Contains(msg, "Could not cancel") {
		t.Errorf("cancel again: %q", msg)
	}
	// Retrying the workflow's job retries the workflow (one meaning for retry).
	w, err := d.store.GetWorkflow(ctx, d.runningWF)
	if err != nil {
		t.Fatal(err)
	}
	if msg := flash(h.post("/jobs/"+w.JobID+"/retry", url.Values{"csrf": {token}})); !strings.Contains(msg, "runs workflow "+d.runningWF+": the workflow was retried") ||
		!strings.Contains(msg, "resumes at step 3") {
		t.Errorf("retry the workflow's job: %q", msg)
	}
	if w, _ := d.store.GetWorkflow(ctx, d.runningWF); w.Status == "canceled" {
		t.Errorf("workflow is %s after its job's retry", w.Status)
	}
	if _, err := d.engine.Cancel(ctx, d.runningWF); err != nil {
		t.Fatal(err)
	}
	if msg := flash(h.post("/workflows/"+d.runningWF+"/retry", url.Values{"csrf": {token}})); !strings.Contains(msg, "resumes at step 3") {
		t.Errorf("retry workflow: %q", msg)
	}
	// The job page links its workflow.
	if r := h.get("/jobs/" + d.doneWF); !strings.Contains(r.body, `data-test="workflow-link"`) {
		t.Error("the workflow's job page does not link the workflow")
	}
}

func TestNilSourcesMeanNone(t *testing.T) {
	e := newEnv(t, func(c *dashboard.Config) { c.Schedules = nil })
	if r := e.httpClient().get("/schedules"); r.status != http.StatusNotFound {
		t.Fatalf("schedules page without a scheduler: status %d", r.status)
	}
	if _, err := dashboard.New(dashboard.Config{}); err == nil {
		t.Fatal("New without a queue source: no error")
	}
}

// TestUnservedQueueWarning: the overview and the queues page warn about a queue with pending
// jobs that no live worker serves, until a worker serves it.
func TestUnservedQueueWarning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	h := e.httpClient()
	e.enqueue("x", nil, queue.OnQueue("lonely"))
	for _, p := range []string{"/", "/queues"} {
		if body := h.get(p).body; !strings.Contains(body, `data-test="unserved-lonely"`) ||
			!strings.Contains(body, "has 1 pending job and no live worker serves it") {
			t.Errorf("GET %s does not warn about the unserved queue lonely", p)
		}
	}
	e.startWorker([]string{"lonely"}, func(w *queue.Worker) {
		w.HandleFunc("x", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	})
	testenv.Until(t, 10*time.Second, "the warning to go", func() bool {
		return !strings.Contains(h.get("/queues").body, `data-test="unserved-lonely"`)
	})
}

// TestQueuesPageShowsLimits: the queues page shows each queue's limits as the broker holds
// them, "none" for a queue without.
func TestQueuesPageShowsLimits(t *testing.T) {
	e := newEnv(t, nil)
	e.enqueue("noop", nil, queue.OnQueue("mail"))
	e.enqueue("noop", nil, queue.OnQueue("free"))
	l := queue.QueueLimits{Queue: queue.Limit{Rate: queue.Rate{N: 100, Per: time.Second}, Concurrency: 3},
		Keys: map[string]queue.Limit{"customer:": {Concurrency: 1}}}
	if err := e.client.SetLimits(context.Background(), "mail", l); err != nil {
		t.Fatal(err)
	}
	page := e.httpClient().get("/queues").body
	if !strings.Contains(page, `<td data-test="limits-mail">rate 100/s concurrency 3; key &#34;customer:&#34; concurrency 1</td>`) {
		t.Errorf("the queues page does not show mail's limits:\n%s", page)
	}
	if !strings.Contains(page, `<td data-test="limits-free"><span class="muted">none</span></td>`) {
		t.Errorf("the queues page does not show that free has no limits:\n%s", page)
	}
}

func TestBatchPage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, err := e.client.OpenBatch(ctx, queue.BatchID("b-page"), queue.OnComplete("report", nil))
	if err != nil {
		t.Fatal(err)
	}
	parent := e.enqueue("noop", nil, queue.InBatch(id))
	child := e.enqueue("noop", nil, queue.InBatch(id), queue.DependsOn(parent.ID))
	h := e.httpClient()
	page := h.get("/batches/" + id).body
	for _, want := range []string{`data-test="batch-state">open</span>`, `<dd data-test="batch-total" data-live="batch-total">2</dd>`, `<dd data-test="batch-pending" data-live="batch-pending">2</dd>`, `data-live-url="/dashboard/events?batch=b-page"`, "(not enqueued yet)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the batch page lacks %s:\n%s", want, page)
		}
	}
	job := h.get("/jobs/" + child.ID).body
	for _, want := range []string{`data-test="job-state">waiting</span>`, `href="/dashboard/jobs/` + parent.ID + `"`, `data-test="batch-link">` + id + `</a>`} {
		if !strings.Contains(job, want) {
			t.Errorf("the waiting job's page lacks %s:\n%s", want, job)
		}
	}
	if r := h.get("/batches/nope"); r.status != http.StatusNotFound {
		t.Errorf("an unknown batch: status %d", r.status)
	}
}
