package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// POST /api/chat
func (a *API) chat(w http.ResponseWriter, r *http.Request) {
	body, e := readJSONBody(w, r, MaxBodyBytes)
	if e != nil {
		writeError(w, e)
		return
	}
	req, e := decodeChat(body)
	if e != nil {
		writeError(w, e)
		return
	}
	if req.Mode == workflow.ModePreview {
		sav, err := a.engine.Preview(req)
		if err != nil {
			a.engineError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, PreviewView{Mode: req.Mode, AgentID: req.AgentID, WorkflowType: req.Type, Savings: sav})
		return
	}
	if req.IdempotencyKey, e = idempotencyKey(r); e != nil {
		writeError(w, e)
		return
	}
	acc, err := a.engine.Submit(r.Context(), req)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	id := acc.Workflow.ID
	w.Header().Set("Location", statusURL(id))
	if acc.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, AcceptedView{
		WorkflowID: id, JobID: acc.JobID, Status: string(acc.Workflow.Status), StatusURL: statusURL(id),
		Enqueued: acc.Enqueued, Savings: acc.Savings,
	})
}

// idempotencyKey reads the request's Idempotency-Key header: at most one, of 1 to
// store.MaxIdempotencyKey printable ASCII characters.
func idempotencyKey(r *http.Request) (string, *Error) {
	vals := r.Header.Values("Idempotency-Key")
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", badRequest(CodeInvalidHeader, "Idempotency-Key", "send one Idempotency-Key header, not %d", len(vals))
	}
	key := vals[0]
	if key == "" || len(key) > store.MaxIdempotencyKey || strings.IndexFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		return "", badRequest(CodeInvalidHeader, "Idempotency-Key",
			"Idempotency-Key must be 1 to %d printable ASCII characters without spaces (a UUID is a good key)", store.MaxIdempotencyKey)
	}
	return key, nil
}

// listParams are the query parameters of GET /api/workflows.
var listParams = []string{"status", "type", "agent", "limit", "cursor"}

// GET /api/workflows?status=&type=&agent=&limit=&cursor=
func (a *API) listWorkflows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := checkParams(q, listParams); e != nil {
		writeError(w, e)
		return
	}
	f := store.ListFilter{
		Status:  store.Status(q.Get("status")),
		Type:    q.Get("type"),
		AgentID: q.Get("agent"),
		Cursor:  q.Get("cursor"),
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxListLimit {
			writeError(w, badRequest(CodeInvalidParameter, "limit", "limit must be a whole number from 1 to %d", store.MaxListLimit))
			return
		}
		f.Limit = n
	}
	page, err := a.engine.List(r.Context(), f)
	if err != nil {
		if f.Cursor != "" && errors.Is(err, store.ErrInvalid) {
			writeError(w, badRequest(CodeInvalidParameter, "cursor", "cursor is not one this API returned: start again without it"))
			return
		}
		a.engineError(w, r, err)
		return
	}
	out := ListView{Workflows: make([]WorkflowView, 0, len(page.Workflows)), NextCursor: page.NextCursor}
	for _, wf := range page.Workflows {
		out.Workflows = append(out.Workflows, workflowView(wf, false))
	}
	if page.NextCursor != "" {
		next := url.Values{}
		for _, k := range listParams {
			if v := q.Get(k); v != "" && k != "cursor" {
				next.Set(k, v)
			}
		}
		next.Set("cursor", page.NextCursor)
		out.NextURL = "/api/workflows?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

// checkParams refuses query parameters that are not in allowed, or given twice.
func checkParams(q url.Values, allowed []string) *Error {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return badRequest(CodeInvalidParameter, httpx.Clip(k), "unknown query parameter %q; accepted: %s", httpx.Clip(k), strings.Join(allowed, ", "))
		}
		if len(q[k]) > 1 {
			return badRequest(CodeInvalidParameter, k, "query parameter %q is given %d times; give it once", k, len(q[k]))
		}
	}
	return nil
}

// GET /api/workflows/{id}
func (a *API) getWorkflow(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		writeError(w, e)
		return
	}
	wf, err := a.engine.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, workflowView(wf, true))
}

// POST /api/workflows/{id}/cancel
func (a *API) cancelWorkflow(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := a.engine.Cancel(r.Context(), id)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, StatusView{WorkflowID: id, Status: string(st), StatusURL: statusURL(id)})
}

// POST /api/workflows/{id}/retry
func (a *API) retryWorkflow(w http.ResponseWriter, r *http.Request) {
	wf, err := a.engine.Retry(r.Context(), r.PathValue("id"))
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	w.Header().Set("Location", statusURL(wf.ID))
	writeJSON(w, http.StatusAccepted, acceptedView(wf))
}

// acceptedView is the answer about a retried workflow wf.
func acceptedView(wf store.Workflow) AcceptedView {
	return AcceptedView{
		WorkflowID: wf.ID, JobID: wf.JobID, Status: string(wf.Status), StatusURL: statusURL(wf.ID),
		Enqueued: wf.Enqueued(), Savings: storedSavings(wf),
	}
}

