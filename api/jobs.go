package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

// Schedules is what GET /api/schedules needs of the scheduler (*queue.Scheduler).
type Schedules interface {
	List(ctx context.Context) ([]queue.ScheduleInfo, error)
}

// Paging of GET /api/jobs.
const (
	defaultJobListLimit = 100
	maxJobListLimit     = 1000
)

// jobRoutes registers the job and queue routes on route, and their 405 answers in allow.
func (a *API) jobRoutes(route func(method, path string, h http.HandlerFunc), allow map[string]string) {
	route("POST", "/api/jobs", a.enqueueJobs)
	route("GET", "/api/jobs", a.listJobs)
	route("GET", "/api/jobs/{id}", a.getJob)
	route("DELETE", "/api/jobs/{id}", a.deleteJob)
	route("POST", "/api/jobs/{id}/cancel", a.cancelJob)
	route("POST", "/api/jobs/{id}/retry", a.retryJob)
	route("GET", "/api/queues", a.listQueues)
	route("POST", "/api/queues/{queue}/pause", a.pauseQueue)
	route("POST", "/api/queues/{queue}/resume", a.resumeQueue)
	route("GET", "/api/workers", a.listWorkers)
	route("GET", "/api/schedules", a.listSchedules)
	route("GET", "/api/batches/{id}", a.getBatch)
	for path, methods := range map[string]string{
		"/api/jobs": "GET, HEAD, POST", "/api/jobs/{id}": "GET, HEAD, DELETE",
		"/api/jobs/{id}/cancel": "POST", "/api/jobs/{id}/retry": "POST",
		"/api/queues": "GET, HEAD", "/api/queues/{queue}/pause": "POST", "/api/queues/{queue}/resume": "POST",
		"/api/workers": "GET, HEAD", "/api/schedules": "GET, HEAD", "/api/batches/{id}": "GET, HEAD",
	} {
		allow[path] = methods
	}
}

// POST /api/jobs: one job object, or {"jobs":[…]}.
func (a *API) enqueueJobs(w http.ResponseWriter, r *http.Request) {
	body, e := readJSONBody(w, r, MaxJobsBodyBytes)
	if e != nil {
		writeError(w, e)
		return
	}
	jobs, batch, e := decodeJobs(body, time.Now())
	if e != nil {
		writeError(w, e)
		return
	}
	reqs := make([]queue.Request, len(jobs))
	for i, j := range jobs {
		reqs[i] = queue.Request{Type: j.Type, Payload: j.Payload, Options: j.Options}
	}
	stored, errs, err := a.queue.EnqueueMany(r.Context(), reqs)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	out := EnqueueListView{Jobs: make([]EnqueuedView, len(stored))}
	for i, j := range stored {
		v := EnqueuedView{ID: j.ID, Queue: j.Queue, Type: j.Type}
		switch {
		case errs[i] == nil:
			v.Enqueued, v.State, v.StatusURL = true, string(j.State), jobURL(j.ID)
			out.Enqueued++
		case errors.Is(errs[i], queue.ErrDuplicateJob):
			v.Error = &Error{Status: http.StatusConflict, Code: CodeDuplicateID, Field: "id",
				Message: "a job with id " + j.ID + " already exists; nothing was stored"}
			out.Duplicates++
		case errors.Is(errs[i], queue.ErrDuplicateUnique):
			v.Error = &Error{Status: http.StatusConflict, Code: CodeDuplicateUnique, Field: "unique_key",
				Message: "a live job on queue " + j.Queue + " holds this unique key; nothing was stored"}
			out.Duplicates++
		case errors.Is(errs[i], queue.ErrParentNotFound):
			v.Error = &Error{Status: http.StatusUnprocessableEntity, Code: CodeParentNotFound, Field: "depends_on",
				Message: "a job it depends on does not exist (never enqueued, deleted, or past its result TTL); nothing was stored: " + errs[i].Error()}
			out.Refused++
		case errors.Is(errs[i], queue.ErrUnsupported):
			v.Error = &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnsupported, Field: "depends_on",
				Message: "this broker cannot link the job to a parent on another queue; nothing was stored: " + errs[i].Error()}
			out.Refused++
		default:
			a.queueError(w, r, fmt.Errorf("enqueue job %s: %w", j.ID, errs[i]))
			return
		}
		out.Jobs[i] = v
	}
	if batch {
		writeJSON(w, http.StatusCreated, out)
		return
	}
	if v := out.Jobs[0]; v.Error != nil {
		writeError(w, v.Error)
		return
	}
	w.Header().Set("Location", out.Jobs[0].StatusURL)
	writeJSON(w, http.StatusCreated, out.Jobs[0])
}

