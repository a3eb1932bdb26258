package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// demo is a dashboard with every source: queue, workflow engine and store, scheduler; and
// real workers, workflows, schedules and reports in every state, as a deployment has them.
type demo struct {
	*env
	store     store.Store
	engine    *workflow.Engine
	scheduler *queue.Scheduler

	deadJob, activeJob string
	runningWF, doneWF  string
}

func newDemo(t *testing.T) *demo {
	t.Helper()
	st := openStore(t)
	broker := openBroker(t)
	client := queue.NewClient(broker)
	defer func() { _ = client }()

	types := workflow.NewRegistry()
	for _, ty := range []workflow.Type{
		{Name: "customer_followup", Description: "Follow up with a customer", Steps: []workflow.StepSpec{
			{Name: "gather_context", Kind: workflow.KindDelay, Duration: 40 * time.Millisecond},
			{Name: "draft_message", Kind: workflow.KindDelay, Duration: 40 * time.Millisecond},
			{Name: "follow_up", Kind: workflow.KindDelay, Duration: 40 * time.Millisecond},
		}},
		{Name: "invoice_reminder", Description: "Remind about unpaid invoices", Steps: []workflow.StepSpec{
			{Name: "find_overdue", Kind: workflow.KindDelay, Duration: 30 * time.Millisecond},
			{Name: "notify_crm", Kind: workflow.KindHTTP, URL: "http://127.0.0.1:1/hooks/invoice", Timeout: time.Second},
		}},
		{Name: "onboarding", Description: "Welcome a new customer", Steps: []workflow.StepSpec{
			{Name: "create_account", Kind: workflow.KindDelay, Duration: 20 * time.Millisecond},
			{Name: "provision", Kind: workflow.KindDelay, Duration: 20 * time.Millisecond},
			{Name: "wait_for_kickoff", Kind: workflow.KindDelay, Duration: 10 * time.Minute},
			{Name: "send_welcome", Kind: workflow.KindDelay, Duration: 20 * time.Millisecond},
		}},
	} {
		if err := types.Add(ty); err != nil {
			t.Fatal(err)
		}
	}
	engine := workflow.NewEngine(workflow.Config{Store: st, Client: client, Types: types, Logger: quiet, MaxRetries: -1})

	sched, err := queue.NewScheduler(broker, queue.SchedulerConfig{Logger: quiet, Schedules: []queue.Schedule{
		{Name: "cleanup_old_workflows", Spec: "0 2 * * *", Type: workflow.JobCleanup, Queue: "maintenance", Payload: []byte(`{"days":30}`)},
		{Name: "generate_weekly_report", Spec: "0 6 * * MON", Type: workflow.JobReport, Queue: "maintenance"},
		{Name: "sync_invoices", Spec: "*/15 * * * *", TimeZone: "Europe/Berlin", Type: "invoices.sync", Queue: "default"},
		{Name: "warm_caches", Spec: "@every 10m", Type: "cache.warm", Queue: "default", Disabled: true},
	}})
	if err != nil {
		t.Fatal(err)
	}

	d := &demo{store: st, engine: engine, scheduler: sched}
	d.env = newEnvWith(t, broker, func(c *dashboard.Config) {
		c.Workflows, c.WorkflowStats, c.Schedules = engine, st, sched
		c.Broker = "sqlite " + broker.Path()
	})
	d.populate(t)
	return d
}

