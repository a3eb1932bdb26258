// Package storetest is the test suite every store.Store backend passes.
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"))
//			...
//			return s
//		})
//	}
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/store"
)

// Run runs the suite. Every test runs in parallel with its own store from
// open, which must return a new, empty, migrated store (a fresh SQLite file,
// a fresh PostgreSQL database); Run closes it when the test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Migrate", testMigrate},
		{"CreateAndGet", testCreateAndGet},
		{"CreateValidation", testCreateValidation},
		{"List", testList},
		{"ListPagination", testListPagination},
		{"Outbox", testOutbox},
		{"Lifecycle", testLifecycle},
		{"RetryResumesAfterLastStep", testRetryResumes},
		{"TransitionGuards", testTransitionGuards},
		{"Cancel", testCancel},
		{"EveryAttemptHasAMetric", testEveryAttemptHasAMetric},
		{"InFlightAndAbandon", testInFlightAndAbandon},
		{"DeleteFinishedBefore", testDeleteFinishedBefore},
		{"Summarize", testSummarize},
		{"Reports", testReports},
		{"CountsSince", testCountsSince},
		{"ConcurrentCreateSameID", testConcurrentCreateSameID},
		{"IdempotencyKey", testIdempotencyKey},
		{"ConcurrentCreateSameKey", testConcurrentCreateSameKey},
		{"ConcurrentStartAttempt", testConcurrentStartAttempt},
		{"ConcurrentFinish", testConcurrentFinish},
		{"CancelRacesFinish", testCancelRacesFinish},
		{"ConcurrentRecordStep", testConcurrentRecordStep},
		{"ConcurrentWorkflows", testConcurrentWorkflows},
		{"ConcurrentCreateReadsBack", testConcurrentCreateReadsBack},
		{"Graph", testGraph},
		{"GraphRetry", testGraphRetry},
		{"ConcurrentFinishStep", testConcurrentFinishStep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// ---- helpers ----

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// waitClockPast returns once the wall clock, at the store's microsecond
// precision, is after t, so the next timestamp the store takes is later
// than t. It waits at most a few microseconds.
func waitClockPast(t time.Time) {
	for !now().After(t) {
		runtime.Gosched()
	}
}

func create(t *testing.T, s store.Store, nw store.NewWorkflow) store.Workflow {
	t.Helper()
	if nw.AgentID == "" {
		nw.AgentID = "agent-1"
	}
	if nw.Type == "" {
		nw.Type = "invoice_processing"
	}
	if nw.Mode == "" {
		nw.Mode = "execute"
	}
	w, err := s.CreateWorkflow(t.Context(), nw)
	if err != nil {
		t.Fatalf("CreateWorkflow(%+v): %v", nw, err)
	}
	return w
}

func get(t *testing.T, s store.Store, id string) store.Workflow {
	t.Helper()
	w, err := s.GetWorkflow(t.Context(), id)
	if err != nil {
		t.Fatalf("GetWorkflow(%s): %v", id, err)
	}
	return w
}

func start(t *testing.T, s store.Store, id string) store.Workflow {
	t.Helper()
	w, err := s.StartAttempt(t.Context(), id)
	if err != nil {
		t.Fatalf("StartAttempt(%s): %v", id, err)
	}
	return w
}

func finish(t *testing.T, s store.Store, id string, r store.Result) store.Workflow {
	t.Helper()
	w, err := s.FinishWorkflow(t.Context(), id, r)
	if err != nil {
		t.Fatalf("FinishWorkflow(%s, %+v): %v", id, r, err)
	}
	return w
}

func step(t *testing.T, s store.Store, id string, st store.Step) {
	t.Helper()
	if err := s.RecordStep(t.Context(), id, st); err != nil {
		t.Fatalf("RecordStep(%s, %+v): %v", id, st, err)
	}
}

// runTo creates a workflow and drives it to status (queued, running,
// completed, failed or canceled).
func runTo(t *testing.T, s store.Store, nw store.NewWorkflow, status store.Status) store.Workflow {
	t.Helper()
	w := create(t, s, nw)
	switch status {
	case store.StatusQueued:
		return w
	case store.StatusCanceled:
		if _, err := s.CancelWorkflow(t.Context(), w.ID); err != nil {
			t.Fatalf("CancelWorkflow: %v", err)
		}
		return get(t, s, w.ID)
	}
	w = start(t, s, w.ID)
	switch status {
	case store.StatusRunning:
		return w
	case store.StatusCompleted, store.StatusFailed:
		return finish(t, s, w.ID, store.Result{Attempt: w.Attempts, Status: status, Error: "boom", Duration: time.Second})
	}
	t.Fatalf("runTo: unknown status %q", status)
	return w
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// wantState checks err is a *store.StateError reporting status.
func wantState(t *testing.T, what string, err error, status store.Status) {
	t.Helper()
	var se *store.StateError
	if !errors.As(err, &se) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("%s: got error %v, want a *store.StateError (ErrConflict)", what, err)
	}
	if se.Status != status {
		t.Fatalf("%s: StateError reports status %s, want %s", what, se.Status, status)
	}
}

func jsonEqual(t *testing.T, what string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: stored JSON %q does not parse: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want JSON %q does not parse: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: got JSON %s, want %s", what, got, want)
	}
}

func wantTimeIn(t *testing.T, what string, got, lo, hi time.Time) {
	t.Helper()
	if got.Before(lo) || got.After(hi) || got.Location() != time.UTC {
		t.Fatalf("%s = %v, want a UTC time in [%v, %v]", what, got, lo, hi)
	}
}

func ids(ws []store.Workflow) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

// ---- tests ----

func testMigrate(t *testing.T, s store.Store) {
	ctx := t.Context()
	if d := s.Dialect(); d != "sqlite" && d != "postgres" {
		t.Fatalf("Dialect() = %q", d)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("Migrate after Open applied %v, want nothing (Open migrates)", applied)
	}
}

func testCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := now()
	inputs := json.RawMessage(`{"workflow_type":"invoice_processing","calculator_inputs":{"tasks_per_week":200,"time_per_task_minutes":10,"hourly_wage":25,"automation_percent":40}}`)
	w, err := s.CreateWorkflow(ctx, store.NewWorkflow{
		ID: "wf-1", AgentID: "agent-7", Type: "invoice_processing", Mode: "execute",
		Inputs: inputs, TotalSteps: 3, WeeklyHoursSaved: 13.333, WeeklySavings: 333.33,
	})
	if err != nil {
		t.Fatalf("CreateWorkflow: %v", err)
	}
	after := now()
	if w.ID != "wf-1" || w.AgentID != "agent-7" || w.Type != "invoice_processing" || w.Mode != "execute" ||
		w.Status != store.StatusQueued || w.CurrentStep != 0 || w.TotalSteps != 3 || w.Attempts != 0 ||
		w.Error != "" || w.JobID != "" || w.Enqueued() || w.WeeklyHoursSaved != 13.333 || w.WeeklySavings != 333.33 {
		t.Fatalf("created workflow = %+v", w)
	}
	jsonEqual(t, "Inputs", w.Inputs, inputs)
	wantTimeIn(t, "CreatedAt", w.CreatedAt, before, after)
	if !w.UpdatedAt.Equal(w.CreatedAt) || !w.StartedAt.IsZero() || !w.FinishedAt.IsZero() || !w.EnqueuedAt.IsZero() {
		t.Fatalf("created workflow times = %+v", w)
	}

	g := get(t, s, "wf-1")
	if g.Steps == nil || len(g.Steps) != 0 || g.Metrics == nil || len(g.Metrics) != 0 {
		t.Fatalf("GetWorkflow steps/metrics = %v / %v, want empty, non-nil", g.Steps, g.Metrics)
	}
	jsonEqual(t, "Get Inputs", g.Inputs, inputs)
	g.Steps, g.Metrics, g.Inputs, w.Inputs = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("GetWorkflow = %+v\nwant        %+v", g, w)
	}

	// Generated ids are unique; empty inputs are stored as {}.
	a := create(t, s, store.NewWorkflow{})
	b := create(t, s, store.NewWorkflow{})
	if a.ID == "" || b.ID == "" || a.ID == b.ID {
		t.Fatalf("generated ids %q, %q", a.ID, b.ID)
	}
	jsonEqual(t, "empty Inputs", a.Inputs, json.RawMessage(`{}`))

	_, err = s.GetWorkflow(ctx, "missing")
	wantErr(t, "GetWorkflow(missing)", err, store.ErrNotFound)
}

