package queuetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// testPriorityOrder: a backlog of mixed priorities is listed and fetched highest priority
// first, FIFO within each, across fetch batches that span priorities.
func testPriorityOrder(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	prios := []int{0, queue.MinPriority, 2, queue.MaxPriority, -1, 0, 2, queue.MaxPriority, queue.MinPriority, -1}
	var want []*queue.Job
	for round := range 3 {
		for _, p := range prios {
			opts := []queue.Option{queue.OnQueue("prio")}
			if p != 0 || round == 1 { // the default priority given or not
				opts = append(opts, queue.Priority(p))
			}
			want = append(want, e.enqueue("x", nil, opts...))
		}
	}
	first := want[0]
	slices.SortStableFunc(want, func(a, b *queue.Job) int { return b.Priority - a.Priority })
	if got := e.get(want[0].ID); got.Priority != queue.MaxPriority {
		t.Fatalf("stored priority = %d, want %d", got.Priority, queue.MaxPriority)
	}
	s := e.stats("prio")
	if s.Pending != int64(len(want)) || !s.OldestPending.Equal(first.EnqueuedAt) {
		t.Fatalf("stats: pending %d oldest %v, want %d and %v", s.Pending, s.OldestPending, len(want), first.EnqueuedAt)
	}
	byPrio := map[int]int64{queue.MaxPriority: 6, 2: 6, 0: 6, -1: 6, queue.MinPriority: 6}
	if !maps.Equal(s.PendingByPriority, byPrio) {
		t.Fatalf("pending by priority = %v, want %v", s.PendingByPriority, byPrio)
	}
	var listed []*queue.Job
	for off := 0; off < len(want); off += 7 { // pages that cross priorities
		page, err := e.client.List(e.ctx, "prio", queue.StatePending, off, 7)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, page...)
	}
	if !slices.Equal(ids(listed), ids(want)) {
		t.Fatalf("listed pending\n %v\nwant (priority, then FIFO)\n %v", prioIDs(listed), prioIDs(want))
	}
	var fetched []*queue.Job
	for len(fetched) < len(want) {
		jobs, err := e.broker.Fetch(e.ctx, queue.FetchRequest{
			WorkerID: "w", Queues: []string{"prio"}, Max: 7, Lease: time.Minute, Wait: time.Second,
		})
		if err != nil || len(jobs) == 0 {
			t.Fatalf("fetch after %d jobs: %d jobs, %v", len(fetched), len(jobs), err)
		}
		fetched = append(fetched, jobs...)
	}
	if !slices.Equal(ids(fetched), ids(want)) {
		t.Fatalf("fetched\n %v\nwant (priority, then FIFO)\n %v", prioIDs(fetched), prioIDs(want))
	}
	for _, j := range fetched {
		if j.Priority != want[slices.IndexFunc(want, func(w *queue.Job) bool { return w.ID == j.ID })].Priority {
			t.Fatalf("fetched job %s has priority %d", j.ID, j.Priority)
		}
	}
	if s := e.stats("prio"); s.Pending != 0 || s.PendingByPriority != nil || s.Active != int64(len(want)) {
		t.Fatalf("stats after fetching every job: %+v", s)
	}
}

// prioIDs shows jobs as "priority:id" for failure messages.
func prioIDs(jobs []*queue.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = fmt.Sprintf("%d:%s", j.Priority, j.ID)
	}
	return out
}

// testPriorityKept: a job that comes back to pending keeps its priority. Requeued at
// shutdown and recovered after a lost lease, it goes to the front of its priority; promoted
// from retry and retried from dead, to the back.
func testPriorityKept(t *testing.T, nb NewBroker) {
	cases := map[string]struct {
		back  func(e *env, h *queue.Job)
		front bool
		lease time.Duration
	}{
		"Requeue": {front: true, lease: time.Minute, back: func(e *env, h *queue.Job) {
			if err := e.broker.Requeue(e.ctx, "w1", []*queue.Job{h}); err != nil {
				e.t.Fatal(err)
			}
		}},
		"Recover": {front: true, lease: 200 * time.Millisecond, back: func(e *env, h *queue.Job) {
			upkeepUntilPending(e, h.ID)
		}},
		"RetryPromoted": {lease: time.Minute, back: func(e *env, h *queue.Job) {
			finish(e, h, queue.StateRetry)
			upkeepUntilPending(e, h.ID)
		}},
		"RetryDead": {lease: time.Minute, back: func(e *env, h *queue.Job) {
			finish(e, h, queue.StateDead)
			if err := e.client.Retry(e.ctx, h.ID); err != nil {
				e.t.Fatal(err)
			}
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nb)
			d1 := e.enqueue("x", nil)
			h := e.enqueue("x", nil, queue.Priority(3), queue.MaxRetries(5))
			d2 := e.enqueue("x", nil)
			h2 := e.enqueue("x", nil, queue.Priority(3))
			leased := fetchAs(e, "w1", c.lease, 1)
			if leased[0].ID != h.ID || leased[0].Priority != 3 {
				t.Fatalf("fetched %s (priority %d), want %s, the first of priority 3", leased[0].ID, leased[0].Priority, h.ID)
			}
			c.back(e, leased[0])
			want := []string{h2.ID, h.ID, d1.ID, d2.ID}
			if c.front {
				want = []string{h.ID, h2.ID, d1.ID, d2.ID}
			}
			listed, err := e.client.List(e.ctx, queue.DefaultQueue, queue.StatePending, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(listed), want) {
				t.Fatalf("pending after %s = %v, want %v", name, prioIDs(listed), want)
			}
			if got := e.get(h.ID); got.Priority != 3 {
				t.Fatalf("priority after %s = %d, want 3", name, got.Priority)
			}
			if got := fetchAs(e, "w2", time.Minute, 4); !slices.Equal(ids(got), want) {
				t.Fatalf("fetched after %s = %v, want %v", name, prioIDs(got), want)
			}
		})
	}
}

// finish records the outcome st (retry, due at once, or dead) of the attempt of job j leased
// by worker w1.
func finish(e *env, j *queue.Job, st queue.State) {
	e.t.Helper()
	err := e.broker.Finish(e.ctx, []queue.Outcome{{
		JobID: j.ID, Queue: j.Queue, WorkerID: "w1", Attempt: j.Attempt, State: st, RetryAt: time.Now(),
		Error: &queue.AttemptError{Attempt: j.Attempt, Error: "failed", At: time.Now()}, FinishedAt: time.Now(),
	}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// upkeepUntilPending runs fetches on the paused default queue (upkeep only: promotion and
// lease recovery, nothing leased) until job id is pending.
func upkeepUntilPending(e *env, id string) {
	e.t.Helper()
	if err := e.client.Pause(e.ctx, queue.DefaultQueue); err != nil {
		e.t.Fatal(err)
	}
	var last *queue.Job
	eventually(e.t, 15*time.Second, func() bool {
		if _, err := e.broker.Fetch(e.ctx, queue.FetchRequest{
			WorkerID: "upkeep", Queues: []string{queue.DefaultQueue}, Max: 1, Lease: time.Minute,
		}); err != nil {
			e.t.Fatal(err)
		}
		last = e.get(id)
		return last.State == queue.StatePending
	}, func() string { return "job " + id + " is " + string(last.State) + ", want pending" })
	if err := e.client.Resume(e.ctx, queue.DefaultQueue); err != nil {
		e.t.Fatal(err)
	}
}