// GET /api/jobs/{id}
func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		writeError(w, e)
		return
	}
	job, err := a.queue.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jobView(job, true))
}

// POST /api/jobs/{id}/cancel
func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := a.queue.Cancel(r.Context(), id)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, JobStateView{ID: id, State: string(st)})
}

// POST /api/jobs/{id}/retry: a plain job goes back to pending; a workflow's dead or
// canceled job has its workflow retried (workflow.RetryJob), as POST /api/workflows/{id}/retry
// does, and is itself left as it is.
func (a *API) retryJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	res, err := workflow.RetryJob(r.Context(), a.queue, a.engine, id)
	switch {
	case err != nil && res.WorkflowID != "": // the job runs a workflow, whose retry failed
		a.engineError(w, r, err)
	case err != nil:
		a.queueError(w, r, err)
	case res.Workflow != nil:
		wf := acceptedView(*res.Workflow)
		writeJSON(w, http.StatusOK, JobStateView{ID: id, State: string(res.State), Workflow: &wf})
	default:
		writeJSON(w, http.StatusOK, JobStateView{ID: id, State: string(res.State)})
	}
}

// DELETE /api/jobs/{id}
func (a *API) deleteJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.queue.Delete(r.Context(), id); err != nil {
		a.queueError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, JobStateView{ID: id, State: "deleted"})
}

// jobListParams are the query parameters of GET /api/jobs.
var jobListParams = []string{"queue", "state", "limit", "cursor"}

// GET /api/jobs?queue=&state=&limit=&cursor=: the jobs of one queue (default "default") in
// one state, or in every state in the order of queue.States, oldest first.
func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, e := parseJobList(q)
	if e != nil {
		writeError(w, e)
		return
	}
	out := JobListView{Jobs: []JobView{}}
	for si := f.state; si < len(queue.States) && len(out.Jobs) < f.limit; si++ {
		if f.oneState && si != f.state {
			break
		}
		off := 0
		if si == f.state {
			off = f.offset
		}
		want := f.limit - len(out.Jobs)
		jobs, err := a.queue.List(r.Context(), f.queue, queue.States[si], off, want)
		if err != nil {
			a.queueError(w, r, err)
			return
		}
		for _, j := range jobs {
			out.Jobs = append(out.Jobs, jobView(j, false))
		}
		if len(jobs) == want {
			out.NextCursor = fmt.Sprintf("%s.%d", queue.States[si], off+len(jobs))
		}
	}
	if out.NextCursor != "" {
		next := url.Values{}
		for _, k := range jobListParams {
			if v := q.Get(k); v != "" && k != "cursor" {
				next.Set(k, v)
			}
		}
		next.Set("cursor", out.NextCursor)
		out.NextURL = "/api/jobs?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

// jobList is a parsed GET /api/jobs query: where the page starts.
type jobList struct {
	queue    string
	state    int // index in queue.States
	oneState bool
	offset   int
	limit    int
}

func parseJobList(q url.Values) (jobList, *Error) {
	f := jobList{queue: queue.DefaultQueue, limit: defaultJobListLimit}
	if e := checkParams(q, jobListParams); e != nil {
		return f, e
	}
	if s := q.Get("queue"); s != "" {
		if e := checkName(s, "queue", ""); e != nil {
			return f, e
		}
		f.queue = s
	}
	if s := q.Get("state"); s != "" {
		st, err := queue.ParseState(s)
		if err != nil {
			return f, badRequest(workflow.CodeInvalid, "state", "unknown job state %q (valid: %s)", httpx.Clip(s), stateNames())
		}
		f.state, f.oneState = slices.Index(queue.States, st), true
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxJobListLimit {
			return f, badRequest(CodeInvalidParameter, "limit", "limit must be a whole number from 1 to %d", maxJobListLimit)
		}
		f.limit = n
	}
	if s := q.Get("cursor"); s != "" {
		bad := badRequest(CodeInvalidParameter, "cursor", "cursor is not one this API returned: start again without it")
		name, num, ok := strings.Cut(s, ".")
		st, err := queue.ParseState(name)
		off, nerr := strconv.Atoi(num)
		if !ok || err != nil || nerr != nil || off < 0 || strconv.Itoa(off) != num {
			return f, bad
		}
		si := slices.Index(queue.States, st)
		if f.oneState && si != f.state {
			return f, bad
		}
		f.state, f.offset = si, off
	}
	return f, nil
}

func stateNames() string {
	names := make([]string, len(queue.States))
	for i, st := range queue.States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// GET /api/queues: every queue's statistics, as `dominion info --json` shows them.
func (a *API) listQueues(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		writeError(w, e)
		return
	}
	qs, err := a.queue.Queues(r.Context())
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	if qs == nil {
		qs = []queue.QueueStats{}
	}
	writeJSON(w, http.StatusOK, struct {
		Queues []queue.QueueStats `json:"queues"`
	}{qs})
}

// POST /api/queues/{queue}/pause
func (a *API) pauseQueue(w http.ResponseWriter, r *http.Request) { a.setPaused(w, r, true) }

// POST /api/queues/{queue}/resume
func (a *API) resumeQueue(w http.ResponseWriter, r *http.Request) { a.setPaused(w, r, false) }

func (a *API) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	name := r.PathValue("queue")
	if e := checkName(name, "queue", ""); e != nil {
		writeError(w, e)
		return
	}
	act := a.queue.Resume
	if paused {
		act = a.queue.Pause
	}
	if err := act(r.Context(), name); err != nil {
		a.queueError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Queue  string `json:"queue"`
		Paused bool   `json:"paused"`
	}{name, paused})
}

