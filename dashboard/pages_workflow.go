package dashboard

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// workflowStats returns where the workflow counters come from, or nil.
func (d *Dashboard) workflowStats() WorkflowStats {
	if d.cfg.WorkflowStats != nil {
		return d.cfg.WorkflowStats
	}
	if s, ok := d.cfg.Workflows.(WorkflowStats); ok {
		return s
	}
	return nil
}

type workflowCountsView struct {
	Since     time.Time
	Accepted  int64
	Completed int64
	Failed    int64
	Canceled  int64
	Queued    int64
	Running   int64
}

func startOfDay(now time.Time) time.Time {
	y, m, day := now.Date()
	return time.Date(y, m, day, 0, 0, 0, 0, now.Location())
}

// workflowCountsToday returns today's workflow counters, or nil when no source gives them.
func (d *Dashboard) workflowCountsToday(ctx context.Context, now time.Time) (*workflowCountsView, error) {
	st := d.workflowStats()
	if st == nil {
		return nil, nil
	}
	c, err := st.CountsSince(ctx, startOfDay(now))
	if err != nil {
		return nil, fmt.Errorf("workflow counters: %w", err)
	}
	return &workflowCountsView{Since: c.Since, Accepted: c.Accepted, Completed: c.Completed, Failed: c.Failed,
		Canceled: c.Canceled, Queued: c.Queued, Running: c.Running}, nil
}

// workflowValues is the live form of the counters.
func (d *Dashboard) workflowValues(ctx context.Context, now time.Time) (map[string]any, error) {
	c, err := d.workflowCountsToday(ctx, now)
	if err != nil || c == nil {
		return nil, err
	}
	return map[string]any{
		"wf.accepted": c.Accepted, "wf.completed": c.Completed, "wf.failed": c.Failed,
		"wf.canceled": c.Canceled, "wf.queued": c.Queued, "wf.running": c.Running,
	}, nil
}

// ---- workflows ----

type workflowsPage struct {
	Rows      []workflowRow
	Status    string
	Type      string
	Agent     string
	Statuses  []store.Status
	Types     []string
	Cursor    string
	NextURL   string
	FirstURL  string
	Filtered  bool
	Counts    *workflowCountsView
	CountsErr string
}

type workflowRow struct {
	store.Workflow
	Duration string // from acceptance to finish (or so far)
	Progress int    // percent of steps finished
}

