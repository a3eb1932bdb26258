package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// skipAcrossQueues skips the test when the broker refused a job because its parent or batch
// is on another queue (queue.ErrUnsupported: Redis Cluster keeps each queue in one hash slot),
// with the broker's reason.
func (e *env) skipAcrossQueues(errs ...error) {
	e.t.Helper()
	for _, err := range errs {
		if errors.Is(err, queue.ErrUnsupported) {
			e.t.Skipf("this broker keeps parents and batches on their job's queue: %v", err)
		}
	}
}

// runLog records the order in which handlers ran and the parents' results each one saw.
type runLog struct {
	mu      sync.Mutex
	order   []string
	parents map[string]map[string]json.RawMessage
}

// handler returns "result of <id>" after recording the job and its parents' results.
func (l *runLog) handler(ctx context.Context, j *queue.Job) (any, error) {
	res, err := queue.ParentResults(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, j.ID)
	if l.parents == nil {
		l.parents = map[string]map[string]json.RawMessage{}
	}
	l.parents[j.ID] = res
	return "result of " + j.ID, nil
}

func (l *runLog) ran() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.order)
}

// checkParents fails unless job id saw exactly the results of parents.
func (l *runLog) checkParents(t *testing.T, id string, parents ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.parents[id]
	if len(got) != len(parents) {
		t.Fatalf("job %s saw parent results %v, want those of %v", id, got, parents)
	}
	for _, p := range parents {
		if want := `"result of ` + p + `"`; string(got[p]) != want {
			t.Fatalf("job %s saw result %s of parent %s, want %s", id, got[p], p, want)
		}
	}
}

func testDependsChain(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	a := e.enqueue("step", nil, queue.WithID("chain-a"))
	b := e.enqueue("step", nil, queue.WithID("chain-b"), queue.DependsOn(a.ID))
	c := e.enqueue("step", nil, queue.WithID("chain-c"), queue.DependsOn(b.ID))
	if b.State != queue.StateWaiting || e.get(c.ID).State != queue.StateWaiting {
		t.Fatalf("children are %s and %s before their parents ran, want waiting", b.State, e.get(c.ID).State)
	}
	if s := e.stats(queue.DefaultQueue); s.Waiting != 2 || s.Pending != 1 {
		t.Fatalf("stats before the run: %d waiting, %d pending, want 2 and 1", s.Waiting, s.Pending)
	}
	listed, err := e.client.List(e.ctx, queue.DefaultQueue, queue.StateWaiting, 0, 10)
	if err != nil || len(listed) != 2 || listed[0].ID != b.ID || !slices.Equal(listed[1].DependsOn, []string{b.ID}) {
		t.Fatalf("list waiting = %v, %v; want %s then %s (depending on %s)", listed, err, b.ID, c.ID, b.ID)
	}
	var log runLog
	e.worker(queue.WorkerConfig{Concurrency: 4}, map[string]queue.HandlerFunc{"step": log.handler})
	e.waitState(c.ID, queue.StateCompleted)
	if got := log.ran(); !slices.Equal(got, []string{a.ID, b.ID, c.ID}) {
		t.Fatalf("ran %v, want the chain in order", got)
	}
	log.checkParents(t, a.ID)
	log.checkParents(t, b.ID, a.ID)
	log.checkParents(t, c.ID, b.ID)
	if s := e.stats(queue.DefaultQueue); s.Waiting != 0 || s.Completed != 3 {
		t.Fatalf("stats after the run: %+v", s)
	}
}

func testDependsFanOutFanIn(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	// Children first: the client orders them.
	reqs := []queue.Request{
		{Type: "step", Options: []queue.Option{queue.WithID("fan-d"), queue.DependsOn("fan-b1", "fan-b2", "fan-b3")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-b1"), queue.DependsOn("fan-a")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-b2"), queue.DependsOn("fan-a")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-b3"), queue.DependsOn("fan-a")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-a")}},
	}
	e.runFan(reqs, queue.DefaultQueue)
}