func (d *demo) populate(t *testing.T) {
	ctx := context.Background()
	e := d.env
	if screenshots() {
		d.recordPastHour(t)
	}
	// Workers: one runs everything but the slow queue, one runs the slow queue.
	w1 := e.startWorkerCfg(queue.WorkerConfig{ID: "web-1:4021:9f3a", Concurrency: 16,
		Queues: []queue.QueueWeight{{Name: "workflows", Weight: 6}, {Name: "default", Weight: 3}, {Name: "reports", Weight: 1}, {Name: "images", Weight: 1}, {Name: "maintenance", Weight: 1}}},
		func(w *queue.Worker) {
			d.engine.Register(w)
			w.HandleFunc("email.send", func(ctx context.Context, j *queue.Job) (any, error) {
				return map[string]any{"message_id": "<" + j.ID + "@mail.example.com>", "accepted": true}, nil
			})
			w.HandleFunc("report.build", func(ctx context.Context, j *queue.Job) (any, error) {
				var p struct{ Template string }
				_ = j.Decode(&p)
				if p.Template == "quarterly-v2" {
					var layouts map[string]*struct{ Header string }
					return layouts[p.Template].Header, nil // a bug: a nil layout; the panic is recorded with its stack
				}
				return nil, queue.NoRetry(fmt.Errorf("render report: template %q not found", p.Template))
			})
			w.HandleFunc("image.resize", func(ctx context.Context, j *queue.Job) (any, error) {
				return nil, errors.New("storage: upload thumbnail: 503 Service Unavailable")
			})
			w.HandleFunc("cache.warm", func(ctx context.Context, j *queue.Job) (any, error) { return nil, nil })
			w.HandleFunc("invoices.sync", func(ctx context.Context, j *queue.Job) (any, error) {
				return map[string]int{"synced": 42}, nil
			})
		})
	_ = w1
	e.startWorkerCfg(queue.WorkerConfig{ID: "batch-2:877:c01d", Concurrency: 4,
		Queues: []queue.QueueWeight{{Name: "slow", Weight: 1}}},
		func(w *queue.Worker) {
			w.HandleFunc("video.transcode", func(ctx context.Context, j *queue.Job) (any, error) {
				<-ctx.Done()
				return nil, context.Cause(ctx)
			})
		})

	// Jobs in every state.
	var reqs []queue.Request
	for i := range 60 {
		reqs = append(reqs, queue.Request{Type: "email.send", Payload: map[string]any{
			"to": fmt.Sprintf("customer%03d@example.com", i), "template": "followup", "locale": "en"}})
	}
	backlog := 120 // a bigger one for the pictures; the race detector makes SQLite slow
	if screenshots() {
		backlog = 1234
	}
	for i := range backlog {
		reqs = append(reqs, queue.Request{Type: "email.send", Options: []queue.Option{queue.OnQueue("emails")},
			Payload: map[string]any{"to": fmt.Sprintf("subscriber%04d@example.com", i), "template": "newsletter-2026-03"}})
	}
	for i := range 3 {
		reqs = append(reqs, queue.Request{Type: "report.build", Options: []queue.Option{queue.OnQueue("reports"), queue.MaxRetries(0)},
			Payload: map[string]any{"template": "quarterly-v" + fmt.Sprint(i+2), "quarter": "2026-Q1"}})
	}
	for i := range 4 {
		reqs = append(reqs, queue.Request{Type: "image.resize", Options: []queue.Option{queue.OnQueue("images"), queue.MaxRetries(5)},
			Payload: map[string]any{"src": fmt.Sprintf("uploads/%d.jpg", 1000+i), "width": 320}})
	}
	for i := range 7 {
		reqs = append(reqs, queue.Request{Type: "email.send", Options: []queue.Option{queue.RunIn(time.Duration(i+1) * 17 * time.Minute)},
			Payload: map[string]any{"to": "trial-end@example.com", "template": "trial-ending"}})
	}
	for i := range 3 {
		reqs = append(reqs, queue.Request{Type: "video.transcode", Options: []queue.Option{queue.OnQueue("slow"), queue.Timeout(time.Hour)},
			Payload: map[string]any{"src": fmt.Sprintf("videos/%d.mov", 77+i), "preset": "1080p"}})
	}
	jobs, errs, err := e.client.EnqueueMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Pause the newsletter queue so its backlog stays; cancel two of its jobs.
	if err := e.client.Pause(ctx, "emails"); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs[60:62] {
		if _, err := e.client.Cancel(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	d.deadJob = jobs[60+backlog].ID
	d.activeJob = jobs[len(jobs)-1].ID

	// Workflows: most complete, one fails at its webhook, one is canceled, one waits for
	// its kickoff.
	inputs := func(n float64) workflow.CalculatorInputs {
		return workflow.CalculatorInputs{TasksPerWeek: 20 + n, TimePerTaskMinutes: 15, HourlyWage: 50, AutomationPercent: 80}
	}
	submit := func(typ, agent string, n float64) store.Workflow {
		acc, err := d.engine.Submit(ctx, workflow.Request{AgentID: agent, Mode: workflow.ModeExecute, Type: typ, Inputs: inputs(n)})
		if err != nil {
			t.Fatal(err)
		}
		return acc.Workflow
	}
	for i := range 9 {
		w := submit("customer_followup", fmt.Sprintf("agent-%d", 1+i%3), float64(i*7))
		if i == 0 {
			d.doneWF = w.ID
		}
	}
	submit("invoice_reminder", "agent-2", 12)
	d.runningWF = submit("onboarding", "agent-7", 30).ID
	canceled := submit("customer_followup", "agent-1", 3)
	_, _ = d.engine.Cancel(ctx, canceled.ID)

	// A past tick of a schedule, recorded as the scheduler records it.
	tick := time.Now().Add(-15 * time.Minute).Truncate(15 * time.Minute)
	tj, err := e.client.Enqueue(ctx, "invoices.sync", nil, queue.WithID(queue.TickJobID("sync_invoices", tick)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.Broker().RecordScheduleRun(ctx, "sync_invoices", tick, tj.ID); err != nil {
		t.Fatal(err)
	}

	// Wait until everything that finishes has finished.
	e.waitState(d.activeJob, queue.StateActive)
	e.waitState(d.deadJob, queue.StateDead)
	testenv.Until(t, 20*time.Second, "the workflows to settle", func() bool {
		c, err := d.store.CountsSince(ctx, time.Now().Add(-time.Hour))
		return err == nil && c.Queued == 0 && c.Running == 1 && c.Completed+c.Failed+c.Canceled == 11
	})
	w, err := d.store.GetWorkflow(ctx, d.runningWF)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, 10*time.Second, "the onboarding workflow to reach its third step", func() bool {
		w, err = d.store.GetWorkflow(ctx, d.runningWF)
		return err == nil && w.CurrentStep == 2
	})
	// This week's report, and earlier weeks' as the weekly job left them.
	if _, err := d.engine.GenerateWeeklyReport(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := 1; i <= 5; i++ {
		from := now.AddDate(0, 0, -7*(i+1))
		total := int64(180 + 37*i)
		done := total - int64(4+3*i)
		_, err := d.store.SaveReport(ctx, store.WeeklyReport{Week: store.ISOWeek(from.AddDate(0, 0, 3)), Summary: store.Summary{
			From: from, To: from.AddDate(0, 0, 7), Total: total, Completed: done, Failed: total - done,
			CompletionRate: float64(done) / float64(total), TotalSavings: float64(done) * 33.33, AvgDuration: time.Duration(2100+90*i) * time.Millisecond,
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// recordPastHour records an hour of history before now, as the workers of a busy deployment
// would have, for the overview's picture: a varying load with a backlog that builds and drains.
func (d *demo) recordPastHour(t *testing.T) {
	now := time.Now().Add(-time.Minute)
	var processed, failed float64
	for at := now.Add(-queue.HistoryKeep + 2*time.Minute); at.Before(now); at = at.Add(queue.HistorySlot) {
		i := float64(at.Sub(now).Minutes())
		rate := 150 + 60*math.Sin(i/7) + 15*math.Sin(i*1.3)
		processed += rate * queue.HistorySlot.Seconds()
		failed += rate / 40 * queue.HistorySlot.Seconds()
		s := queue.Sample{At: at, Processed: int64(processed), Failed: int64(failed),
			Pending: int64(1000 + 300*math.Sin(i/9)), Active: int64(12 + 4*math.Sin(i)), Scheduled: 7, Retry: int64(3 + 2*math.Sin(i/3))}
		if _, err := d.broker.RecordSample(context.Background(), s, queue.HistorySlot, queue.HistoryKeep); err != nil {
			t.Fatal(err)
		}
	}
}

// load enqueues jobs at a varying rate for dur, some of which fail.
func (d *demo) load(t *testing.T, dur time.Duration) {
	ctx := context.Background()
	start := time.Now()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; time.Since(start) < dur; i++ {
		<-tick.C
		n := 20 + int(15*math.Sin(float64(i)/6)) + i%7
		reqs := make([]queue.Request, 0, n+2)
		for k := range n {
			reqs = append(reqs, queue.Request{Type: "email.send", Payload: map[string]int{"n": k}})
		}
		if i%4 == 0 {
			reqs = append(reqs, queue.Request{Type: "image.resize", Options: []queue.Option{queue.OnQueue("images"), queue.MaxRetries(5)}})
		}
		if _, _, err := d.client.EnqueueMany(ctx, reqs); err != nil {
			t.Fatal(err)
		}
	}
}

// testEveryPage opens every page of a full dashboard, checks that it loads without a
// console error, and takes its screenshot.
func testEveryPage(t *testing.T, b *browser) {
	start := time.Now()
	d := newDemo(t)
	t.Logf("demo data ready in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { t.Logf("pages done in %s", time.Since(start).Round(time.Millisecond)) })
	tb := b.tab(t)
	if screenshots() {
		// Still pictures: no animation caught half-way.
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	pages := []struct {
		name, path, wait string
	}{
		{"dashboard-overview", "/", `#live[data-state=live]`},
		{"dashboard-queues", "/queues", `[data-test=queue-emails]`},
		{"dashboard-jobs", "/jobs?queue=emails&state=pending", `[data-test=jobs-table]`},
		{"dashboard-jobs-dead", "/jobs?queue=reports&state=dead", `[data-test=jobs-table]`},
		{"dashboard-job-dead", "/jobs/" + d.deadJob, `[data-test=job-state].state-dead`},
		{"dashboard-job-active", "/jobs/" + d.activeJob, `[data-test=job-state].state-active`},
		{"dashboard-workers", "/workers", `[data-test=worker]`},
		{"dashboard-schedules", "/schedules", `[data-test=schedule-sync_invoices]`},
		{"dashboard-workflows", "/workflows", `[data-test=workflows-table]`},
		{"dashboard-workflow", "/workflows/" + d.runningWF, `[data-test=steps]`},
		{"dashboard-workflow-done", "/workflows/" + d.doneWF, `[data-test=workflow-status]`},
		{"dashboard-reports", "/reports", `[data-test=report-chart]`},
	}
	for _, p := range pages {
		tb.do("open "+p.path, chromedp.Navigate(d.base+p.path))
		tb.waitVisible(p.wait, 15*time.Second)
		if p.name == "dashboard-overview" && screenshots() {
			// Throughput for the charts' picture: half a minute of varying load, some of it
			// failing, which the workers run while the page watches.
			d.load(t, 30*time.Second)
			tb.do("chart drawn", chromedp.Poll[chromedp.Void](`document.querySelectorAll('[data-chart=rates] path.line').length > 0`))
		}
		if p.name == "dashboard-workers" || p.name == "dashboard-overview" {
			// Let the live numbers arrive before the picture.
			tb.do("live", chromedp.Poll[chromedp.Void](`document.body.dataset.lastSample > 0`))
		}
		tb.screenshot(p.name)
	}
	if !screenshots() {
		// The theme toggle works (the pictures below need it too).
		tb.do("toggle theme", chromedp.Click(chromedp.ID("theme-toggle")))
		if got := evalIn[string](tb, `document.documentElement.getAttribute('data-theme')`); got != "light" {
			t.Errorf("theme after one click: %q, want light", got)
		}
		tb.do("toggle theme", chromedp.Click(chromedp.ID("theme-toggle")), chromedp.Click(chromedp.ID("theme-toggle")))
		return
	}
	// The dark theme, chosen with the toggle, and a phone.
	tb.do("overview", chromedp.Navigate(d.base+"/"))
	tb.waitVisible(`#live[data-state=live]`, 10*time.Second)
	for evalIn[string](tb, `document.documentElement.getAttribute('data-theme') || 'system'`) != "dark" {
		tb.do("toggle theme", chromedp.Click(chromedp.ID("theme-toggle")))
	}
	tb.do("chart", chromedp.Poll[chromedp.Void](`document.querySelectorAll('[data-chart=depth] path.line').length > 0`))
	tb.screenshot("dashboard-overview-dark")
	tb.do("open job", chromedp.Navigate(d.base+"/jobs/"+d.deadJob))
	tb.waitVisible(`[data-test=job-state]`, 10*time.Second)
	tb.screenshot("dashboard-job-dark")
	tb.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(d.base+"/jobs?queue=emails&state=pending"))
	tb.waitVisible(`[data-test=jobs-table]`, 10*time.Second)
	tb.screenshot("dashboard-phone-dark")
	// Back to the system theme for the next tests.
	for evalIn[string](tb, `document.documentElement.getAttribute('data-theme') || 'system'`) != "system" {
		tb.do("toggle theme", chromedp.Click(chromedp.ID("theme-toggle")))
	}
	tb.do("reset", chromedp.EmulateReset())
}