func (d *Dashboard) workflowsPage(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Workflows == nil {
		d.notFound(w, r, "This dashboard has no workflow service: it was started without a workflow store.")
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	p := &workflowsPage{
		Status: q.Get("status"), Type: q.Get("type"), Agent: strings.TrimSpace(q.Get("agent")), Cursor: q.Get("cursor"),
		Statuses: store.Statuses(),
	}
	for _, t := range d.cfg.Workflows.Types() {
		p.Types = append(p.Types, t.Name)
	}
	p.Filtered = p.Status != "" || p.Type != "" || p.Agent != ""
	page, err := d.cfg.Workflows.List(ctx, store.ListFilter{
		Status: store.Status(p.Status), Type: p.Type, AgentID: p.Agent, Limit: d.cfg.PageSize, Cursor: p.Cursor,
	})
	if err != nil {
		if _, ok := workflow.AsInputError(err); ok || errors.Is(err, store.ErrInvalid) {
			d.badRequest(w, r, err.Error())
			return
		}
		d.failed(w, r, "list the workflows", err)
		return
	}
	now := time.Now()
	for _, wf := range page.Workflows {
		p.Rows = append(p.Rows, workflowRow{Workflow: wf, Duration: totalDuration(wf, now), Progress: progress(wf)})
	}
	base := url.Values{}
	for k, v := range map[string]string{"status": p.Status, "type": p.Type, "agent": p.Agent} {
		if v != "" {
			base.Set(k, v)
		}
	}
	p.FirstURL = d.prefix + "/workflows?" + base.Encode()
	if page.NextCursor != "" {
		base.Set("cursor", page.NextCursor)
		p.NextURL = d.prefix + "/workflows?" + base.Encode()
	}
	p.Counts, err = d.workflowCountsToday(ctx, now)
	if err != nil {
		p.CountsErr = d.problem("count today's workflows", err)
	}
	d.renderView(w, r, "workflows", &view{Title: "Workflows", Live: "?", Page: p})
}

// workflowSig changes with each attempt and each finished step, and with each change of a
// graph's released steps (a try started or failed).
func workflowSig(wf store.Workflow) int {
	h := fnv.New32a()
	for _, r := range wf.Runs {
		fmt.Fprintf(h, "%d/%d/%s/%d;", r.Index, r.Attempt, r.State, r.Tries)
	}
	return wf.Attempts*10000 + wf.CurrentStep + int(h.Sum32()%100000)*1000000
}

// totalDuration is the time from acceptance to finish, or so far while the workflow is not
// finished.
func totalDuration(wf store.Workflow, now time.Time) string {
	if wf.FinishedAt.IsZero() {
		return formatDuration(now.Sub(wf.CreatedAt)) + " so far"
	}
	return formatDuration(wf.TotalDuration())
}

// lastAttemptDuration is how long the running attempt has run so far, or else how long the
// latest finished one ran; "" before any attempt.
func lastAttemptDuration(wf store.Workflow, now time.Time) string {
	m, ok := wf.LastAttempt()
	switch {
	case wf.Status == store.StatusRunning && !wf.StartedAt.IsZero() && (!ok || m.Attempt < wf.Attempts):
		return formatDuration(now.Sub(wf.StartedAt)) + " so far"
	case ok:
		return formatDuration(m.Duration)
	}
	return ""
}

func progress(wf store.Workflow) int {
	if wf.TotalSteps <= 0 {
		if wf.Status == store.StatusCompleted {
			return 100
		}
		return 0
	}
	return min(100, wf.CurrentStep*100/wf.TotalSteps)
}

// ---- one workflow ----

type workflowPage struct {
	W           store.Workflow
	Steps       []stepRow
	LastAttempt string // how long the latest attempt ran (or has run so far)
	Total       string // from acceptance to finish (or so far)
	Progress    int
	Inputs      string
	Cancelable  bool
	Retriable   bool
	// Sig is what the live stream sends for this workflow (see hub.itemState): when it
	// changes, the page reloads.
	Sig int
	// Graph is the drawing of a graph type's steps (nil for a sequence).
	Graph *graphView
}

type stepRow struct {
	Index    int
	Name     string
	Kind     string
	State    string // done, running, waiting, failed, canceled; for a graph also ready, retrying, stopped
	Tries    int    // a graph step's tries so far
	Error    string // a graph step's last failed try
	Finished time.Time
	Output   string
}

func (d *Dashboard) workflowPage(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Workflows == nil {
		d.notFound(w, r, "This dashboard has no workflow service.")
		return
	}
	id := r.PathValue("id")
	wf, err := d.cfg.Workflows.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		d.notFound(w, r, "There is no workflow "+id+": it may have been cleaned up.")
		return
	}
	if err != nil {
		d.failed(w, r, "read workflow "+id, err)
		return
	}
	now := time.Now()
	p := &workflowPage{
		W: wf, LastAttempt: lastAttemptDuration(wf, now), Total: totalDuration(wf, now), Progress: progress(wf), Inputs: prettyJSON(wf.Inputs),
		Cancelable: wf.Status == store.StatusQueued || wf.Status == store.StatusRunning,
		Retriable:  wf.Status == store.StatusFailed || wf.Status == store.StatusCanceled,
	}
	types := d.cfg.Workflows.Types()
	p.Steps = stepRows(wf, types)
	if typ := typeOf(wf, types); typ.Graph() {
		p.Graph = layoutGraph(typ, p.Steps)
	}
	p.Sig = workflowSig(wf)
	live := ""
	if !wf.Status.Final() {
		live = "?workflow=" + url.QueryEscape(wf.ID)
	}
	d.renderView(w, r, "workflow", &view{Title: "Workflow " + wf.ID, Nav: "workflows", Live: live, Page: p})
}

