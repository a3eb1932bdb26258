package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// hooks is a real HTTP server standing for the services a graph's http steps call: each
// path (a step name) has a handler (default: 204), and every request is counted and kept.
type hooks struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  map[string]int
	bodies map[string][]byte
	handle map[string]http.HandlerFunc
}

func newHooks(t *testing.T, handle map[string]http.HandlerFunc) *hooks {
	h := &hooks{t: t, calls: map[string]int{}, bodies: map[string][]byte{}, handle: handle}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.calls[name]++
		h.bodies[name] = body
		f := h.handle[name]
		h.mu.Unlock()
		if f == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hooks) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[name]
}

func (h *hooks) body(name string) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bodies[name]
}

// wantCalls checks how many times each step's hook was called.
func (h *hooks) wantCalls(want map[string]int) {
	h.t.Helper()
	for name, n := range want {
		if got := h.count(name); got != n {
			h.t.Errorf("step %s called %d times, want %d", name, got, n)
		}
	}
}

// httpStep is an http step calling the hook of its name, after the steps it needs.
func (h *hooks) httpStep(name string, needs ...string) workflow.StepSpec {
	if needs == nil {
		needs = []string{}
	}
	return workflow.StepSpec{Name: name, Kind: workflow.KindHTTP, URL: h.srv.URL + "/" + name, Needs: needs}
}

// diamond is a → b, c → d on hooks h.
func (h *hooks) diamond() workflow.Type {
	return workflow.Type{Name: "diamond", Steps: []workflow.StepSpec{
		h.httpStep("a"), h.httpStep("b", "a"), h.httpStep("c", "a"), h.httpStep("d", "b", "c")}}
}

// barrier lets its n callers through together: each waits until all n arrived (true), or
// gives up after waitFor (false).
type barrier struct {
	n       int32
	arrived atomic.Int32
	all     chan struct{}
}

func newBarrier(n int32) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) wait() bool {
	if b.arrived.Add(1) == b.n {
		close(b.all)
	}
	select {
	case <-b.all:
		return true
	case <-time.After(waitFor):
		return false
	}
}

