package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

// ---- overview ----

type overviewPage struct {
	Queues    []queue.QueueStats
	Totals    map[queue.State]int64
	Processed int64
	Failed    int64
	Workers   int
	Busy      int
	Workflows *workflowCountsView
	WFError   string
	// Unserved are the queues with pending jobs that no live worker serves.
	Unserved []queue.QueueStats
	// RateProcessed and RateFailed are the jobs per second over the last slot of the
	// workers' history ("—" without one), until the live samples replace them.
	RateProcessed, RateFailed string
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	stats, err := d.cfg.Queues.Queues(ctx)
	if err != nil {
		d.failed(w, r, "read the queue statistics", err)
		return
	}
	p := &overviewPage{Queues: stats, Totals: map[queue.State]int64{}}
	for _, q := range stats {
		for _, st := range queue.States {
			p.Totals[st] += q.Count(st)
		}
		p.Processed += q.Processed
		p.Failed += q.Failed
	}
	if ws, err := d.cfg.Queues.Workers(ctx); err == nil {
		p.Workers = len(ws)
		for _, w := range ws {
			p.Busy += len(w.Jobs)
		}
		p.Unserved = queue.Unserved(stats, ws)
	}
	p.RateProcessed, p.RateFailed = d.recentRates(ctx, time.Now())
	if d.cfg.Workflows != nil {
		c, err := d.workflowCountsToday(ctx, time.Now())
		if err != nil {
			p.WFError = d.problem("count today's workflows", err)
		} else {
			p.Workflows = c
		}
	}
	d.renderView(w, r, "overview", &view{Title: "Overview", Live: "?charts", Page: p})
}

// recentRates are the jobs processed and failed per second over the last slot of the
// broker's history, formatted as the live samples format them, or "—" without such a slot.
func (d *Dashboard) recentRates(ctx context.Context, now time.Time) (processed, failed string) {
	samples, err := d.cfg.Queues.History(ctx, now.Add(-3*queue.HistorySlot))
	if pts := historyPoints(samples); err == nil && len(pts) > 0 {
		if last := pts[len(pts)-1]; last.Processed != nil {
			return strconv.FormatFloat(*last.Processed, 'f', 1, 64), strconv.FormatFloat(*last.Failed, 'f', 1, 64)
		}
	}
	return "—", "—"
}

// ---- queues ----

type queuesPage struct {
	Queues []queueRow
	// Unserved are the queues with pending jobs that no live worker serves.
	Unserved []queue.QueueStats
}

type queueRow struct {
	queue.QueueStats
	Total   int64
	Latency string
}

func (d *Dashboard) queuesPage(w http.ResponseWriter, r *http.Request) {
	stats, err := d.cfg.Queues.Queues(r.Context())
	if err != nil {
		d.failed(w, r, "read the queue statistics", err)
		return
	}
	now := time.Now()
	p := &queuesPage{}
	for _, q := range stats {
		row := queueRow{QueueStats: q, Latency: latency(q, now)}
		for _, st := range queue.States {
			row.Total += q.Count(st)
		}
		p.Queues = append(p.Queues, row)
	}
	if ws, err := d.cfg.Queues.Workers(r.Context()); err == nil {
		p.Unserved = queue.Unserved(stats, ws)
	}
	d.renderView(w, r, "queues", &view{Title: "Queues", Live: "?", Page: p})
}

// ---- jobs ----

type jobsPage struct {
	Queue   string
	State   queue.State
	Stats   queue.QueueStats
	Queues  []queue.QueueStats
	Known   bool // the queue exists
	Jobs    []*queue.Job
	Count   int64 // jobs in this state (from the statistics, never counted here)
	Offset  int
	First   int // 1-based number of the first job shown
	Last    int
	Page    int
	Pages   int64
	PrevURL string
	NextURL string
	LastURL string
	BaseURL string
	Here    string

	Query string
	// A search by type scans a bounded window of the state's jobs.
	Search     bool
	ScanFrom   int
	ScanTo     int
	ScanMore   string
	Retriable  bool
	Cancelable bool // the state's jobs can be canceled all at once (pending, scheduled, retry)
	Deletable  bool
}