// GET /api/workers: the live workers and the jobs each is running.
func (a *API) listWorkers(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		writeError(w, e)
		return
	}
	ws, err := a.queue.Workers(r.Context())
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	out := struct {
		Workers []queue.WorkerInfo `json:"workers"`
	}{Workers: make([]queue.WorkerInfo, 0, len(ws))}
	for _, wk := range ws {
		wk.Queues, wk.Types, wk.Jobs = nonNil(wk.Queues), nonNil(wk.Types), nonNil(wk.Jobs)
		out.Workers = append(out.Workers, wk)
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /api/schedules: the schedules of this server's scheduler with their state.
func (a *API) listSchedules(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		writeError(w, e)
		return
	}
	out := struct {
		Schedules []ScheduleView `json:"schedules"`
	}{Schedules: []ScheduleView{}}
	if a.schedules != nil {
		infos, err := a.schedules.List(r.Context())
		if err != nil {
			a.queueError(w, r, err)
			return
		}
		for _, s := range infos {
			out.Schedules = append(out.Schedules, scheduleView(s))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// queueError answers for an error of the queue library: a missing job 404, a state that does
// not allow the action 409, an invalid job 400, anything else 500.
func (a *API) queueError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, queue.ErrJobNotFound):
		writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such job"})
	case errors.Is(err, queue.ErrQueueNotFound): // the message names the queue and those there are
		writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()})
	case errors.Is(err, queue.ErrInvalidState):
		writeError(w, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: a.stateConflict(r)})
	case errors.Is(err, queue.ErrInvalidJob):
		writeError(w, badRequest(workflow.CodeInvalid, "", "%s", strings.TrimPrefix(err.Error(), "enqueue many: ")))
	default:
		a.internalError(w, r, err)
	}
}

// stateConflict says why the job's state refused the action, naming the state.
func (a *API) stateConflict(r *http.Request) string {
	id := r.PathValue("id")
	action := "delete"
	if i := strings.LastIndexByte(r.URL.Path, '/'); r.Method == http.MethodPost && i >= 0 {
		action = r.URL.Path[i+1:]
	}
	msg := "cannot " + action + " job " + id
	if job, err := a.queue.Get(r.Context(), id); err == nil {
		msg += ": it is " + string(job.State)
	}
	return msg
}