func testCreateValidation(t *testing.T, s store.Store) {
	ctx := t.Context()
	create(t, s, store.NewWorkflow{ID: "dup"})
	_, err := s.CreateWorkflow(ctx, store.NewWorkflow{ID: "dup", AgentID: "x", Type: "y"})
	wantErr(t, "duplicate id", err, store.ErrExists)

	for name, nw := range map[string]store.NewWorkflow{
		"no agent":       {Type: "t"},
		"blank agent":    {AgentID: "  ", Type: "t"},
		"no type":        {AgentID: "a"},
		"bad inputs":     {AgentID: "a", Type: "t", Inputs: json.RawMessage(`{"x":`)},
		"negative steps": {AgentID: "a", Type: "t", TotalSteps: -1},
	} {
		_, err := s.CreateWorkflow(ctx, nw)
		wantErr(t, name, err, store.ErrInvalid)
	}
	p, err := s.ListWorkflows(ctx, store.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Workflows) != 1 {
		t.Fatalf("invalid creates changed the store: %v", ids(p.Workflows))
	}
}

func testList(t *testing.T, s store.Store) {
	ctx := t.Context()
	type spec struct {
		agent, typ string
		status     store.Status
	}
	specs := []spec{
		{"a1", "invoice", store.StatusQueued},
		{"a1", "invoice", store.StatusCompleted},
		{"a1", "email", store.StatusFailed},
		{"a2", "invoice", store.StatusRunning},
		{"a2", "email", store.StatusCompleted},
		{"a2", "email", store.StatusCanceled},
		{"a3", "report", store.StatusCompleted},
	}
	all := map[string]spec{}
	for i, sp := range specs {
		w := runTo(t, s, store.NewWorkflow{ID: fmt.Sprintf("w%d", i), AgentID: sp.agent, Type: sp.typ}, sp.status)
		all[w.ID] = sp
	}
	check := func(f store.ListFilter, keep func(spec) bool) {
		t.Helper()
		p, err := s.ListWorkflows(ctx, f)
		if err != nil {
			t.Fatalf("ListWorkflows(%+v): %v", f, err)
		}
		var want []string
		for id, sp := range all {
			if keep(sp) {
				want = append(want, id)
			}
		}
		got := ids(p.Workflows)
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("ListWorkflows(%+v) = %v, want %v", f, got, want)
		}
		if p.NextCursor != "" {
			t.Fatalf("ListWorkflows(%+v): NextCursor %q on a single page", f, p.NextCursor)
		}
		for _, w := range p.Workflows {
			if w.Steps != nil || w.Metrics != nil {
				t.Fatalf("ListWorkflows fills steps/metrics: %+v", w)
			}
			sp := all[w.ID]
			if w.AgentID != sp.agent || w.Type != sp.typ || w.Status != sp.status {
				t.Fatalf("listed %+v, want %+v", w, sp)
			}
		}
	}
	check(store.ListFilter{}, func(spec) bool { return true })
	check(store.ListFilter{Status: store.StatusCompleted}, func(sp spec) bool { return sp.status == store.StatusCompleted })
	check(store.ListFilter{Status: store.StatusRunning}, func(sp spec) bool { return sp.status == store.StatusRunning })
	check(store.ListFilter{Type: "email"}, func(sp spec) bool { return sp.typ == "email" })
	check(store.ListFilter{AgentID: "a2"}, func(sp spec) bool { return sp.agent == "a2" })
	check(store.ListFilter{AgentID: "a1", Type: "invoice"}, func(sp spec) bool { return sp.agent == "a1" && sp.typ == "invoice" })
	check(store.ListFilter{AgentID: "a2", Type: "email", Status: store.StatusCompleted}, func(sp spec) bool {
		return sp.agent == "a2" && sp.typ == "email" && sp.status == store.StatusCompleted
	})
	check(store.ListFilter{AgentID: "nobody"}, func(spec) bool { return false })

	_, err := s.ListWorkflows(ctx, store.ListFilter{Status: "sleeping"})
	wantErr(t, "unknown status", err, store.ErrInvalid)
	_, err = s.ListWorkflows(ctx, store.ListFilter{Limit: -1})
	wantErr(t, "negative limit", err, store.ErrInvalid)
	for _, c := range []string{"!!!", "bm90LWEtY3Vyc29y", "MTIzfA"} {
		_, err = s.ListWorkflows(ctx, store.ListFilter{Cursor: c})
		wantErr(t, "bad cursor "+c, err, store.ErrInvalid)
	}
}

func testListPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 23
	var made []store.Workflow
	for i := range n {
		agent := "even"
		if i%2 == 1 {
			agent = "odd"
		}
		made = append(made, create(t, s, store.NewWorkflow{ID: fmt.Sprintf("p%02d", i), AgentID: agent}))
	}
	// Newest first; ties on created_at (same microsecond) broken by id.
	sort.Slice(made, func(i, j int) bool {
		if !made[i].CreatedAt.Equal(made[j].CreatedAt) {
			return made[i].CreatedAt.After(made[j].CreatedAt)
		}
		return made[i].ID > made[j].ID
	})
	walk := func(f store.ListFilter) []string {
		t.Helper()
		var got []string
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatalf("pagination does not end")
			}
			p, err := s.ListWorkflows(ctx, f)
			if err != nil {
				t.Fatalf("ListWorkflows(%+v): %v", f, err)
			}
			if len(p.Workflows) > f.Limit {
				t.Fatalf("page of %d, limit %d", len(p.Workflows), f.Limit)
			}
			got = append(got, ids(p.Workflows)...)
			if p.NextCursor == "" {
				return got
			}
			f.Cursor = p.NextCursor
		}
	}
	for _, limit := range []int{1, 5, 7, 23, 100} {
		got := walk(store.ListFilter{Limit: limit})
		if want := ids(made); !reflect.DeepEqual(got, want) {
			t.Fatalf("limit %d: pages = %v\nwant %v", limit, got, want)
		}
	}
	var odd []string
	for _, w := range made {
		if w.AgentID == "odd" {
			odd = append(odd, w.ID)
		}
	}
	if got := walk(store.ListFilter{AgentID: "odd", Limit: 4}); !reflect.DeepEqual(got, odd) {
		t.Fatalf("odd pages = %v, want %v", got, odd)
	}
	// Default and maximum limits.
	p, err := s.ListWorkflows(ctx, store.ListFilter{})
	if err != nil || len(p.Workflows) != n || p.NextCursor != "" {
		t.Fatalf("default limit: %d workflows, cursor %q, err %v", len(p.Workflows), p.NextCursor, err)
	}
	p, err = s.ListWorkflows(ctx, store.ListFilter{Limit: store.MaxListLimit * 10})
	if err != nil || len(p.Workflows) != n {
		t.Fatalf("huge limit: %d workflows, err %v", len(p.Workflows), err)
	}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := create(t, s, store.NewWorkflow{ID: "a"})
	b := create(t, s, store.NewWorkflow{ID: "b"})
	c := create(t, s, store.NewWorkflow{ID: "c"})
	pending := func(limit int) []string {
		t.Helper()
		ws, err := s.PendingEnqueue(ctx, limit)
		if err != nil {
			t.Fatalf("PendingEnqueue: %v", err)
		}
		got := ids(ws)
		if n, err := s.CountPendingEnqueue(ctx); err != nil || (limit <= 0 && n != int64(len(got))) {
			t.Fatalf("CountPendingEnqueue = %d (%v), PendingEnqueue lists %d", n, err, len(got))
		}
		return got
	}
	made := []store.Workflow{a, b, c}
	sort.SliceStable(made, func(i, j int) bool { // ties on created_at are broken by id
		if !made[i].CreatedAt.Equal(made[j].CreatedAt) {
			return made[i].CreatedAt.Before(made[j].CreatedAt)
		}
		return made[i].ID < made[j].ID
	})
	oldestFirst := ids(made)
	if got := pending(0); !reflect.DeepEqual(got, oldestFirst) {
		t.Fatalf("pending = %v, want %v", got, oldestFirst)
	}
	if got := pending(2); !reflect.DeepEqual(got, oldestFirst[:2]) {
		t.Fatalf("pending(2) = %v, want %v", got, oldestFirst[:2])
	}

	before := now()
	if err := s.MarkEnqueued(ctx, "a", "job-a"); err != nil {
		t.Fatalf("MarkEnqueued: %v", err)
	}
	ga := get(t, s, "a")
	if ga.JobID != "job-a" || !ga.Enqueued() || ga.Status != store.StatusQueued {
		t.Fatalf("after MarkEnqueued: %+v", ga)
	}
	wantTimeIn(t, "EnqueuedAt", ga.EnqueuedAt, before, now())
	// Idempotent: the first job id stays.
	if err := s.MarkEnqueued(ctx, "a", "job-other"); err != nil {
		t.Fatalf("MarkEnqueued again: %v", err)
	}
	if g := get(t, s, "a"); g.JobID != "job-a" || !g.EnqueuedAt.Equal(ga.EnqueuedAt) {
		t.Fatalf("second MarkEnqueued changed %+v", g)
	}
	if got := pending(0); reflect.DeepEqual(got, oldestFirst) || len(got) != 2 {
		t.Fatalf("pending after marking a = %v", got)
	}

	// A worker may start a job before the enqueuer marks it: it leaves the outbox.
	w := start(t, s, "b")
	if !w.Enqueued() {
		t.Fatalf("StartAttempt of an unmarked workflow left EnqueuedAt zero")
	}
	if err := s.MarkEnqueued(ctx, "b", "job-b"); err != nil {
		t.Fatalf("late MarkEnqueued: %v", err)
	}
	// A canceled workflow leaves the outbox.
	if _, err := s.CancelWorkflow(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := pending(0); len(got) != 0 {
		t.Fatalf("pending = %v, want none", got)
	}

	wantErr(t, "MarkEnqueued(missing)", s.MarkEnqueued(ctx, "missing", "j"), store.ErrNotFound)
	wantErr(t, "MarkEnqueued(empty job)", s.MarkEnqueued(ctx, "a", ""), store.ErrInvalid)
}

func testLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := create(t, s, store.NewWorkflow{ID: "life", TotalSteps: 3})
	if err := s.MarkEnqueued(ctx, w.ID, w.ID); err != nil {
		t.Fatal(err)
	}
	before := now()
	w = start(t, s, w.ID)
	if w.Status != store.StatusRunning || w.Attempts != 1 || w.CurrentStep != 0 || len(w.Steps) != 0 {
		t.Fatalf("started: %+v", w)
	}
	wantTimeIn(t, "StartedAt", w.StartedAt, before, now())

	names := []string{"fetch", "process", "notify"}
	for i, name := range names {
		var out json.RawMessage
		if i == 0 {
			out = json.RawMessage(`{"rows": 42}`)
		}
		step(t, s, w.ID, store.Step{Index: i, Name: name, Attempt: 1, Output: out})
		if g := get(t, s, w.ID); g.CurrentStep != i+1 || len(g.Steps) != i+1 || g.Status != store.StatusRunning {
			t.Fatalf("after step %d: %+v", i, g)
		}
	}
	before = now()
	f := finish(t, s, w.ID, store.Result{Attempt: 1, Status: store.StatusCompleted, Error: "ignored",
		Duration: 1500 * time.Millisecond, Savings: 33.33})
	after := now()
	if f.Status != store.StatusCompleted || f.Error != "" || f.CurrentStep != 3 || f.Attempts != 1 {
		t.Fatalf("finished: %+v", f)
	}
	wantTimeIn(t, "FinishedAt", f.FinishedAt, before, after)
	if len(f.Metrics) != 1 || len(f.Steps) != 3 {
		t.Fatalf("finish returned %d metrics, %d steps", len(f.Metrics), len(f.Steps))
	}

	g := get(t, s, w.ID)
	if g.JobID != "life" || !g.StartedAt.Equal(w.StartedAt) || !g.FinishedAt.Equal(f.FinishedAt) || g.UpdatedAt.Before(g.StartedAt) {
		t.Fatalf("stored: %+v", g)
	}
	for i, st := range g.Steps {
		if st.Index != i || st.Name != names[i] || st.Attempt != 1 || st.FinishedAt.IsZero() ||
			st.FinishedAt.After(g.FinishedAt) || st.FinishedAt.Location() != time.UTC {
			t.Fatalf("step %d = %+v", i, st)
		}
	}
	jsonEqual(t, "step 0 output", g.Steps[0].Output, json.RawMessage(`{"rows":42}`))
	if g.Steps[1].Output != nil {
		t.Fatalf("step 1 output = %q, want nil", g.Steps[1].Output)
	}
	m := g.Metrics[0]
	if m.ID == 0 || m.WorkflowID != w.ID || m.Attempt != 1 || m.Status != store.StatusCompleted ||
		m.Duration != 1500*time.Millisecond || m.Savings != 33.33 || !m.RecordedAt.Equal(g.FinishedAt) {
		t.Fatalf("metric = %+v", m)
	}
}