// maxPage bounds the page parameter of the jobs list.
const maxPage = 1_000_000

// boundedInt parses a query parameter as a whole number from lo to hi; empty is lo.
func boundedInt(s string, lo, hi int) (int, bool) {
	if s == "" {
		return lo, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// scanWindow bounds the jobs one search by type reads.
const scanWindow = 5000

func (d *Dashboard) jobsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	stats, err := d.cfg.Queues.Queues(ctx)
	if err != nil {
		d.failed(w, r, "read the queue statistics", err)
		return
	}
	p := &jobsPage{Queue: q.Get("queue"), State: queue.StatePending, Queues: stats, Query: strings.TrimSpace(q.Get("q"))}
	if s := q.Get("state"); s != "" {
		st, err := queue.ParseState(s)
		if err != nil {
			d.badRequest(w, r, err.Error())
			return
		}
		p.State = st
	}
	if p.Queue == "" {
		p.Queue = queue.DefaultQueue
		if len(stats) > 0 && !slices.ContainsFunc(stats, func(s queue.QueueStats) bool { return s.Name == queue.DefaultQueue }) {
			p.Queue = stats[0].Name
		}
	}
	page, ok := boundedInt(q.Get("page"), 1, maxPage)
	if !ok {
		d.badRequest(w, r, fmt.Sprintf("page must be a whole number from 1 to %d.", maxPage))
		return
	}
	p.paginate(stats, page, d.cfg.PageSize)
	p.BaseURL = d.jobsURL(p.Queue, p.State, 0, "")
	p.Here = r.URL.RequestURI()

	if p.Query != "" {
		size := d.cfg.PageSize
		// An ID goes straight to its job.
		if job, err := d.cfg.Queues.Get(ctx, p.Query); err == nil {
			http.Redirect(w, r, d.prefix+"/jobs/"+url.PathEscape(job.ID), http.StatusSeeOther)
			return
		}
		p.Search = true
		from, ok := boundedInt(q.Get("from"), 0, maxPage*size)
		if !ok {
			d.badRequest(w, r, fmt.Sprintf("from must be a whole number from 0 to %d.", maxPage*size))
			return
		}
		d.searchByType(ctx, p, from)
		d.renderView(w, r, "jobs", &view{Title: "Jobs · " + p.Queue, Nav: "jobs", Live: "?queue=" + url.QueryEscape(p.Queue), Page: p})
		return
	}
	if err := d.listJobs(ctx, p); err != nil {
		d.failed(w, r, "list the jobs", err)
		return
	}
	// The page's stream pushes the list again when the queue changes (hub.pushRows).
	live := "?" + url.Values{"queue": {p.Queue}, "state": {string(p.State)}, "page": {strconv.Itoa(p.Page)}}.Encode()
	d.renderView(w, r, "jobs", &view{Title: "Jobs · " + p.Queue, Nav: "jobs", Live: live, Page: p})
}

// paginate sets what the statistics say of the page of p's queue and state: the count, the
// page (page, or the last one when past the end), its offset, and the bulk actions.
func (p *jobsPage) paginate(stats []queue.QueueStats, page, size int) {
	for _, s := range stats {
		if s.Name == p.Queue {
			p.Stats, p.Known = s, true
		}
	}
	p.Count = p.Stats.Count(p.State)
	p.Pages = max((p.Count+int64(size)-1)/int64(size), 1)
	p.Page = int(min(int64(page), p.Pages)) // past the end: the last page
	p.Offset = (p.Page - 1) * size
	p.Retriable = p.State == queue.StateDead || p.State == queue.StateCanceled || p.State == queue.StateRetry
	p.Cancelable = bulkCancelable(p.State)
	p.Deletable = p.State != queue.StateActive
}

// listJobs reads the jobs of p's page (paginated) and sets the links around them.
func (d *Dashboard) listJobs(ctx context.Context, p *jobsPage) error {
	size := d.cfg.PageSize
	if p.Known && p.Count > 0 && int64(p.Offset) < p.Count {
		jobs, err := d.cfg.Queues.List(ctx, p.Queue, p.State, p.Offset, size)
		if err != nil {
			return err
		}
		p.Jobs = jobs
	}
	if len(p.Jobs) > 0 {
		p.First, p.Last = p.Offset+1, p.Offset+len(p.Jobs)
	}
	if p.Page > 1 {
		p.PrevURL = d.jobsURL(p.Queue, p.State, p.Page-1, "")
	}
	if int64(p.Offset+len(p.Jobs)) < p.Count && len(p.Jobs) == size {
		p.NextURL = d.jobsURL(p.Queue, p.State, p.Page+1, "")
		p.LastURL = d.jobsURL(p.Queue, p.State, int(p.Pages), "")
	}
	return nil
}

// searchByType reads at most scanWindow jobs of the state from offset from, and keeps those
// whose type contains the query, up to a page of them.
func (d *Dashboard) searchByType(ctx context.Context, p *jobsPage, from int) {
	const chunk = 500
	size := d.cfg.PageSize
	p.ScanFrom, p.ScanTo = from, from
	for p.ScanTo < from+scanWindow && len(p.Jobs) < size && int64(p.ScanTo) < p.Count {
		jobs, err := d.cfg.Queues.List(ctx, p.Queue, p.State, p.ScanTo, chunk)
		if err != nil || len(jobs) == 0 {
			break
		}
		for i, j := range jobs {
			if strings.Contains(j.Type, p.Query) {
				p.Jobs = append(p.Jobs, j)
				if len(p.Jobs) == size {
					jobs = jobs[:i+1]
					break
				}
			}
		}
		p.ScanTo += len(jobs)
	}
	if int64(p.ScanTo) < p.Count {
		p.ScanMore = d.jobsURL(p.Queue, p.State, 0, "q="+url.QueryEscape(p.Query)+"&from="+strconv.Itoa(p.ScanTo))
	}
}

func (d *Dashboard) jobsURL(q string, st queue.State, page int, extra string) string {
	u := d.prefix + "/jobs?queue=" + url.QueryEscape(q) + "&state=" + string(st)
	if page > 1 {
		u += "&page=" + strconv.Itoa(page)
	}
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// ---- one job ----

type jobPage struct {
	Job        *queue.Job
	Timeline   []timelineEntry
	Attempts   []queue.AttemptError
	Workflow   string // ID of the related workflow, when known
	ListURL    string
	Final      bool
	Retriable  bool
	Cancelable bool
	Deletable  bool
	Running    string // how long the current attempt has run
}

type timelineEntry struct {
	At    time.Time
	State string
	Note  string
}

func (d *Dashboard) jobPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	job, err := d.cfg.Queues.Get(ctx, id)
	if errors.Is(err, queue.ErrJobNotFound) {
		d.notFound(w, r, "There is no job "+id+": it may have been deleted, or it finished and its result expired.")
		return
	}
	if err != nil {
		d.failed(w, r, "read job "+id, err)
		return
	}
	st := job.State
	p := &jobPage{
		Job: job, Timeline: timeline(job), ListURL: d.jobsURL(job.Queue, st, 0, ""),
		Final:      st == queue.StateCompleted || st == queue.StateDead || st == queue.StateCanceled,
		Retriable:  st == queue.StateDead || st == queue.StateCanceled || st == queue.StateRetry || st == queue.StateScheduled,
		Cancelable: st == queue.StatePending || st == queue.StateScheduled || st == queue.StateRetry || st == queue.StateWaiting || (st == queue.StateActive && !job.CancelRequested),
		Deletable:  st != queue.StateActive,
	}
	p.Attempts = slices.Clone(job.Errors)
	slices.Reverse(p.Attempts) // latest first
	if st == queue.StateActive && !job.StartedAt.IsZero() {
		p.Running = formatDuration(time.Since(job.StartedAt))
	}
	if d.cfg.Workflows != nil {
		p.Workflow = d.relatedWorkflow(ctx, job)
	}
	live := ""
	if !p.Final {
		live = "?job=" + url.QueryEscape(job.ID)
	}
	d.renderView(w, r, "job", &view{Title: "Job " + job.ID, Nav: "jobs", Live: live, Page: p})
}

// relatedWorkflow finds the workflow a job runs: its payload's workflow_id, or the job's own
// ID (workflows are enqueued with their ID as the job ID).
func (d *Dashboard) relatedWorkflow(ctx context.Context, job *queue.Job) string {
	var p struct {
		WorkflowID string `json:"workflow_id"`
	}
	if json.Unmarshal(job.Payload, &p) == nil && p.WorkflowID != "" {
		return p.WorkflowID
	}
	if strings.Contains(job.Type, "workflow") {
		if _, err := d.cfg.Workflows.Get(ctx, job.ID); err == nil {
			return job.ID
		}
	}
	return ""
}

// timeline is what is known of the job's history, oldest first: enqueued, each failed
// attempt, the last retry by hand (Retry or "Retry all"), the current attempt's start, the end.
func timeline(j *queue.Job) []timelineEntry {
	var t []timelineEntry
	if !j.EnqueuedAt.IsZero() {
		note := "on queue " + j.Queue
		if j.State == queue.StateScheduled && !j.RunAt.IsZero() {
			note += ", to run at " + formatTime(j.RunAt)
		}
		t = append(t, timelineEntry{At: j.EnqueuedAt, State: "enqueued", Note: note})
	}
	for _, e := range j.Errors {
		t = append(t, timelineEntry{At: e.At, State: "failed", Note: fmt.Sprintf("attempt %d: %s", e.Attempt, firstLine(e.Error))})
	}
	if !j.RetriedAt.IsZero() {
		t = append(t, timelineEntry{At: j.RetriedAt, State: "retried", Note: "sent back to pending by hand, attempts reset"})
	}
	if !j.StartedAt.IsZero() && j.Attempt > 0 { // attempt 0: retried, not started since
		note := fmt.Sprintf("attempt %d", j.Attempt)
		if j.WorkerID != "" {
			note += " on worker " + j.WorkerID
		}
		t = append(t, timelineEntry{At: j.StartedAt, State: "active", Note: note})
	}
	switch j.State {
	case queue.StateRetry:
		t = append(t, timelineEntry{At: j.RunAt, State: "retry", Note: "next attempt " + ago(j.RunAt)})
	case queue.StateCompleted, queue.StateDead, queue.StateCanceled:
		at := j.FinishedAt
		t = append(t, timelineEntry{At: at, State: string(j.State)})
	}
	slices.SortStableFunc(t, func(a, b timelineEntry) int {
		if a.At.IsZero() || b.At.IsZero() {
			return 0
		}
		return a.At.Compare(b.At)
	})
	return t
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return line
}

// ---- workers ----

type workersPage struct {
	Workers []workerRow
	Busy    int
}

type workerRow struct {
	queue.WorkerInfo
	Running []runningRow
}

type runningRow struct {
	ID    string
	Type  string
	Since string
}

// maxRunningLookups bounds the jobs the workers page reads to show their type.
const maxRunningLookups = 100

func (d *Dashboard) workersPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ws, err := d.cfg.Queues.Workers(ctx)
	if err != nil {
		d.failed(w, r, "list the workers", err)
		return
	}
	p := &workersPage{}
	lookups := 0
	for _, wi := range ws {
		row := workerRow{WorkerInfo: wi}
		p.Busy += len(wi.Jobs)
		ids := slices.Clone(wi.Jobs)
		slices.Sort(ids)
		for _, id := range ids {
			rr := runningRow{ID: id}
			if lookups < maxRunningLookups {
				lookups++
				if job, err := d.cfg.Queues.Get(ctx, id); err == nil {
					rr.Type = job.Type
					if !job.StartedAt.IsZero() {
						rr.Since = formatDuration(time.Since(job.StartedAt))
					}
				}
			}
			row.Running = append(row.Running, rr)
		}
		p.Workers = append(p.Workers, row)
	}
	slices.SortFunc(p.Workers, func(a, b workerRow) int { return cmp.Compare(a.ID, b.ID) })
	d.renderView(w, r, "workers", &view{Title: "Workers", Live: "?", Page: p})
}