// testDependsAcrossQueues is testDependsFanOutFanIn with the root, its children and the last
// job on three queues (skipped where a job's parents must be on its queue).
func testDependsAcrossQueues(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	reqs := []queue.Request{
		{Type: "step", Options: []queue.Option{queue.WithID("fan-d"), queue.OnQueue("fan-in"), queue.DependsOn("fan-b1", "fan-b2", "fan-b3")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-b1"), queue.DependsOn("fan-a")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-b2"), queue.DependsOn("fan-a")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-b3"), queue.DependsOn("fan-a")}},
		{Type: "step", Options: []queue.Option{queue.WithID("fan-a"), queue.OnQueue("fan-out")}},
	}
	e.runFan(reqs, "fan-in", queue.DefaultQueue, "fan-out")
}

// runFan enqueues the graph of fan-a, its children fan-b1 to fan-b3 and their child fan-d,
// runs it with one worker on queues, and checks the order and the parents' results seen.
func (e *env) runFan(reqs []queue.Request, queues ...string) {
	t := e.t
	_, errs, err := e.client.EnqueueMany(e.ctx, reqs)
	e.skipAcrossQueues(errs...)
	if err != nil || errors.Join(errs...) != nil {
		t.Fatalf("enqueue the graph: %v %v", err, errs)
	}
	var log runLog
	cfg := queue.WorkerConfig{Concurrency: 8}
	for _, q := range queues {
		cfg.Queues = append(cfg.Queues, queue.QueueWeight{Name: q, Weight: 1})
	}
	e.worker(cfg, map[string]queue.HandlerFunc{"step": log.handler})
	e.waitState("fan-d", queue.StateCompleted)
	got := log.ran()
	if len(got) != 5 || got[0] != "fan-a" || got[4] != "fan-d" {
		t.Fatalf("ran %v, want fan-a first, the three fan-b next, fan-d last", got)
	}
	log.checkParents(t, "fan-d", "fan-b1", "fan-b2", "fan-b3")
	log.checkParents(t, "fan-b2", "fan-a")
}

func testDependsParentFails(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	parent := e.enqueue("gate", nil, queue.WithID("bad-parent"))
	child := e.enqueue("step", nil, queue.WithID("bad-child"), queue.DependsOn(parent.ID))
	grandchild := e.enqueue("step", nil, queue.WithID("bad-grandchild"), queue.DependsOn(child.ID))
	anyway := e.enqueue("step", nil, queue.WithID("anyway"), queue.DependsOn(parent.ID), queue.RunOnParentFailure())
	var log runLog
	e.worker(queue.WorkerConfig{Concurrency: 4}, map[string]queue.HandlerFunc{
		"step": log.handler,
		"gate": func(ctx context.Context, j *queue.Job) (any, error) { return nil, queue.NoRetry(errors.New("broken")) },
	})
	e.waitState(anyway.ID, queue.StateCompleted)
	for id, reason := range map[string]string{
		child.ID:      queue.ParentFailedError(parent.ID, "dead"),
		grandchild.ID: queue.ParentFailedError(child.ID, "canceled"),
	} {
		j := e.waitState(id, queue.StateCanceled)
		if len(j.Errors) == 0 || j.Errors[len(j.Errors)-1].Error != reason {
			t.Fatalf("job %s canceled with errors %+v, want the reason %q", id, j.Errors, reason)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if got := log.parents[anyway.ID]; len(got) != 1 || got[parent.ID] != nil {
		t.Fatalf("a child run anyway saw parent results %v, want none from the dead parent", got)
	}
	if slices.Contains(log.order, child.ID) || slices.Contains(log.order, grandchild.ID) {
		t.Fatalf("canceled children ran: %v", log.order)
	}
}

func testDependsCycleRefused(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	_, _, err := e.client.EnqueueMany(e.ctx, []queue.Request{
		{Type: "step", Options: []queue.Option{queue.WithID("cyc-x"), queue.DependsOn("cyc-z")}},
		{Type: "step", Options: []queue.Option{queue.WithID("cyc-y"), queue.DependsOn("cyc-x")}},
		{Type: "step", Options: []queue.Option{queue.WithID("cyc-z"), queue.DependsOn("cyc-y")}},
	})
	if !errors.Is(err, queue.ErrInvalidJob) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("a cycle was not refused as an invalid job: %v", err)
	}
	if _, err := e.client.Enqueue(e.ctx, "step", nil, queue.WithID("self"), queue.DependsOn("self")); !errors.Is(err, queue.ErrInvalidJob) {
		t.Fatalf("a job depending on itself: %v, want ErrInvalidJob", err)
	}
	_, err = e.client.Enqueue(e.ctx, "step", nil, queue.WithID("orphan"), queue.DependsOn("no-such-job"))
	if !errors.Is(err, queue.ErrParentNotFound) || !errors.Is(err, queue.ErrInvalidJob) || !strings.Contains(err.Error(), "no-such-job") {
		t.Fatalf("an unknown parent: %v, want ErrParentNotFound naming it", err)
	}
	for _, id := range []string{"cyc-x", "cyc-y", "cyc-z", "self", "orphan"} {
		if _, err := e.client.Get(e.ctx, id); !errors.Is(err, queue.ErrJobNotFound) {
			t.Fatalf("refused job %s was stored: %v", id, err)
		}
	}
}

func testDependsParentFinished(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	var log runLog
	e.worker(queue.WorkerConfig{}, map[string]queue.HandlerFunc{
		"step": log.handler,
		"gate": func(ctx context.Context, j *queue.Job) (any, error) { return nil, queue.NoRetry(errors.New("broken")) },
	})
	done := e.enqueue("step", nil, queue.WithID("early"))
	dead := e.enqueue("gate", nil, queue.WithID("early-dead"))
	e.waitState(done.ID, queue.StateCompleted)
	e.waitState(dead.ID, queue.StateDead)
	late := e.enqueue("step", nil, queue.WithID("late"), queue.DependsOn(done.ID))
	if late.State != queue.StatePending {
		t.Fatalf("a child of a completed parent is %s at enqueue, want pending", late.State)
	}
	e.waitState(late.ID, queue.StateCompleted)
	log.checkParents(t, late.ID, done.ID)
	gone := e.enqueue("step", nil, queue.WithID("late-canceled"), queue.DependsOn(dead.ID))
	if j := e.get(gone.ID); j.State != queue.StateCanceled || len(j.Errors) != 1 || j.Errors[0].Error != queue.ParentFailedError(dead.ID, "dead") {
		t.Fatalf("a child of a dead parent is %s with errors %+v, want canceled naming the parent", j.State, j.Errors)
	}
	e.enqueue("step", nil, queue.WithID("late-anyway"), queue.DependsOn(dead.ID), queue.RunOnParentFailure())
	e.waitState("late-anyway", queue.StateCompleted)
}

func testDependsCancelAndDelete(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	p := e.enqueue("step", nil, queue.WithID("cd-parent"), queue.OnQueue("held"))
	c := e.enqueue("step", nil, queue.WithID("cd-child"), queue.OnQueue("held"), queue.DependsOn(p.ID))
	if _, err := e.client.Cancel(e.ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if j := e.get(c.ID); j.State != queue.StateCanceled || j.Errors[0].Error != queue.ParentFailedError(p.ID, "canceled") {
		t.Fatalf("child of a canceled parent: %s %+v", j.State, j.Errors)
	}
	p2 := e.enqueue("step", nil, queue.WithID("cd-parent2"), queue.OnQueue("held"))
	c2 := e.enqueue("step", nil, queue.WithID("cd-child2"), queue.OnQueue("held"), queue.DependsOn(p2.ID))
	if err := e.client.Delete(e.ctx, p2.ID); err != nil {
		t.Fatal(err)
	}
	if j := e.get(c2.ID); j.State != queue.StateCanceled || j.Errors[0].Error != queue.ParentFailedError(p2.ID, "deleted") {
		t.Fatalf("child of a deleted parent: %s %+v", j.State, j.Errors)
	}
	p3 := e.enqueue("step", nil, queue.WithID("cd-parent3"), queue.OnQueue("held"))
	c3 := e.enqueue("step", nil, queue.WithID("cd-child3"), queue.OnQueue("held"), queue.DependsOn(p3.ID))
	if st, err := e.client.Cancel(e.ctx, c3.ID); err != nil || st != queue.StateCanceled {
		t.Fatalf("cancel a waiting job: %s %v", st, err)
	}
	var log runLog
	e.worker(queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "held", Weight: 1}}}, map[string]queue.HandlerFunc{"step": log.handler})
	e.waitState(p3.ID, queue.StateCompleted)
	if j := e.get(c3.ID); j.State != queue.StateCanceled {
		t.Fatalf("a canceled child became %s when its parent completed", j.State)
	}
}