// stepRows lists the steps of the workflow's type with how far each got.
func stepRows(wf store.Workflow, types []workflow.Type) []stepRow {
	typ := typeOf(wf, types)
	specs := typ.Steps
	n := max(len(specs), wf.TotalSteps)
	rows := make([]stepRow, n)
	for i := range rows {
		rows[i] = stepRow{Index: i + 1, Name: fmt.Sprintf("step %d", i+1), State: "waiting"}
		if i < len(specs) {
			rows[i].Name, rows[i].Kind = specs[i].Name, specs[i].Kind
		}
		switch {
		case typ.Graph():
		case i < wf.CurrentStep:
			rows[i].State = "done"
		case i == wf.CurrentStep && wf.Status == store.StatusRunning:
			rows[i].State = "running"
		case i == wf.CurrentStep && (wf.Status == store.StatusFailed || wf.Status == store.StatusCanceled):
			rows[i].State = string(wf.Status)
		}
	}
	for _, r := range wf.Runs {
		if r.Index >= 0 && r.Index < n && r.Attempt == wf.Attempts {
			rows[r.Index].State, rows[r.Index].Tries, rows[r.Index].Error = runState(wf, r), r.Tries, r.Error
		}
	}
	for _, s := range wf.Steps {
		if s.Index >= 0 && s.Index < n {
			rows[s.Index].State = "done"
			rows[s.Index].Finished = s.FinishedAt
			rows[s.Index].Output = prettyJSON(s.Output)
			if s.Name != "" {
				rows[s.Index].Name = s.Name
			}
		}
	}
	return rows
}

// typeOf returns the type of wf among types (no steps when it is not there).
func typeOf(wf store.Workflow, types []workflow.Type) workflow.Type {
	for _, t := range types {
		if t.Name == wf.Type {
			return t
		}
	}
	return workflow.Type{Name: wf.Type}
}

// runState is how a released step of graph workflow wf is shown: ready, running, retrying
// (its last try failed and its job runs it again) while the workflow runs; failed, or
// stopped (by the cancel, or by another branch's failure) once it ended.
func runState(wf store.Workflow, r store.StepRun) string {
	switch {
	case r.State == store.StepFailed && wf.Status == store.StatusRunning:
		return "retrying"
	case r.State == store.StepFailed:
		return "failed"
	case wf.Status.Final():
		return "stopped"
	}
	return string(r.State)
}

func (d *Dashboard) cancelWorkflow(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Workflows == nil {
		d.notFound(w, r, "This dashboard has no workflow service.")
		return
	}
	id := r.PathValue("id")
	back := d.prefix + "/workflows/" + url.PathEscape(id)
	st, err := d.cfg.Workflows.Cancel(r.Context(), id)
	if err != nil {
		d.workflowActionFailed(w, r, "cancel workflow "+id, err, back)
		return
	}
	d.log.Info("dashboard: workflow canceled", "id", id, "status", st)
	d.done(w, r, back, "ok", "Workflow "+id+" canceled.")
}

func (d *Dashboard) retryWorkflow(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Workflows == nil {
		d.notFound(w, r, "This dashboard has no workflow service.")
		return
	}
	id := r.PathValue("id")
	back := d.prefix + "/workflows/" + url.PathEscape(id)
	wf, err := d.cfg.Workflows.Retry(r.Context(), id)
	if err != nil {
		d.workflowActionFailed(w, r, "retry workflow "+id, err, back)
		return
	}
	d.log.Info("dashboard: workflow retried", "id", id)
	msg := fmt.Sprintf("Workflow %s retried: it is queued again and resumes at step %d.", id, wf.CurrentStep+1)
	d.done(w, r, back, "ok", msg)
}

func (d *Dashboard) workflowActionFailed(w http.ResponseWriter, r *http.Request, what string, err error, back string) {
	_, input := workflow.AsInputError(err)
	if input || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		d.done(w, r, back, "error", "Could not "+what+": "+d.redact(err.Error()))
		return
	}
	d.failed(w, r, what, err)
}