// ---- actions on jobs ----

func (d *Dashboard) retryJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	back := d.prefix + "/jobs/" + url.PathEscape(id)
	res, err := workflow.RetryJob(r.Context(), d.cfg.Queues, d.cfg.Workflows, id)
	switch {
	case errors.Is(err, workflow.ErrWorkflowJob):
		d.done(w, r, d.back(r, back), "error", "Job "+id+" runs workflow "+res.WorkflowID+": retry the workflow, where the workflow service runs.")
	case err != nil && res.WorkflowID != "":
		d.workflowActionFailed(w, r, "retry workflow "+res.WorkflowID+" (job "+id+" runs it)", err, back)
	case err != nil:
		d.actionFailed(w, r, "retry job "+id, err, back)
	case res.Workflow != nil:
		wf := res.Workflow
		d.log.Info("dashboard: workflow retried from its job", "id", wf.ID, "job", id)
		msg := fmt.Sprintf("Job %s runs workflow %s: the workflow was retried. It is queued again (job %s) and resumes at step %d.", id, wf.ID, wf.JobID, wf.CurrentStep+1)
		d.done(w, r, d.prefix+"/workflows/"+url.PathEscape(wf.ID), "ok", msg)
	default:
		d.log.Info("dashboard: job retried", "id", id)
		d.done(w, r, d.back(r, back), "ok", "Job "+id+" retried: it is pending and runs again with its attempts reset.")
	}
}