func testDependsCancelAllWaiting(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	p := e.enqueue("step", nil, queue.WithID("caw-parent"), queue.OnQueue("caw"), queue.RunAt(time.Now().Add(time.Hour)))
	c1 := e.enqueue("step", nil, queue.WithID("caw-c1"), queue.OnQueue("caw"), queue.DependsOn(p.ID))
	c2 := e.enqueue("step", nil, queue.WithID("caw-c2"), queue.OnQueue("caw"), queue.DependsOn(c1.ID))
	// Released when c1 is canceled (it runs anyway), but it was waiting at the call: canceled too.
	c3 := e.enqueue("step", nil, queue.WithID("caw-c3"), queue.OnQueue("caw"), queue.DependsOn(c1.ID), queue.RunOnParentFailure())
	if s := e.stats("caw"); s.Waiting != 3 || s.Scheduled != 1 {
		t.Fatalf("stats before: %+v, want 3 waiting and 1 scheduled", s)
	}
	n, err := e.client.CancelAll(e.ctx, "caw", queue.StateWaiting)
	if err != nil || n != 3 {
		t.Fatalf("cancel all waiting = %d, %v; want 3", n, err)
	}
	for _, id := range []string{c1.ID, c2.ID, c3.ID} {
		if j := e.get(id); j.State != queue.StateCanceled {
			t.Fatalf("job %s is %s after cancel all waiting, want canceled", id, j.State)
		}
	}
	if s := e.stats("caw"); s.Waiting != 0 || s.Pending != 0 || s.Canceled != 3 || s.Scheduled != 1 {
		t.Fatalf("stats after: %+v, want 3 canceled and the parent scheduled", s)
	}
	if j := e.get(p.ID); j.State != queue.StateScheduled {
		t.Fatalf("the parent is %s, want scheduled", j.State)
	}
}