// TestGraphDiamond: b and c, which need only a, run at the same time on two workers (each
// runs one job at a time, and neither branch's request is answered until both arrived); d
// runs after both, with their outputs; every step runs once, as its own job.
func TestGraphDiamond(t *testing.T) {
	t.Parallel()
	both := newBarrier(2)
	var order []string
	var mu sync.Mutex
	seen := func(name string) {
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
	}
	branch := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			seen(name)
			if !both.wait() {
				http.Error(w, "the other branch did not run at the same time", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"branch":"`+name+`"}`)
		}
	}
	h := newHooks(t, map[string]http.HandlerFunc{
		"a": func(w http.ResponseWriter, r *http.Request) { seen("a"); w.WriteHeader(http.StatusNoContent) },
		"b": branch("b"), "c": branch("c"),
		"d": func(w http.ResponseWriter, r *http.Request) { seen("d"); w.WriteHeader(http.StatusNoContent) },
	})
	e := newEnv(t, withTypes(h.diamond()))
	e.startWorkerOf(e.engineWith(func(*workflow.Config) {}), 1)
	e.startWorkerOf(e.engineWith(func(*workflow.Config) {}), 1)

	acc := e.submit("diamond")
	w := e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
	h.wantCalls(map[string]int{"a": 1, "b": 1, "c": 1, "d": 1})
	mu.Lock()
	if len(order) != 4 || order[0] != "a" || order[3] != "d" {
		t.Errorf("steps ran in order %v, want a first and d last", order)
	}
	mu.Unlock()
	if len(w.Steps) != 4 || w.CurrentStep != 4 || len(w.Runs) != 0 {
		t.Errorf("completed workflow: %d steps, current step %d, runs %+v; want 4, 4, none", len(w.Steps), w.CurrentStep, w.Runs)
	}
	if m, ok := w.LastAttempt(); !ok || m.Status != store.StatusCompleted {
		t.Errorf("last attempt metric %+v (ok %v), want completed", m, ok)
	}
	var d workflow.StepData
	if err := json.Unmarshal(h.body("d"), &d); err != nil {
		t.Fatalf("d's request body: %v", err)
	}
	for _, name := range []string{"b", "c"} {
		if !strings.Contains(string(d.Outputs[name]), `"branch":"`+name+`"`) {
			t.Errorf("d's body has outputs %s, want %s's answer", d.Outputs, name)
		}
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		job := e.waitJob(workflow.StepJobID(w.ID, 1, name), queue.StateCompleted)
		if job.Type != workflow.JobStep || job.Attempt != 1 {
			t.Errorf("job of step %s: type %s, attempt %d; want %s, 1", name, job.Type, job.Attempt, workflow.JobStep)
		}
	}
}

// flaky answers 500 to its first n requests, then 204.
func flaky(n int32) http.HandlerFunc {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// TestStepRetry: a step with retry: {attempts: 3} that fails twice succeeds at its third try,
// within one job, in a graph and in a sequential type alike.
func TestStepRetry(t *testing.T) {
	t.Parallel()
	for _, graph := range []bool{true, false} {
		h := newHooks(t, map[string]http.HandlerFunc{"flaky": flaky(2)})
		st := h.httpStep("flaky")
		if !graph {
			st.Needs = nil
		}
		st.Retry = workflow.StepRetry{Attempts: 3, Backoff: 10 * time.Millisecond}
		e := newEnv(t, withTypes(workflow.Type{Name: "retrying", Steps: []workflow.StepSpec{st, h.httpStep("after", "flaky")}}))
		e.startWorker(nil)
		acc := e.submit("retrying")
		w := e.waitStatus(acc.Workflow.ID, store.StatusCompleted)
		h.wantCalls(map[string]int{"flaky": 3, "after": 1})
		if w.Attempts != 1 {
			t.Errorf("graph %v: %d workflow attempts, want 1 (the step's tries are within it)", graph, w.Attempts)
		}
		if graph {
			if job := e.waitJob(workflow.StepJobID(w.ID, 1, "flaky"), queue.StateCompleted); job.Attempt != 1 {
				t.Errorf("the step's job ran %d times, want 1", job.Attempt)
			}
		}
	}
}

// TestStepTimeoutFailsTheGraph: a step that outlives its timeout fails (its one try), the
// workflow fails naming it, and the branch still running is canceled.
func TestStepTimeoutFailsTheGraph(t *testing.T) {
	t.Parallel()
	typ := workflow.Type{Name: "slow", Steps: []workflow.StepSpec{
		{Name: "slow", Kind: workflow.KindDelay, Duration: time.Hour, Timeout: 100 * time.Millisecond,
			Needs: []string{}, Retry: workflow.StepRetry{Attempts: 1}},
		{Name: "other", Kind: workflow.KindDelay, Duration: time.Hour, Needs: []string{}},
	}}
	e := newEnv(t, withTypes(typ))
	e.startWorker(nil)
	acc := e.submit("slow")
	w := e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "step 1 (slow)") || !strings.Contains(w.Error, "delay step timed out after 100ms") {
		t.Errorf("workflow error %q, want step 1 (slow) timed out after 100ms", w.Error)
	}
	e.waitJob(workflow.StepJobID(w.ID, 1, "other"), queue.StateCanceled)
	e.waitJob(workflow.StepJobID(w.ID, 1, "slow"), queue.StateDead)
}

// blocking answers when its request is canceled, counting the cancellations in stopped, and
// counting its arrivals in arrived.
func blocking(arrived, stopped *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-r.Context().Done()
		stopped.Add(1)
	}
}

// TestGraphCancelStopsBranches: canceling a workflow while b and c run stops both (their
// requests are canceled, their jobs end canceled) and d never runs.
func TestGraphCancelStopsBranches(t *testing.T) {
	t.Parallel()
	var arrived, stopped atomic.Int32
	h := newHooks(t, map[string]http.HandlerFunc{"b": blocking(&arrived, &stopped), "c": blocking(&arrived, &stopped)})
	e := newEnv(t, withTypes(h.diamond()))
	e.startWorker(nil)
	acc := e.submit("diamond")
	id := acc.Workflow.ID
	if !poll(t, func() bool { return arrived.Load() == 2 }) {
		t.Fatalf("b and c did not both start: %d arrived", arrived.Load())
	}
	if st, err := e.engine.Cancel(t.Context(), id); err != nil || st != store.StatusCanceled {
		t.Fatalf("Cancel: %s, %v", st, err)
	}
	e.waitStatus(id, store.StatusCanceled)
	for _, name := range []string{"b", "c"} {
		e.waitJob(workflow.StepJobID(id, 1, name), queue.StateCanceled)
	}
	if !poll(t, func() bool { return stopped.Load() == 2 }) {
		t.Errorf("%d of the 2 running branches' requests were stopped", stopped.Load())
	}
	if _, err := e.client.Get(t.Context(), workflow.StepJobID(id, 1, "d")); err == nil {
		t.Errorf("d has a job: it was released after the cancel")
	}
	h.wantCalls(map[string]int{"a": 1, "d": 0})
}

// TestGraphRetryRunsOnlyUnfinished: b fails for good while c finishes; retrying the failed
// workflow runs b and then d, and never a or c again.
func TestGraphRetryRunsOnlyUnfinished(t *testing.T) {
	t.Parallel()
	var failB atomic.Bool
	failB.Store(true)
	var e *env
	var id atomic.Value
	h := newHooks(t, map[string]http.HandlerFunc{
		"b": func(w http.ResponseWriter, r *http.Request) {
			if !failB.Load() {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			// Fail once c is recorded, so that c is finished, not canceled, when b fails.
			poll(t, func() bool {
				cur, err := e.store.GetWorkflow(r.Context(), id.Load().(string))
				return err == nil && len(cur.Steps) == 2
			})
			http.Error(w, "b is broken", http.StatusBadRequest)
		},
	})
	e = newEnv(t, withTypes(h.diamond()))
	id.Store("")
	e.startWorker(nil)
	acc := e.submit("diamond")
	id.Store(acc.Workflow.ID)
	w := e.waitStatus(acc.Workflow.ID, store.StatusFailed)
	if !strings.Contains(w.Error, "step 2 (b)") || len(w.Steps) != 2 {
		t.Fatalf("failed workflow: error %q, %d steps finished; want b's failure, a and c finished", w.Error, len(w.Steps))
	}
	failB.Store(false)
	if _, err := e.engine.Retry(t.Context(), w.ID); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	w = e.waitStatus(w.ID, store.StatusCompleted)
	h.wantCalls(map[string]int{"a": 1, "b": 2, "c": 1, "d": 1})
	if w.Attempts != 2 {
		t.Errorf("attempts %d, want 2", w.Attempts)
	}
	e.waitJob(workflow.StepJobID(w.ID, 2, "b"), queue.StateCompleted)
	e.waitJob(workflow.StepJobID(w.ID, 2, "d"), queue.StateCompleted)
}

// TestReconcileEnqueuesReleasedSteps: a process that recorded a step and died before
// enqueuing the steps it released (here: the store's transaction made by hand, the start
// job removed) leaves them in the store; the reconciler enqueues them and the workflow
// completes without running the recorded step again.
func TestReconcileEnqueuesReleasedSteps(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil)
	typ := h.diamond()
	e := newEnv(t, withTypes(typ), withConfig(func(c *workflow.Config) { c.ReconcileAfter = time.Minute }))
	acc := e.submit("diamond")
	id := acc.Workflow.ID
	ctx := t.Context()
	g := store.Graph{Names: []string{"a", "b", "c", "d"}, Needs: typ.Needs()}
	if _, err := e.store.StartGraph(ctx, id, g); err != nil {
		t.Fatalf("StartGraph: %v", err)
	}
	if _, err := e.store.FinishStep(ctx, id, store.Step{Index: 0, Attempt: 1}, g); err != nil {
		t.Fatalf("FinishStep: %v", err)
	}
	if err := e.client.Delete(ctx, acc.JobID); err != nil {
		t.Fatalf("delete the start job: %v", err)
	}
	e.clock.Set(2 * time.Minute)
	r, err := e.engine.Reconcile(ctx)
	if err != nil || r.Requeued != 2 {
		t.Fatalf("Reconcile: %+v, %v; want b's and c's jobs enqueued", r, err)
	}
	e.startWorker(nil)
	e.waitStatus(id, store.StatusCompleted)
	h.wantCalls(map[string]int{"a": 0, "b": 1, "c": 1, "d": 1})
}

// TestReconcileFailsGraphWithDeadStepJob: a step job that died in the queue without its
// workflow knowing (here: a worker with another handler for the job type) fails the
// workflow when the reconciler finds it, with the job's last error.
func TestReconcileFailsGraphWithDeadStepJob(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil)
	typ := h.diamond()
	e := newEnv(t, withTypes(typ))
	acc := e.submit("diamond")
	id, ctx := acc.Workflow.ID, t.Context()
	if err := e.client.Delete(ctx, acc.JobID); err != nil {
		t.Fatalf("delete the start job: %v", err)
	}
	if _, err := e.store.StartGraph(ctx, id, store.Graph{Names: []string{"a", "b", "c", "d"}, Needs: typ.Needs()}); err != nil {
		t.Fatalf("StartGraph: %v", err)
	}
	w := queue.NewWorker(e.broker, queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: workflow.DefaultQueue, Weight: 1}},
		FetchWait: time.Second, Logger: quiet})
	w.HandleFunc(workflow.JobStep, func(context.Context, *queue.Job) (any, error) {
		return nil, queue.NoRetry(errors.New("an old worker's handler broke"))
	})
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })

	e.clock.Set(2 * time.Minute)
	if r, err := e.engine.Reconcile(ctx); err != nil || r.Requeued != 1 {
		t.Fatalf("first Reconcile: %+v, %v; want a's job enqueued", r, err)
	}
	jobID := workflow.StepJobID(id, 1, "a")
	e.waitJob(jobID, queue.StateDead)
	if r, err := e.engine.Reconcile(ctx); err != nil || r.Failed != 1 {
		t.Fatalf("second Reconcile: %+v, %v; want the workflow failed", r, err)
	}
	got := e.waitStatus(id, store.StatusFailed)
	if want := "its execute_workflow_step job " + jobID + " is dead: an old worker's handler broke"; got.Error != want {
		t.Errorf("error %q, want %q", got.Error, want)
	}
	h.wantCalls(map[string]int{"a": 0})
}