func (d *Dashboard) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := d.cfg.Queues.Cancel(r.Context(), id)
	if err != nil {
		d.actionFailed(w, r, "cancel job "+id, err, d.prefix+"/jobs/"+url.PathEscape(id))
		return
	}
	d.log.Info("dashboard: job canceled", "id", id, "state", st)
	msg := "Job " + id + " canceled."
	if st == queue.StateActive {
		msg = "Cancellation requested: job " + id + " is running; its handler has been told to stop and the job ends as canceled."
	}
	d.done(w, r, d.back(r, d.prefix+"/jobs/"+url.PathEscape(id)), "ok", msg)
}

func (d *Dashboard) deleteJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	job, err := d.cfg.Queues.Get(ctx, id)
	if err != nil {
		d.actionFailed(w, r, "delete job "+id, err, d.prefix+"/jobs")
		return
	}
	if !d.confirmed(w, r, "Delete job "+id+" ("+job.Type+", "+string(job.State)+")? Its payload, result and history are removed for good.", "Delete job", true) {
		return
	}
	if err := d.cfg.Queues.Delete(ctx, id); err != nil {
		d.actionFailed(w, r, "delete job "+id, err, d.prefix+"/jobs/"+url.PathEscape(id))
		return
	}
	d.log.Info("dashboard: job deleted", "id", id)
	d.done(w, r, d.jobsURL(job.Queue, job.State, 0, ""), "ok", "Job "+id+" deleted.")
}