// callbackLog counts the runs of each batch callback.
type callbackLog struct {
	mu   sync.Mutex
	runs map[string]int
}

func (l *callbackLog) handler(ctx context.Context, j *queue.Job) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs == nil {
		l.runs = map[string]int{}
	}
	l.runs[j.Type+" "+j.Metadata[queue.BatchMetadataKey]]++
	return nil, nil
}

func (l *callbackLog) count(typ, batch string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[typ+" "+batch]
}

func (e *env) batch(id string) queue.BatchStatus {
	e.t.Helper()
	s, err := e.client.Batch(e.ctx, id)
	if err != nil {
		e.t.Fatalf("batch %s: %v", id, err)
	}
	return s
}

func testBatchCallbacks(t *testing.T, nb NewBroker) {
	newEnv(t, nb).runBatches(queue.DefaultQueue, queue.DefaultQueue)
}

// testBatchAcrossQueues is testBatchCallbacks with the jobs of each batch on two queues and
// its callbacks on a third (skipped where a batch's jobs and callbacks must be on its queue).
func testBatchAcrossQueues(t *testing.T, nb NewBroker) {
	newEnv(t, nb).runBatches("callbacks", queue.DefaultQueue, "other")
}

// runBatches runs a batch that succeeds and one with a dead job, their jobs spread over
// queues and their callbacks on the queue callbacks, and checks their counts and callbacks.
func (e *env) runBatches(callbacks string, queues ...string) {
	t := e.t
	var cb callbackLog
	cfg := queue.WorkerConfig{Concurrency: 4}
	for _, q := range append(slices.Clone(queues), callbacks) {
		if !slices.ContainsFunc(cfg.Queues, func(w queue.QueueWeight) bool { return w.Name == q }) {
			cfg.Queues = append(cfg.Queues, queue.QueueWeight{Name: q, Weight: 1})
		}
	}
	e.worker(cfg, map[string]queue.HandlerFunc{
		"step": noop, "done": cb.handler, "success": cb.handler,
		"gate": func(ctx context.Context, j *queue.Job) (any, error) { return nil, queue.NoRetry(errors.New("broken")) },
	})
	run := func(types ...string) (string, queue.BatchStatus) {
		reqs := make([]queue.Request, len(types))
		for i, typ := range types {
			reqs[i] = queue.Request{Type: typ, Options: []queue.Option{queue.OnQueue(queues[i%len(queues)])}}
		}
		id, _, errs, err := e.client.EnqueueBatch(e.ctx, reqs,
			queue.OnComplete("done", nil, queue.OnQueue(callbacks)), queue.OnSuccess("success", nil, queue.OnQueue(callbacks)))
		e.skipAcrossQueues(append(errs, err)...)
		if err != nil || errors.Join(errs...) != nil {
			t.Fatalf("enqueue batch: %v %v", err, errs)
		}
		s := e.batch(id)
		e.waitState(s.OnComplete, queue.StateCompleted)
		return id, e.batch(id)
	}
	ok, s := run("step", "step", "step")
	if s.Total != 3 || s.Completed != 3 || s.Pending != 0 || !s.Sealed || !s.Finished() {
		t.Fatalf("status of a batch that succeeded: %+v", s)
	}
	e.waitState(s.OnSuccess, queue.StateCompleted)
	bad, s := run("step", "gate", "step")
	if s.Total != 3 || s.Completed != 2 || s.Dead != 1 || s.Pending != 0 || !s.Finished() {
		t.Fatalf("status of a batch with a dead job: %+v", s)
	}
	if _, err := e.client.Get(e.ctx, s.OnSuccess); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("the success callback of a batch with a dead job: %v, want not enqueued", err)
	}
	if cb.count("done", ok) != 1 || cb.count("success", ok) != 1 || cb.count("done", bad) != 1 || cb.count("success", bad) != 0 {
		t.Fatalf("callback runs: %v", cb.runs)
	}
	if _, err := e.client.Batch(e.ctx, "no-such-batch"); !errors.Is(err, queue.ErrBatchNotFound) {
		t.Fatalf("an unknown batch: %v", err)
	}
}