func testRetryResumes(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := create(t, s, store.NewWorkflow{ID: "r", TotalSteps: 3})
	if err := s.MarkEnqueued(ctx, w.ID, "job-1"); err != nil {
		t.Fatal(err)
	}
	start(t, s, w.ID)
	step(t, s, w.ID, store.Step{Index: 0, Name: "one", Attempt: 1})
	f := finish(t, s, w.ID, store.Result{Attempt: 1, Status: store.StatusFailed, Error: "smtp: connection refused", Duration: time.Second})
	if f.Status != store.StatusFailed || f.Error != "smtp: connection refused" || f.Metrics[0].Status != store.StatusFailed {
		t.Fatalf("failed: %+v", f)
	}

	r, err := s.RetryWorkflow(ctx, w.ID)
	if err != nil {
		t.Fatalf("RetryWorkflow: %v", err)
	}
	if r.Status != store.StatusQueued || r.Error != "" || !r.FinishedAt.IsZero() || r.Enqueued() || r.JobID != "" ||
		r.CurrentStep != 1 || r.Attempts != 1 || len(r.Steps) != 1 {
		t.Fatalf("after retry: %+v", r)
	}
	pending, err := s.PendingEnqueue(ctx, 0)
	if err != nil || !reflect.DeepEqual(ids(pending), []string{w.ID}) {
		t.Fatalf("retried workflow not back in the outbox: %v, %v", ids(pending), err)
	}

	a2 := start(t, s, w.ID)
	if a2.Attempts != 2 || a2.CurrentStep != 1 || len(a2.Steps) != 1 || a2.Steps[0].Name != "one" {
		t.Fatalf("second attempt starts at %+v", a2)
	}
	// The old attempt is fenced off.
	wantErr(t, "step from stale attempt", s.RecordStep(ctx, w.ID, store.Step{Index: 1, Attempt: 1}), store.ErrStaleAttempt)
	_, err = s.FinishWorkflow(ctx, w.ID, store.Result{Attempt: 1, Status: store.StatusCompleted})
	wantErr(t, "finish from stale attempt", err, store.ErrStaleAttempt)
	// Re-recording a finished step is a no-op; skipping ahead is refused.
	step(t, s, w.ID, store.Step{Index: 0, Name: "one", Attempt: 2})
	wantErr(t, "skip a step", s.RecordStep(ctx, w.ID, store.Step{Index: 2, Attempt: 2}), store.ErrInvalid)
	if g := get(t, s, w.ID); g.CurrentStep != 1 || g.Steps[0].Attempt != 1 {
		t.Fatalf("no-op step changed %+v", g)
	}
	step(t, s, w.ID, store.Step{Index: 1, Name: "two", Attempt: 2})
	step(t, s, w.ID, store.Step{Index: 2, Name: "three", Attempt: 2})
	done := finish(t, s, w.ID, store.Result{Attempt: 2, Status: store.StatusCompleted, Duration: 2 * time.Second, Savings: 10})
	if done.Status != store.StatusCompleted || done.CurrentStep != 3 || len(done.Metrics) != 2 ||
		done.Metrics[0].Attempt != 1 || done.Metrics[1].Attempt != 2 || done.Metrics[1].Status != store.StatusCompleted {
		t.Fatalf("completed after retry: %+v", done)
	}
	if done.Steps[1].Attempt != 2 {
		t.Fatalf("step 1 attempt = %d, want 2", done.Steps[1].Attempt)
	}
}

func testTransitionGuards(t *testing.T, s store.Store) {
	ctx := t.Context()
	queued := runTo(t, s, store.NewWorkflow{ID: "queued"}, store.StatusQueued)
	completed := runTo(t, s, store.NewWorkflow{ID: "completed"}, store.StatusCompleted)
	failed := runTo(t, s, store.NewWorkflow{ID: "failed"}, store.StatusFailed)
	canceled := runTo(t, s, store.NewWorkflow{ID: "canceled"}, store.StatusCanceled)
	running := runTo(t, s, store.NewWorkflow{ID: "running"}, store.StatusRunning)

	for _, w := range []store.Workflow{completed, failed, canceled} {
		_, err := s.StartAttempt(ctx, w.ID)
		wantState(t, "StartAttempt("+w.ID+")", err, w.Status)
	}
	for _, w := range []store.Workflow{queued, completed, failed, canceled} {
		_, err := s.FinishWorkflow(ctx, w.ID, store.Result{Attempt: max(w.Attempts, 1), Status: store.StatusCompleted})
		wantState(t, "FinishWorkflow("+w.ID+")", err, w.Status)
		err = s.RecordStep(ctx, w.ID, store.Step{Index: 0, Attempt: max(w.Attempts, 1)})
		wantState(t, "RecordStep("+w.ID+")", err, w.Status)
	}
	for _, w := range []store.Workflow{queued, running, completed} {
		_, err := s.RetryWorkflow(ctx, w.ID)
		wantState(t, "RetryWorkflow("+w.ID+")", err, w.Status)
	}
	// A refused transition changes nothing.
	if g := get(t, s, completed.ID); g.Status != store.StatusCompleted || len(g.Metrics) != 1 || g.Attempts != 1 {
		t.Fatalf("refused transitions changed %+v", g)
	}

	// Crash recovery: a running workflow can be started again (its lease
	// expired); the attempt count goes up.
	again := start(t, s, running.ID)
	if again.Attempts != 2 || again.Status != store.StatusRunning {
		t.Fatalf("restart of running: %+v", again)
	}

	for _, id := range []string{"missing"} {
		_, err := s.StartAttempt(ctx, id)
		wantErr(t, "StartAttempt(missing)", err, store.ErrNotFound)
		_, err = s.FinishWorkflow(ctx, id, store.Result{Attempt: 1, Status: store.StatusFailed})
		wantErr(t, "FinishWorkflow(missing)", err, store.ErrNotFound)
		wantErr(t, "RecordStep(missing)", s.RecordStep(ctx, id, store.Step{Attempt: 1}), store.ErrNotFound)
		_, err = s.RetryWorkflow(ctx, id)
		wantErr(t, "RetryWorkflow(missing)", err, store.ErrNotFound)
		_, err = s.CancelWorkflow(ctx, id)
		wantErr(t, "CancelWorkflow(missing)", err, store.ErrNotFound)
	}

	// Invalid arguments.
	for name, r := range map[string]store.Result{
		"status queued":     {Attempt: 2, Status: store.StatusQueued},
		"status canceled":   {Attempt: 2, Status: store.StatusCanceled},
		"attempt 0":         {Attempt: 0, Status: store.StatusCompleted},
		"negative duration": {Attempt: 2, Status: store.StatusCompleted, Duration: -time.Second},
	} {
		_, err := s.FinishWorkflow(ctx, running.ID, r)
		wantErr(t, "FinishWorkflow "+name, err, store.ErrInvalid)
	}
	for name, st := range map[string]store.Step{
		"negative index": {Index: -1, Attempt: 2},
		"attempt 0":      {Index: 0, Attempt: 0},
		"bad output":     {Index: 0, Attempt: 2, Output: json.RawMessage(`{`)},
	} {
		wantErr(t, "RecordStep "+name, s.RecordStep(ctx, running.ID, st), store.ErrInvalid)
	}
	if g := get(t, s, running.ID); g.Status != store.StatusRunning || g.CurrentStep != 0 || len(g.Metrics) != 0 {
		t.Fatalf("invalid calls changed %+v", g)
	}
}

func testCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := create(t, s, store.NewWorkflow{ID: "q"})
	before := now()
	st, err := s.CancelWorkflow(ctx, q.ID)
	if err != nil || st != store.StatusCanceled {
		t.Fatalf("cancel queued = %s, %v", st, err)
	}
	g := get(t, s, q.ID)
	if g.Status != store.StatusCanceled {
		t.Fatalf("canceled: %+v", g)
	}
	wantTimeIn(t, "FinishedAt", g.FinishedAt, before, now())

	r := runTo(t, s, store.NewWorkflow{ID: "r"}, store.StatusRunning)
	step(t, s, r.ID, store.Step{Index: 0, Attempt: 1})
	if st, err := s.CancelWorkflow(ctx, r.ID); err != nil || st != store.StatusCanceled {
		t.Fatalf("cancel running = %s, %v", st, err)
	}
	// The worker notices at its next step or when it finishes; nothing more is recorded.
	// The attempt that was running got its canceled metric.
	wantState(t, "step after cancel", s.RecordStep(ctx, r.ID, store.Step{Index: 1, Attempt: 1}), store.StatusCanceled)
	_, err = s.FinishWorkflow(ctx, r.ID, store.Result{Attempt: 1, Status: store.StatusCompleted, Duration: time.Second})
	wantState(t, "finish after cancel", err, store.StatusCanceled)
	g = get(t, s, r.ID)
	if g.Status != store.StatusCanceled || g.CurrentStep != 1 || len(g.Metrics) != 1 {
		t.Fatalf("after cancel: %+v", g)
	}
	if m := g.Metrics[0]; m.Attempt != 1 || m.Status != store.StatusCanceled || m.Savings != 0 ||
		m.Duration != g.FinishedAt.Sub(g.StartedAt) || !m.RecordedAt.Equal(g.FinishedAt) {
		t.Fatalf("metric of the canceled attempt = %+v (started %s, canceled %s)", m, g.StartedAt, g.FinishedAt)
	}
	// A queued workflow has no running attempt: no metric.
	if g := get(t, s, q.ID); len(g.Metrics) != 0 {
		t.Fatalf("canceled while queued: %d metrics", len(g.Metrics))
	}

	// Final workflows cannot be canceled; the current status is returned.
	c := runTo(t, s, store.NewWorkflow{ID: "c"}, store.StatusCompleted)
	st, err = s.CancelWorkflow(ctx, c.ID)
	if st != store.StatusCompleted {
		t.Fatalf("cancel completed returned status %s", st)
	}
	wantState(t, "cancel completed", err, store.StatusCompleted)
	st, err = s.CancelWorkflow(ctx, q.ID)
	if st != store.StatusCanceled {
		t.Fatalf("cancel canceled returned status %s", st)
	}
	wantState(t, "cancel canceled", err, store.StatusCanceled)

	// A canceled workflow can be retried.
	if w, err := s.RetryWorkflow(ctx, r.ID); err != nil || w.Status != store.StatusQueued || w.CurrentStep != 1 {
		t.Fatalf("retry canceled = %+v, %v", w, err)
	}
}