// ---- reports ----

type reportsPage struct {
	Reports  []store.WeeklyReport
	Selected *store.WeeklyReport
	Days     []dayBar
	Chart    *barChart
	StatsErr string
}

type dayBar struct {
	Day       time.Time
	Summary   store.Summary
	Completed int64
	Failed    int64
	Other     int64
}

// barChart is the geometry of the by-day chart, computed here so that the template only
// draws rectangles.
type barChart struct {
	Width, Height int
	Left          float64
	Max           int64
	Bars          []bar
	Ticks         []tick
}

type bar struct {
	X, W                    float64
	Label                   string
	Title                   string
	Completed, Failed, Rest rect
}

type rect struct{ Y, H float64 }

type tick struct {
	Y     float64
	Label string
}

// reportWeeks is how many weeks back the reports page looks for reports.
const reportWeeks = 12

func (d *Dashboard) reportsPage(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Workflows == nil {
		d.notFound(w, r, "This dashboard has no workflow service.")
		return
	}
	ctx := r.Context()
	p := &reportsPage{}
	latest, err := d.cfg.Workflows.Report(ctx, "")
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		d.failed(w, r, "read the weekly reports", err)
		return
	default:
		p.Reports = append(p.Reports, latest)
		start := latest.Summary.From
		if start.IsZero() {
			start, _ = store.ParseISOWeek(latest.Week)
		}
		for i := 1; i < reportWeeks; i++ {
			week := store.ISOWeek(start.AddDate(0, 0, -7*i+3))
			rep, err := d.cfg.Workflows.Report(ctx, week)
			if err == nil && rep.Week != latest.Week {
				p.Reports = append(p.Reports, rep)
			}
		}
	}
	want := r.URL.Query().Get("week")
	for i := range p.Reports {
		if p.Reports[i].Week == want || (want == "" && i == 0) {
			p.Selected = &p.Reports[i]
		}
	}
	if p.Selected != nil {
		if st := d.workflowStats(); st != nil {
			p.Days, err = d.days(ctx, st, p.Selected.Summary.From, p.Selected.Summary.To)
			if err != nil {
				p.StatsErr = d.problem("read the daily figures", err)
			}
			p.Chart = chartDays(p.Days)
		}
	}
	d.renderView(w, r, "reports", &view{Title: "Reports", Page: p})
}

// days summarizes [from, to) one calendar day (UTC) at a time: at most 8 queries.
func (d *Dashboard) days(ctx context.Context, st WorkflowStats, from, to time.Time) ([]dayBar, error) {
	if from.IsZero() || !to.After(from) {
		return nil, nil
	}
	var out []dayBar
	for day := from; day.Before(to) && len(out) < 8; {
		next := startOfDay(day.UTC()).AddDate(0, 0, 1)
		if next.After(to) {
			next = to
		}
		s, err := st.Summarize(ctx, day, next)
		if err != nil {
			return out, fmt.Errorf("summarize %s: %w", day.Format("2006-01-02"), err)
		}
		out = append(out, dayBar{Day: day, Summary: s, Completed: s.Completed, Failed: s.Failed,
			Other: max(s.Total-s.Completed-s.Failed, 0)})
		day = next
	}
	return out, nil
}