func testBatchOpen(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	id, err := e.client.OpenBatch(e.ctx, queue.BatchID("open-batch"), queue.OnComplete("done", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.OpenBatch(e.ctx, queue.BatchID(id)); !errors.Is(err, queue.ErrDuplicateBatch) {
		t.Fatalf("a second batch with the same ID: %v", err)
	}
	var cb callbackLog
	e.worker(queue.WorkerConfig{Concurrency: 4}, map[string]queue.HandlerFunc{"step": noop, "done": cb.handler})
	first := e.enqueue("step", nil, queue.InBatch(id))
	e.waitState(first.ID, queue.StateCompleted)
	// Every job so far has finished, but the batch is open: no callback yet.
	if s := e.batch(id); s.Total != 1 || s.Completed != 1 || s.Sealed || s.Finished() {
		t.Fatalf("open batch: %+v", s)
	}
	second := e.enqueue("step", nil, queue.InBatch(id), queue.DependsOn(first.ID))
	e.waitState(second.ID, queue.StateCompleted)
	if err := e.client.SealBatch(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	s := e.batch(id)
	e.waitState(s.OnComplete, queue.StateCompleted)
	if s := e.batch(id); s.Total != 2 || s.Completed != 2 || !s.Finished() || cb.count("done", id) != 1 {
		t.Fatalf("sealed batch: %+v, %d callback runs", s, cb.count("done", id))
	}
	if _, err := e.client.Enqueue(e.ctx, "step", nil, queue.InBatch(id)); !errors.Is(err, queue.ErrBatchSealed) {
		t.Fatalf("a job added to a sealed batch: %v", err)
	}
	if _, err := e.client.Enqueue(e.ctx, "step", nil, queue.InBatch("no-such-batch")); !errors.Is(err, queue.ErrBatchNotFound) {
		t.Fatalf("a job added to an unknown batch: %v", err)
	}
	if err := e.client.SealBatch(e.ctx, "no-such-batch"); !errors.Is(err, queue.ErrBatchNotFound) {
		t.Fatalf("seal an unknown batch: %v", err)
	}
}

// testBatchLarge finishes 10,000 jobs of one batch through the broker directly (in chunks,
// as workers report outcomes), so that it stays quick on every broker, and checks that the
// batch's callback was enqueued once.
func testBatchLarge(t *testing.T, nb NewBroker) {
	const n, chunk = 10000, 1000
	e := newEnv(t, nb)
	id, err := e.client.OpenBatch(e.ctx, queue.OnComplete("done", nil, queue.OnQueue("large")))
	if err != nil {
		t.Fatal(err)
	}
	// In calls of 1,000 jobs, as a producer adds them: each call stays a short round trip
	// (one of 10,000 jobs can outlast a client's read timeout on a loaded machine).
	reqs := make([]queue.Request, chunk)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "step", Options: []queue.Option{queue.OnQueue("large"), queue.InBatch(id)}}
	}
	for k := 0; k < n; k += chunk {
		if _, errs, err := e.client.EnqueueMany(e.ctx, reqs); err != nil || errors.Join(errs...) != nil {
			t.Fatalf("enqueue jobs %d to %d of a batch of %d: %v %v", k, k+chunk, n, err, errors.Join(errs...))
		}
	}
	if err := e.client.SealBatch(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	for finished := 0; finished < n; {
		jobs, err := e.broker.Fetch(e.ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"large"}, Max: 1000, Lease: time.Minute, Wait: time.Second})
		if err != nil || len(jobs) == 0 {
			t.Fatalf("fetch after %d finished: %d jobs, %v", finished, len(jobs), err)
		}
		outs := make([]queue.Outcome, len(jobs))
		for i, j := range jobs {
			outs[i] = queue.Outcome{JobID: j.ID, Queue: j.Queue, WorkerID: "w", Attempt: j.Attempt, State: queue.StateCompleted, FinishedAt: time.Now()}
		}
		if err := e.broker.Finish(e.ctx, outs); err != nil {
			t.Fatal(err)
		}
		finished += len(jobs)
		if s := e.batch(id); s.Finished() != (finished == n) || s.Completed != int64(finished) {
			t.Fatalf("batch after %d of %d finished: %+v", finished, n, s)
		}
	}
	s := e.batch(id)
	if s.Total != n || s.Completed != n || s.Pending != 0 {
		t.Fatalf("batch of %d: %+v", n, s)
	}
	if q := e.stats("large"); q.Pending != 1 || q.Active+q.Scheduled != 0 || q.Completed != n {
		t.Fatalf("queue: %+v, want the one callback pending", q)
	}
	var cb callbackLog
	e.worker(queue.WorkerConfig{Queues: []queue.QueueWeight{{Name: "large", Weight: 1}}}, map[string]queue.HandlerFunc{"done": cb.handler})
	e.waitState(s.OnComplete, queue.StateCompleted)
	if cb.count("done", id) != 1 {
		t.Fatalf("callback ran %d times", cb.count("done", id))
	}
}