// actionFailed reports a failed action on the page it came from, or as an error page when the
// broker itself failed.
func (d *Dashboard) actionFailed(w http.ResponseWriter, r *http.Request, what string, err error, back string) {
	switch {
	case errors.Is(err, queue.ErrJobNotFound), errors.Is(err, queue.ErrInvalidState), errors.Is(err, queue.ErrQueueNotFound),
		isUserError(err):
		d.done(w, r, d.back(r, back), "error", "Could not "+what+": "+d.redact(err.Error()))
	default:
		d.failed(w, r, what, err)
	}
}

// ---- actions on queues ----

func (d *Dashboard) queueStats(ctx context.Context, name string) (queue.QueueStats, bool, error) {
	stats, err := d.cfg.Queues.Queues(ctx)
	if err != nil {
		return queue.QueueStats{}, false, err
	}
	for _, s := range stats {
		if s.Name == name {
			return s, true, nil
		}
	}
	return queue.QueueStats{Name: name}, false, nil
}

func (d *Dashboard) pauseQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("queue")
	if err := d.cfg.Queues.Pause(r.Context(), name); err != nil {
		d.actionFailed(w, r, "pause queue "+name, err, d.prefix+"/queues")
		return
	}
	d.log.Info("dashboard: queue paused", "queue", name)
	d.done(w, r, d.back(r, d.prefix+"/queues"), "ok", "Queue "+name+" paused: workers start none of its jobs until it is resumed; running jobs finish.")
}