// testEveryAttemptHasAMetric: a failed attempt the queue runs again records a retried metric
// (the workflow stays running, with the failure as its error), fenced by the attempt; the
// next attempts add theirs; canceling between attempts adds none (no attempt runs).
func testEveryAttemptHasAMetric(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := runTo(t, s, store.NewWorkflow{ID: "flaky", TotalSteps: 1}, store.StatusRunning)
	retried := store.Result{Attempt: 1, Status: store.StatusRetried, Error: "step 1 (call): 503", Duration: 250 * time.Millisecond}
	if err := s.RecordRetriedAttempt(ctx, w.ID, retried); err != nil {
		t.Fatalf("RecordRetriedAttempt: %v", err)
	}
	g := get(t, s, w.ID)
	if g.Status != store.StatusRunning || g.Error != retried.Error || len(g.Metrics) != 1 {
		t.Fatalf("after a retried attempt: %+v", g)
	}
	if m := g.Metrics[0]; m.Attempt != 1 || m.Status != store.StatusRetried || m.Duration != retried.Duration || m.Savings != 0 {
		t.Fatalf("retried metric = %+v", m)
	}
	// Fencing: the same attempt again, or an older one, once the next started.
	w = start(t, s, w.ID)
	wantErr(t, "RecordRetriedAttempt of an old attempt", s.RecordRetriedAttempt(ctx, w.ID, retried), store.ErrStaleAttempt)
	wantErr(t, "RecordRetriedAttempt with a final status", s.RecordRetriedAttempt(ctx, w.ID,
		store.Result{Attempt: 2, Status: store.StatusFailed}), store.ErrInvalid)
	f := finish(t, s, w.ID, store.Result{Attempt: 2, Status: store.StatusCompleted, Duration: time.Second, Savings: 5})
	if f.Error != "" || len(f.Metrics) != 2 || f.Metrics[1].Status != store.StatusCompleted || f.Metrics[1].Attempt != 2 {
		t.Fatalf("completed after a retry: error %q, metrics %+v", f.Error, f.Metrics)
	}
	wantState(t, "RecordRetriedAttempt of a completed workflow", s.RecordRetriedAttempt(ctx, w.ID,
		store.Result{Attempt: 2, Status: store.StatusRetried}), store.StatusCompleted)
	wantErr(t, "RecordRetriedAttempt of a missing workflow", s.RecordRetriedAttempt(ctx, "missing",
		store.Result{Attempt: 1, Status: store.StatusRetried}), store.ErrNotFound)

	// Canceled while waiting for its next attempt: the retried attempt keeps its one metric.
	b := runTo(t, s, store.NewWorkflow{ID: "backoff"}, store.StatusRunning)
	if err := s.RecordRetriedAttempt(ctx, b.ID, store.Result{Attempt: 1, Status: store.StatusRetried, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.CancelWorkflow(ctx, b.ID); err != nil || st != store.StatusCanceled {
		t.Fatalf("cancel between attempts = %s, %v", st, err)
	}
	if g := get(t, s, b.ID); len(g.Metrics) != 1 || g.Metrics[0].Status != store.StatusRetried {
		t.Fatalf("canceled between attempts: metrics %+v", g.Metrics)
	}
}

func testDeleteFinishedBefore(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := now()
	n, err := s.DeleteFinishedBefore(ctx, start.Add(time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("delete on empty store = %d, %v", n, err)
	}
	old := runTo(t, s, store.NewWorkflow{ID: "old"}, store.StatusCompleted)
	waitClockPast(old.FinishedAt)
	completed := runTo(t, s, store.NewWorkflow{ID: "completed"}, store.StatusCompleted)
	failed := runTo(t, s, store.NewWorkflow{ID: "failed"}, store.StatusFailed)
	canceled := runTo(t, s, store.NewWorkflow{ID: "canceled"}, store.StatusCanceled)
	running := runTo(t, s, store.NewWorkflow{ID: "running"}, store.StatusRunning)
	queued := runTo(t, s, store.NewWorkflow{ID: "queued"}, store.StatusQueued)

	if n, err := s.DeleteFinishedBefore(ctx, old.FinishedAt); err != nil || n != 0 {
		t.Fatalf("delete before the first finish = %d, %v; want 0 (strictly older)", n, err)
	}
	if n, err := s.DeleteFinishedBefore(ctx, old.FinishedAt.Add(time.Microsecond)); err != nil || n != 1 {
		t.Fatalf("delete up to the first finish = %d, %v; want 1", n, err)
	}
	_, err = s.GetWorkflow(ctx, old.ID)
	wantErr(t, "deleted workflow", err, store.ErrNotFound)

	last := canceled.FinishedAt
	waitClockPast(last)
	if n, err := s.DeleteFinishedBefore(ctx, now()); err != nil || n != 3 {
		t.Fatalf("delete finished = %d, %v; want 3", n, err)
	}
	for _, w := range []store.Workflow{completed, failed, canceled} {
		_, err := s.GetWorkflow(ctx, w.ID)
		wantErr(t, "deleted "+w.ID, err, store.ErrNotFound)
	}
	for _, w := range []store.Workflow{running, queued} {
		get(t, s, w.ID)
	}
	// Steps and metrics went with their workflows: a new workflow with a
	// deleted id starts clean.
	w := runTo(t, s, store.NewWorkflow{ID: "completed"}, store.StatusRunning)
	if g := get(t, s, w.ID); len(g.Metrics) != 0 || len(g.Steps) != 0 {
		t.Fatalf("metrics/steps of a deleted workflow survived: %+v", g)
	}
	sum, err := s.Summarize(ctx, start, now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 3 || sum.Completed != 0 || sum.TotalSavings != 0 {
		t.Fatalf("summary after delete = %+v", sum)
	}
}

func testSummarize(t *testing.T, s store.Store) {
	ctx := t.Context()
	from := now()
	mk := func(id string, results ...store.Result) {
		t.Helper()
		create(t, s, store.NewWorkflow{ID: id})
		for i, r := range results {
			if i > 0 {
				if _, err := s.RetryWorkflow(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			w := start(t, s, id)
			r.Attempt = w.Attempts
			finish(t, s, id, r)
		}
	}
	mk("c1", store.Result{Status: store.StatusCompleted, Duration: time.Second, Savings: 10.5})
	mk("c2", store.Result{Status: store.StatusFailed, Duration: 7 * time.Second},
		store.Result{Status: store.StatusCompleted, Duration: 3 * time.Second, Savings: 20})
	mk("f1", store.Result{Status: store.StatusFailed, Error: "x", Duration: 5 * time.Second, Savings: 99})
	mk("q1")
	create(t, s, store.NewWorkflow{ID: "x1"})
	if _, err := s.CancelWorkflow(ctx, "x1"); err != nil {
		t.Fatal(err)
	}
	runTo(t, s, store.NewWorkflow{ID: "r1"}, store.StatusRunning)
	to := now().Add(time.Microsecond)

	sum, err := s.Summarize(ctx, from, to)
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	want := store.Summary{From: from, To: to, Total: 6, Completed: 2, Failed: 1, Canceled: 1,
		CompletionRate: 2.0 / 6.0, TotalSavings: 30.5, AvgDuration: 2 * time.Second}
	if !sum.From.Equal(want.From) || !sum.To.Equal(want.To) {
		t.Fatalf("Summary period = %v..%v, want %v..%v", sum.From, sum.To, from, to)
	}
	sum.From, sum.To = want.From, want.To
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("Summary = %+v\nwant      %+v", sum, want)
	}

	empty, err := s.Summarize(ctx, to.Add(time.Hour), to.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if empty.Total != 0 || empty.Completed != 0 || empty.CompletionRate != 0 || empty.TotalSavings != 0 || empty.AvgDuration != 0 {
		t.Fatalf("empty period = %+v", empty)
	}
	// Only workflows created in [from, to) count.
	before, err := s.Summarize(ctx, from.Add(-time.Hour), from)
	if err != nil || before.Total != 0 {
		t.Fatalf("period before = %+v, %v", before, err)
	}
	_, err = s.Summarize(ctx, to, from)
	wantErr(t, "reversed period", err, store.ErrInvalid)
	_, err = s.Summarize(ctx, from, from)
	wantErr(t, "empty period", err, store.ErrInvalid)
}

func testReports(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.LatestReport(ctx)
	wantErr(t, "LatestReport on empty store", err, store.ErrNotFound)

	w1Start, err := store.ParseISOWeek("2026-W01")
	if err != nil {
		t.Fatal(err)
	}
	w2Start := w1Start.AddDate(0, 0, 7)
	r1 := store.WeeklyReport{Week: "2026-W01", GeneratedAt: w2Start.Add(9 * time.Hour), Summary: store.Summary{
		From: w1Start, To: w2Start, Total: 10, Completed: 7, Failed: 2, Canceled: 1, CompletionRate: 0.7,
		TotalSavings: 233.31, AvgDuration: 1234567 * time.Microsecond,
	}}
	saved, err := s.SaveReport(ctx, r1)
	if err != nil {
		t.Fatalf("SaveReport: %v", err)
	}
	if !reflect.DeepEqual(saved, r1) {
		t.Fatalf("SaveReport returned %+v, want %+v", saved, r1)
	}
	before := now()
	r2, err := s.SaveReport(ctx, store.WeeklyReport{Week: "2026-W02", Summary: store.Summary{
		From: w2Start, To: w2Start.AddDate(0, 0, 7), Total: 1, Completed: 1, CompletionRate: 1,
	}})
	if err != nil {
		t.Fatalf("SaveReport: %v", err)
	}
	wantTimeIn(t, "GeneratedAt", r2.GeneratedAt, before, now())

	got, err := s.Report(ctx, "2026-W01")
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if !reflect.DeepEqual(got, r1) {
		t.Fatalf("Report(2026-W01) = %+v\nwant %+v", got, r1)
	}
	latest, err := s.LatestReport(ctx)
	if err != nil || !reflect.DeepEqual(latest, r2) {
		t.Fatalf("LatestReport = %+v, %v\nwant %+v", latest, err, r2)
	}

	// Saving a week again replaces its report.
	r1b := r1
	r1b.Summary.Total, r1b.Summary.Completed, r1b.Summary.CompletionRate = 11, 8, 8.0/11.0
	r1b.GeneratedAt = r1.GeneratedAt.Add(time.Hour)
	if _, err := s.SaveReport(ctx, r1b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Report(ctx, "2026-W01"); err != nil || !reflect.DeepEqual(got, r1b) {
		t.Fatalf("replaced report = %+v, %v", got, err)
	}
	if latest, err := s.LatestReport(ctx); err != nil || latest.Week != "2026-W02" {
		t.Fatalf("LatestReport after replacing an older week = %+v, %v", latest, err)
	}

	_, err = s.Report(ctx, "2026-W03")
	wantErr(t, "missing week", err, store.ErrNotFound)
	for _, bad := range []string{"", "2026-3", "2026-W00", "2026-W54", "2025-W53", "26-W01", "2026W01"} {
		_, err = s.Report(ctx, bad)
		wantErr(t, "Report("+bad+")", err, store.ErrInvalid)
		_, err = s.SaveReport(ctx, store.WeeklyReport{Week: bad})
		wantErr(t, "SaveReport("+bad+")", err, store.ErrInvalid)
	}

	// A report made from Summarize round-trips.
	from := now()
	runTo(t, s, store.NewWorkflow{}, store.StatusCompleted)
	sum, err := s.Summarize(ctx, from, now().Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	week := store.ISOWeek(sum.From)
	rep, err := s.SaveReport(ctx, store.WeeklyReport{Week: week, Summary: sum})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Report(ctx, week); err != nil || !reflect.DeepEqual(got, rep) {
		t.Fatalf("Report(%s) = %+v, %v\nwant %+v", week, got, err, rep)
	}
}

func testCountsSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	since := now()
	for _, st := range []store.Status{store.StatusQueued, store.StatusRunning, store.StatusCompleted,
		store.StatusCompleted, store.StatusFailed, store.StatusCanceled} {
		runTo(t, s, store.NewWorkflow{}, st)
	}
	c, err := s.CountsSince(ctx, since)
	if err != nil {
		t.Fatalf("CountsSince: %v", err)
	}
	want := store.Counts{Since: since, Accepted: 6, Completed: 2, Failed: 1, Canceled: 1, Queued: 1, Running: 1}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("CountsSince = %+v\nwant %+v", c, want)
	}
	later := now().Add(time.Hour)
	c, err = s.CountsSince(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	want = store.Counts{Since: later, Queued: 1, Running: 1}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("CountsSince(later) = %+v\nwant %+v", c, want)
	}
}

// parallel runs fn(i) for i in [0, n) at once and waits.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			fn(i)
		}()
	}
	close(startLine)
	wg.Wait()
}

const racers = 8

func testConcurrentCreateSameID(t *testing.T, s store.Store) {
	ctx := t.Context()
	errs := make([]error, racers)
	parallel(racers, func(i int) {
		_, errs[i] = s.CreateWorkflow(ctx, store.NewWorkflow{ID: "same", AgentID: fmt.Sprint("agent", i), Type: "t"})
	})
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrExists):
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent creates of one id succeeded, want 1", ok)
	}
}

func testConcurrentStartAttempt(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := create(t, s, store.NewWorkflow{})
	attempts := make([]int, racers)
	errs := make([]error, racers)
	parallel(racers, func(i int) {
		var got store.Workflow
		got, errs[i] = s.StartAttempt(ctx, w.ID)
		attempts[i] = got.Attempts
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("StartAttempt: %v", err)
		}
	}
	sort.Ints(attempts)
	for i, a := range attempts {
		if a != i+1 {
			t.Fatalf("attempt numbers = %v, want 1..%d each once", attempts, racers)
		}
	}
	if g := get(t, s, w.ID); g.Attempts != racers || g.Status != store.StatusRunning {
		t.Fatalf("after %d starts: %+v", racers, g)
	}
}

func testConcurrentFinish(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := runTo(t, s, store.NewWorkflow{}, store.StatusRunning)
	errs := make([]error, racers)
	parallel(racers, func(i int) {
		st := store.StatusCompleted
		if i%2 == 1 {
			st = store.StatusFailed
		}
		_, errs[i] = s.FinishWorkflow(ctx, w.ID, store.Result{Attempt: 1, Status: st, Duration: time.Second, Savings: 1})
	})
	ok := 0
	for _, err := range errs {
		var se *store.StateError
		switch {
		case err == nil:
			ok++
		case !errors.As(err, &se):
			t.Fatalf("concurrent finish: %v", err)
		}
	}
	g := get(t, s, w.ID)
	if ok != 1 || len(g.Metrics) != 1 || g.Metrics[0].Status != g.Status {
		t.Fatalf("%d concurrent finishes succeeded (want 1); workflow %s with %d metrics", ok, g.Status, len(g.Metrics))
	}
}

func testCancelRacesFinish(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 10 {
		w := runTo(t, s, store.NewWorkflow{ID: fmt.Sprint("race", round)}, store.StatusRunning)
		var cancelErr, finishErr error
		var cancelStatus store.Status
		parallel(2, func(i int) {
			if i == 0 {
				cancelStatus, cancelErr = s.CancelWorkflow(ctx, w.ID)
			} else {
				_, finishErr = s.FinishWorkflow(ctx, w.ID, store.Result{Attempt: 1, Status: store.StatusCompleted, Duration: time.Second})
			}
		})
		g := get(t, s, w.ID)
		switch {
		case cancelErr == nil && g.Status == store.StatusCanceled:
			wantState(t, "finish that lost", finishErr, store.StatusCanceled)
			if cancelStatus != store.StatusCanceled || len(g.Metrics) != 1 || g.Metrics[0].Status != store.StatusCanceled {
				t.Fatalf("cancel won but %s, metrics %+v", cancelStatus, g.Metrics)
			}
		case finishErr == nil && g.Status == store.StatusCompleted:
			wantState(t, "cancel that lost", cancelErr, store.StatusCompleted)
			if cancelStatus != store.StatusCompleted || len(g.Metrics) != 1 || g.Metrics[0].Status != store.StatusCompleted {
				t.Fatalf("finish won but cancel returned %s; metrics %+v", cancelStatus, g.Metrics)
			}
		default:
			t.Fatalf("round %d: cancel %v, finish %v, final %+v", round, cancelErr, finishErr, g)
		}
	}
}

func testConcurrentRecordStep(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := runTo(t, s, store.NewWorkflow{}, store.StatusRunning)
	errs := make([]error, racers)
	parallel(racers, func(i int) {
		errs[i] = s.RecordStep(ctx, w.ID, store.Step{Index: 0, Name: "once", Attempt: 1})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("RecordStep: %v", err)
		}
	}
	if g := get(t, s, w.ID); g.CurrentStep != 1 || len(g.Steps) != 1 {
		t.Fatalf("after concurrent records of one step: %+v", g)
	}
}

func testConcurrentWorkflows(t *testing.T, s store.Store) {
	ctx := t.Context()
	since := now()
	const n = 24
	errs := make([]error, n)
	parallel(n, func(i int) {
		errs[i] = func() error {
			w, err := s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "a", Type: "t", TotalSteps: 2})
			if err != nil {
				return err
			}
			if err := s.MarkEnqueued(ctx, w.ID, w.ID); err != nil {
				return err
			}
			if w, err = s.StartAttempt(ctx, w.ID); err != nil {
				return err
			}
			for k := range 2 {
				if err := s.RecordStep(ctx, w.ID, store.Step{Index: k, Attempt: w.Attempts}); err != nil {
					return err
				}
			}
			_, err = s.FinishWorkflow(ctx, w.ID, store.Result{Attempt: w.Attempts, Status: store.StatusCompleted, Duration: time.Millisecond, Savings: 1})
			return err
		}()
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("workflow: %v", err)
		}
	}
	c, err := s.CountsSince(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accepted != n || c.Completed != n || c.Queued != 0 || c.Running != 0 {
		t.Fatalf("counts = %+v, want %d accepted and completed", c, n)
	}
	sum, err := s.Summarize(ctx, since, now().Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != n || sum.Completed != n || sum.TotalSavings != n || sum.CompletionRate != 1 {
		t.Fatalf("summary = %+v", sum)
	}
}

// testConcurrentCreateReadsBack: workflows created at once (in one group, where the store
// groups; every third with an idempotency key, which takes a path of its own) are returned
// exactly as GetWorkflow reads them back, inputs as sent included.
func testConcurrentCreateReadsBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 24
	created := make([]store.Workflow, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		nw := store.NewWorkflow{
			AgentID: fmt.Sprintf("agent-%d", i), Type: "t", Mode: "execute", TotalSteps: i % 4,
			Inputs:           json.RawMessage(fmt.Sprintf(`{ "n": %d, "text": "é \\u00e9" }`, i)),
			WeeklyHoursSaved: 0.1 * float64(i), WeeklySavings: 1e-7 + float64(i)/3,
		}
		if i%3 == 0 {
			nw.IdempotencyKey, nw.Fingerprint = fmt.Sprintf("key-%d", i), "fp"
		}
		created[i], errs[i] = s.CreateWorkflow(ctx, nw)
	})
	for i, w := range created {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		got, err := s.GetWorkflow(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.Steps, got.Metrics, got.Runs = nil, nil, nil
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("CreateWorkflow returned\n%+v\nGetWorkflow reads\n%+v", w, got)
		}
	}
}