// testDependsLongChain cancels the root of a chain longer than SQLite's trigger depth (1000):
// every job of it ends canceled, none is left waiting.
func testDependsLongChain(t *testing.T, nb NewBroker) {
	const n = 1050
	e := newEnv(t, nb)
	reqs := make([]queue.Request, n)
	for i := range reqs {
		opts := []queue.Option{queue.OnQueue("chain"), queue.WithID(fmt.Sprintf("link-%d", i))}
		if i == 0 {
			opts = append(opts, queue.RunAt(time.Now().Add(time.Hour)))
		} else {
			opts = append(opts, queue.DependsOn(fmt.Sprintf("link-%d", i-1)))
		}
		reqs[i] = queue.Request{Type: "step", Options: opts}
	}
	if _, errs, err := e.client.EnqueueMany(e.ctx, reqs); err != nil || errors.Join(errs...) != nil {
		t.Fatalf("enqueue a chain of %d: %v %v", n, err, errors.Join(errs...))
	}
	if _, err := e.client.Cancel(e.ctx, "link-0"); err != nil {
		t.Fatalf("cancel the root of a chain of %d: %v", n, err)
	}
	if s := e.stats("chain"); s.Waiting != 0 || s.Canceled != n {
		t.Fatalf("chain of %d after its root was canceled: %+v", n, s)
	}
	if j := e.get(fmt.Sprintf("link-%d", n-1)); j.State != queue.StateCanceled {
		t.Fatalf("the last link is %s, want canceled", j.State)
	}
}