func (d *Dashboard) resumeQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("queue")
	if err := d.cfg.Queues.Resume(r.Context(), name); err != nil {
		d.actionFailed(w, r, "resume queue "+name, err, d.prefix+"/queues")
		return
	}
	d.log.Info("dashboard: queue resumed", "queue", name)
	d.done(w, r, d.back(r, d.prefix+"/queues"), "ok", "Queue "+name+" resumed: workers take its jobs again.")
}

// emptyQueue deletes a queue with every job in it.
func (d *Dashboard) emptyQueue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("queue")
	s, known, err := d.queueStats(ctx, name)
	if err != nil {
		d.failed(w, r, "read the queue statistics", err)
		return
	}
	if !known {
		d.done(w, r, d.prefix+"/queues", "error", "There is no queue "+name+".")
		return
	}
	var total int64
	for _, st := range queue.States {
		total += s.Count(st)
	}
	q := fmt.Sprintf("Empty queue %s? All %s %s in it are deleted, with its counters.", name, formatInt(total), plural(total, "job", "jobs"))
	if s.Active > 0 {
		q += fmt.Sprintf(" The %s running %s finish, but their outcome is not recorded.", formatInt(s.Active), plural(s.Active, "job", "jobs"))
	}
	if !d.confirmed(w, r, q, "Empty queue", true) {
		return
	}
	if err := d.cfg.Queues.RemoveQueue(ctx, name); err != nil {
		d.actionFailed(w, r, "empty queue "+name, err, d.prefix+"/queues")
		return
	}
	n := total
	d.log.Info("dashboard: queue emptied", "queue", name, "jobs", n)
	d.done(w, r, d.back(r, d.prefix+"/queues"), "ok", fmt.Sprintf("Queue %s emptied: %s %s deleted.", name, formatInt(n), plural(n, "job", "jobs")))
}

func (d *Dashboard) bulkTarget(w http.ResponseWriter, r *http.Request) (string, queue.State, queue.QueueStats, bool) {
	name := r.PathValue("queue")
	st, err := queue.ParseState(r.PathValue("state"))
	if err != nil {
		d.badRequest(w, r, err.Error())
		return "", "", queue.QueueStats{}, false
	}
	s, _, err := d.queueStats(r.Context(), name)
	if err != nil {
		d.failed(w, r, "read the queue statistics", err)
		return "", "", queue.QueueStats{}, false
	}
	return name, st, s, true
}

func (d *Dashboard) retryAll(w http.ResponseWriter, r *http.Request) {
	name, st, s, ok := d.bulkTarget(w, r)
	if !ok {
		return
	}
	if st != queue.StateDead && st != queue.StateCanceled && st != queue.StateRetry {
		d.badRequest(w, r, "Only dead, canceled and retry jobs can be retried all at once, not "+string(st)+" ones.")
		return
	}
	n := s.Count(st)
	if !d.confirmed(w, r, fmt.Sprintf("Retry all %s %s %s of queue %s? They go back to pending and run again; a workflow's job has its workflow retried instead.", formatInt(n), st, plural(n, "job", "jobs"), name), "Retry all", false) {
		return
	}
	back := d.jobsURL(name, st, 0, "")
	res, err := workflow.RetryJobs(r.Context(), d.cfg.Queues, d.cfg.Workflows, name, st)
	if errors.Is(err, workflow.ErrWorkflowJob) {
		d.done(w, r, back, "error", "Some of these jobs run workflows: retry the workflows, where the workflow service runs. Nothing was retried.")
		return
	}
	if err != nil {
		d.actionFailed(w, r, "retry the "+string(st)+" jobs of queue "+name, err, back)
		return
	}
	d.log.Info("dashboard: jobs retried", "queue", name, "state", st, "jobs", res.Jobs, "workflows", len(res.Workflows), "skipped", len(res.Skipped))
	d.done(w, r, back, "ok", bulkRetryMessage(res))
}

// bulkRetryMessage says what a "Retry all" did.
func bulkRetryMessage(res workflow.BulkRetry) string {
	msg := fmt.Sprintf("%s %s retried.", formatInt(int64(res.Jobs)), plural(int64(res.Jobs), "job", "jobs"))
	if k := int64(len(res.Workflows)); k > 0 {
		msg += fmt.Sprintf(" %s %s of workflow jobs retried: %s run again under new jobs.", formatInt(k), plural(k, "workflow", "workflows"), plural(k, "it", "they"))
	}
	if k := int64(len(res.Skipped)); k > 0 {
		msg += fmt.Sprintf(" %s %s not retried (retried already, or no longer failed).", formatInt(k), plural(k, "workflow", "workflows"))
	}
	return msg
}