// testInFlightAndAbandon: InFlight lists the enqueued, unfinished workflows that have not
// changed since a time; AbandonWorkflow fails one, guarded by its attempts.
func testInFlightAndAbandon(t *testing.T, s store.Store) {
	ctx := t.Context()
	runTo(t, s, store.NewWorkflow{}, store.StatusQueued) // not enqueued: the relay's, not listed
	queued := runTo(t, s, store.NewWorkflow{}, store.StatusQueued)
	if err := s.MarkEnqueued(ctx, queued.ID, "job-q"); err != nil {
		t.Fatal(err)
	}
	running := runTo(t, s, store.NewWorkflow{}, store.StatusQueued)
	if err := s.MarkEnqueued(ctx, running.ID, "job-r"); err != nil {
		t.Fatal(err)
	}
	running = start(t, s, running.ID)
	done := runTo(t, s, store.NewWorkflow{}, store.StatusCompleted)
	waitClockPast(now())
	if old, err := s.InFlight(ctx, get(t, s, queued.ID).UpdatedAt, "", 0); err != nil || len(old) != 0 {
		t.Fatalf("InFlight before the first change = %v, %v; want none", ids(old), err)
	}
	all, err := s.InFlight(ctx, time.Now().Add(time.Second), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{queued.ID, running.ID}
	slices.Sort(want)
	if got := ids(all); !slices.Equal(got, want) {
		t.Fatalf("InFlight = %v, want %v (queued and running with a job id, in id order)", got, want)
	}
	if page, err := s.InFlight(ctx, time.Now().Add(time.Second), want[0], 1); err != nil || !slices.Equal(ids(page), want[1:]) {
		t.Fatalf("InFlight after %s = %v, %v; want %v", want[0], ids(page), err, want[1:])
	}

	_, err = s.AbandonWorkflow(ctx, running.ID, running.Attempts-1, "job dead")
	wantErr(t, "AbandonWorkflow with an old attempt", err, store.ErrStaleAttempt)
	for _, w := range []store.Workflow{queued, running} {
		got, err := s.AbandonWorkflow(ctx, w.ID, w.Attempts, "its job is dead: boom")
		if err != nil {
			t.Fatalf("AbandonWorkflow(%s): %v", w.ID, err)
		}
		if got.Status != store.StatusFailed || got.Error != "its job is dead: boom" || got.FinishedAt.IsZero() {
			t.Fatalf("abandoned workflow = %+v", got)
		}
		if m := get(t, s, w.ID).Metrics; len(m) != 0 {
			t.Fatalf("abandoned workflow has metrics %+v; no attempt finished", m)
		}
	}
	_, err = s.AbandonWorkflow(ctx, done.ID, done.Attempts, "late")
	wantState(t, "AbandonWorkflow of a completed workflow", err, store.StatusCompleted)
	_, err = s.AbandonWorkflow(ctx, "no-such-id", 0, "x")
	wantErr(t, "AbandonWorkflow of a missing workflow", err, store.ErrNotFound)
}

// testIdempotencyKey: a create with a key used before returns the first workflow
// (ErrReplayed) or, for another request, ErrKeyReused, and creates nothing; the key goes
// with its workflow when the clean-up deletes it.
func testIdempotencyKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := create(t, s, store.NewWorkflow{IdempotencyKey: "order-42", Fingerprint: "a"})
	again, err := s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "agent-1", Type: "invoice_processing",
		IdempotencyKey: "order-42", Fingerprint: "a"})
	if !errors.Is(err, store.ErrReplayed) || again.ID != first.ID {
		t.Fatalf("second create with the key: %s, %v; want %s, ErrReplayed", again.ID, err, first.ID)
	}
	if _, err := s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "agent-1", Type: "invoice_processing",
		IdempotencyKey: "order-42", Fingerprint: "b"}); !errors.Is(err, store.ErrKeyReused) {
		t.Fatalf("the key with another request: %v, want ErrKeyReused", err)
	}
	if _, err := s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "agent-1", Type: "t",
		IdempotencyKey: strings.Repeat("k", store.MaxIdempotencyKey+1)}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a key of %d bytes: %v, want ErrInvalid", store.MaxIdempotencyKey+1, err)
	}
	other := create(t, s, store.NewWorkflow{IdempotencyKey: "order-43", Fingerprint: "a"})
	if other.ID == first.ID {
		t.Fatal("two keys gave one workflow")
	}
	if page, err := s.ListWorkflows(ctx, store.ListFilter{}); err != nil || len(page.Workflows) != 2 {
		t.Fatalf("list: %d workflows, %v; want 2", len(page.Workflows), err)
	}

	// The clean-up deletes the workflow and its key: the key then creates a new workflow.
	if _, err := s.CancelWorkflow(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteFinishedBefore(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("delete finished: %d, %v; want 1", n, err)
	}
	renewed := create(t, s, store.NewWorkflow{IdempotencyKey: "order-42", Fingerprint: "b"})
	if renewed.ID == first.ID {
		t.Fatal("the deleted workflow came back for its key")
	}
}

// testConcurrentCreateSameKey: racing creates with one key create one workflow; every
// other racer gets it with ErrReplayed.
func testConcurrentCreateSameKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := make([]store.Workflow, racers)
	errs := make([]error, racers)
	parallel(racers, func(i int) {
		ws[i], errs[i] = s.CreateWorkflow(ctx, store.NewWorkflow{AgentID: "agent", Type: "t",
			IdempotencyKey: "same-key", Fingerprint: "f"})
	})
	created, id := 0, ws[0].ID
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, store.ErrReplayed):
			t.Fatalf("racer %d: %v", i, err)
		}
		if ws[i].ID != id || id == "" {
			t.Fatalf("racer %d got workflow %q, racer 0 %q", i, ws[i].ID, id)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d racers created a workflow, want 1", created, racers)
	}
	if page, err := s.ListWorkflows(ctx, store.ListFilter{}); err != nil || len(page.Workflows) != 1 {
		t.Fatalf("list: %d workflows, %v; want 1", len(page.Workflows), err)
	}
}