func chartDays(days []dayBar) *barChart {
	if len(days) == 0 {
		return nil
	}
	const left, bottom, top = 44.0, 28.0, 10.0
	c := &barChart{Width: 960, Height: 240, Left: left}
	plotH := float64(c.Height) - bottom - top
	for _, d := range days {
		c.Max = max(c.Max, d.Completed+d.Failed+d.Other)
	}
	scaleMax, step := niceScale(c.Max)
	slot := (float64(c.Width) - left - 8) / float64(len(days))
	for i, d := range days {
		b := bar{X: left + float64(i)*slot + slot*0.15, W: slot * 0.7, Label: d.Day.UTC().Format("Mon 2")}
		y := float64(c.Height) - bottom
		h := func(n int64) float64 { return float64(n) / float64(scaleMax) * plotH }
		b.Completed = rect{Y: y - h(d.Completed), H: h(d.Completed)}
		y -= h(d.Completed)
		b.Failed = rect{Y: y - h(d.Failed), H: h(d.Failed)}
		y -= h(d.Failed)
		b.Rest = rect{Y: y - h(d.Other), H: h(d.Other)}
		b.Title = fmt.Sprintf("%s: %d completed, %d failed, %d other; savings %s", d.Day.UTC().Format("Mon Jan 2"),
			d.Completed, d.Failed, d.Other, formatMoney(d.Summary.TotalSavings))
		c.Bars = append(c.Bars, b)
	}
	for v := int64(0); v <= scaleMax; v += step {
		c.Ticks = append(c.Ticks, tick{Y: float64(c.Height) - bottom - float64(v)/float64(scaleMax)*plotH, Label: formatInt(v)})
	}
	return c
}

// niceScale returns the top of a y axis that must reach n, and the step between its ticks:
// the step is 1, 2 or 5 times a power of ten (at least 1), chosen for at most four intervals,
// and the top a whole number of steps, so that every tick label is a round number.
func niceScale(n int64) (top, step int64) {
	n = max(n, 1)
	raw := float64(n) / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step = int64(math.Ceil(10 * p))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw {
			step = int64(math.Ceil(m * p))
			break
		}
	}
	step = max(step, 1)
	return (n + step - 1) / step * step, step
}

// ---- schedules ----

type schedulesPage struct {
	Schedules []queue.ScheduleInfo
}

func (d *Dashboard) schedulesPage(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Schedules == nil {
		d.notFound(w, r, "This dashboard has no scheduler: it was started without schedules.")
		return
	}
	list, err := d.cfg.Schedules.List(r.Context())
	if err != nil {
		d.failed(w, r, "list the schedules", err)
		return
	}
	slices.SortFunc(list, func(a, b queue.ScheduleInfo) int { return strings.Compare(a.Name, b.Name) })
	d.renderView(w, r, "schedules", &view{Title: "Schedules", Page: &schedulesPage{Schedules: list}})
}

func (d *Dashboard) setSchedule(w http.ResponseWriter, r *http.Request, enabled bool) {
	if d.cfg.Schedules == nil {
		d.notFound(w, r, "This dashboard has no scheduler.")
		return
	}
	name := r.PathValue("name")
	back := d.prefix + "/schedules"
	if err := d.cfg.Schedules.SetEnabled(r.Context(), name, enabled); err != nil {
		if errors.Is(err, queue.ErrUnknownSchedule) {
			d.done(w, r, back, "error", d.redact(err.Error()))
			return
		}
		d.failed(w, r, "change schedule "+name, err)
		return
	}
	word := "disabled: it enqueues nothing until it is enabled again."
	if enabled {
		word = "enabled: it enqueues a job at each tick."
	}
	d.log.Info("dashboard: schedule changed", "schedule", name, "enabled", enabled)
	d.done(w, r, back, "ok", "Schedule "+name+" "+word)
}

func (d *Dashboard) enableSchedule(w http.ResponseWriter, r *http.Request) { d.setSchedule(w, r, true) }
func (d *Dashboard) disableSchedule(w http.ResponseWriter, r *http.Request) {
	d.setSchedule(w, r, false)
}

func (d *Dashboard) runSchedule(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Schedules == nil {
		d.notFound(w, r, "This dashboard has no scheduler.")
		return
	}
	name := r.PathValue("name")
	job, err := d.cfg.Schedules.RunNow(r.Context(), name)
	if err != nil {
		if errors.Is(err, queue.ErrUnknownSchedule) {
			d.done(w, r, d.prefix+"/schedules", "error", d.redact(err.Error()))
			return
		}
		d.failed(w, r, "run schedule "+name, err)
		return
	}
	d.log.Info("dashboard: schedule run now", "schedule", name, "job", job.ID)
	d.done(w, r, d.prefix+"/schedules", "ok", "Schedule "+name+" run now: job "+job.ID+" enqueued on queue "+job.Queue+".")
}