// bulkCancelable reports whether the jobs of state st can be canceled all at once: those that
// are waiting (a running job is canceled one by one, from its page).
func bulkCancelable(st queue.State) bool {
	return st == queue.StatePending || st == queue.StateScheduled || st == queue.StateRetry ||
		st == queue.StateWaiting
}

func (d *Dashboard) cancelAll(w http.ResponseWriter, r *http.Request) {
	name, st, s, ok := d.bulkTarget(w, r)
	if !ok {
		return
	}
	if !bulkCancelable(st) {
		d.badRequest(w, r, "Only pending, scheduled, retry and waiting jobs can be canceled all at once, not "+string(st)+" ones.")
		return
	}
	n := s.Count(st)
	if !d.confirmed(w, r, fmt.Sprintf("Cancel all %s %s %s of queue %s? They will not run; running jobs are not affected.", formatInt(n), st, plural(n, "job", "jobs"), name), "Yes, cancel all", true) {
		return
	}
	k, err := d.cfg.Queues.CancelAll(r.Context(), name, st)
	if err != nil {
		d.actionFailed(w, r, "cancel the "+string(st)+" jobs of queue "+name, err, d.jobsURL(name, st, 0, ""))
		return
	}
	d.log.Info("dashboard: jobs canceled", "queue", name, "state", st, "jobs", k)
	d.done(w, r, d.jobsURL(name, st, 0, ""), "ok", fmt.Sprintf("%s %s canceled.", formatInt(k), plural(k, "job", "jobs")))
}

func (d *Dashboard) deleteAll(w http.ResponseWriter, r *http.Request) {
	name, st, s, ok := d.bulkTarget(w, r)
	if !ok {
		return
	}
	if st == queue.StateActive {
		d.badRequest(w, r, "Running jobs cannot be deleted; cancel them instead.")
		return
	}
	n := s.Count(st)
	if !d.confirmed(w, r, fmt.Sprintf("Delete all %s %s %s of queue %s? They are removed for good.", formatInt(n), st, plural(n, "job", "jobs"), name), "Delete all", true) {
		return
	}
	k, err := d.cfg.Queues.DeleteAll(r.Context(), name, st)
	if err != nil {
		d.actionFailed(w, r, "delete the "+string(st)+" jobs of queue "+name, err, d.jobsURL(name, st, 0, ""))
		return
	}
	d.log.Info("dashboard: jobs deleted", "queue", name, "state", st, "jobs", k)
	d.done(w, r, d.jobsURL(name, st, 0, ""), "ok", fmt.Sprintf("%s %s deleted.", formatInt(k), plural(k, "job", "jobs")))
}

// isUserError reports whether err is about the request (a bad name, a job in the wrong state)
// rather than a failure of the broker.
func isUserError(err error) bool {
	return errors.Is(err, queue.ErrInvalidJob)
}

// batchPage shows a batch: its jobs counted by state, whether it is sealed and finished, and
// links to its callbacks.
func (d *Dashboard) batchPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s, err := d.cfg.Queues.Batch(r.Context(), id)
	if errors.Is(err, queue.ErrBatchNotFound) {
		d.notFound(w, r, "There is no batch "+id+": it may never have existed, or it finished more than a week ago.")
		return
	}
	if err != nil {
		d.failed(w, r, "read batch "+id, err)
		return
	}
	live := ""
	if !s.Finished() {
		live = "?batch=" + url.QueryEscape(id)
	}
	d.renderView(w, r, "batch", &view{Title: "Batch " + id, Nav: "jobs", Live: live, Page: s})
}

// batchState is what the batch page's head says: open, sealed or finished. The page reloads
// when it changes, and shows the counts in place meanwhile.
func batchState(s queue.BatchStatus) string {
	switch {
	case s.Finished():
		return "finished"
	case s.Sealed:
		return "sealed"
	}
	return "open"
}