// TypeView is one workflow type. Step settings that may hold secrets (URLs, headers, HMAC
// secrets, recipients) are not shown: an http step shows its method and host only.
type TypeView struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Steps       []StepSpec `json:"steps"`
	// Notify lists the type's notify rules, their channels without secrets, URLs' paths or
	// addresses.
	Notify []NotifyView `json:"notify,omitempty"`
}

// NotifyView is one notify rule of a type.
type NotifyView struct {
	On       []string      `json:"on"`
	Channels []ChannelView `json:"channels"`
}

// ChannelView is one channel of a notify rule: its kind, and the host it sends to (webhook,
// slack, sms) or its number of recipients (email, sms).
type ChannelView struct {
	Kind       string `json:"kind"`
	Host       string `json:"host,omitempty"`
	Recipients int    `json:"recipients,omitempty"`
}

// notifyViews describes rules for the API.
func notifyViews(rules []workflow.NotifyRule) []NotifyView {
	var out []NotifyView
	for _, r := range rules {
		v := NotifyView{On: r.On, Channels: make([]ChannelView, 0, len(r.Channels))}
		for _, ch := range r.Channels {
			v.Channels = append(v.Channels, ChannelView{Kind: ch.Kind, Host: ch.Host(), Recipients: len(ch.To)})
		}
		out = append(out, v)
	}
	return out
}

// StepSpec is the public description of one step of a type.
type StepSpec struct {
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	DurationMS float64 `json:"duration_ms,omitempty"` // delay steps
	Method     string  `json:"method,omitempty"`      // http steps
	Host       string  `json:"host,omitempty"`        // http steps
	Recipients int     `json:"recipients,omitempty"`  // email steps
	TimeoutMS  float64 `json:"timeout_ms,omitempty"`
}

// GET /api/workflow-types
func (a *API) workflowTypes(w http.ResponseWriter, r *http.Request) {
	types := a.engine.Types()
	out := struct {
		WorkflowTypes []TypeView `json:"workflow_types"`
	}{WorkflowTypes: make([]TypeView, 0, len(types))}
	for _, t := range types {
		tv := TypeView{Name: t.Name, Description: t.Description, Steps: make([]StepSpec, 0, len(t.Steps)),
			Notify: notifyViews(t.Notify)}
		for _, s := range t.Steps {
			sv := StepSpec{Name: s.Name, Kind: s.Kind, TimeoutMS: ms(s.Timeout)}
			switch s.Kind {
			case workflow.KindDelay:
				sv.DurationMS = ms(s.Duration)
			case workflow.KindHTTP:
				sv.Method = s.Method
				if u, err := url.Parse(s.URL); err == nil {
					sv.Host = u.Hostname()
				}
			case workflow.KindEmail:
				sv.Recipients = len(s.To)
			}
			tv.Steps = append(tv.Steps, sv)
		}
		out.WorkflowTypes = append(out.WorkflowTypes, tv)
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /api/reports/weekly[?week=YYYY-Www]
func (a *API) weeklyReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := checkParams(q, []string{"week"}); e != nil {
		writeError(w, e)
		return
	}
	week := q.Get("week")
	rep, err := a.engine.Report(r.Context(), week)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			msg := "no weekly report has been generated yet"
			if week != "" {
				msg = "no weekly report for week " + week
			}
			writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg})
			return
		}
		a.engineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, workflow.ViewReport(rep))
}

// GET /healthz: the process is alive and serving.
func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyView answers /readyz.
type ReadyView struct {
	Status string            `json:"status"` // "ready" or "not_ready"
	Checks map[string]string `json:"checks"` // "ok" or the reason
	Error  *Error            `json:"error,omitempty"`
}

// GET /readyz: every dependency (store, queue) answers within the probe's deadline; 503 with
// the reason otherwise.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	results := make([]error, len(a.checks))
	var wg sync.WaitGroup
	for i, c := range a.checks {
		wg.Go(func() {
			start := time.Now()
			results[i] = c.Ping(ctx)
			if results[i] == nil && ctx.Err() != nil {
				results[i] = ctx.Err()
			}
			if results[i] != nil && time.Since(start) >= a.timeout {
				results[i] = errors.New("no answer within " + a.timeout.String())
			}
		})
	}
	wg.Wait()
	out := ReadyView{Status: "ready", Checks: make(map[string]string, len(a.checks))}
	var reasons []string
	for i, c := range a.checks {
		if err := results[i]; err != nil {
			out.Checks[c.Name] = err.Error()
			reasons = append(reasons, c.Name+": "+err.Error())
			continue
		}
		out.Checks[c.Name] = "ok"
	}
	if len(reasons) == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	out.Status = "not_ready"
	out.Error = &Error{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Message: strings.Join(reasons, "; ")}
	writeJSON(w, http.StatusServiceUnavailable, out)
}
