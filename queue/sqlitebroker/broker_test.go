package sqlitebroker

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

func TestEnqueueGetRoundTrip(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	j := newJob("emails")
	j.Timeout = 3 * time.Second
	j.UniqueKey = "k1"
	j.UniqueFor = time.Hour
	j.MaxRetries = 7
	enqueue(t, b, j)

	got := get(t, b, j.ID)
	if got.Queue != "emails" || got.Type != "test" || !bytes.Equal(got.Payload, j.Payload) ||
		got.State != queue.StatePending || got.Attempt != 0 || got.MaxRetries != 7 ||
		got.Timeout != 3*time.Second || got.UniqueKey != "k1" || got.UniqueFor != time.Hour ||
		got.ResultTTL != time.Hour || !got.EnqueuedAt.Equal(j.EnqueuedAt) ||
		!got.StartedAt.IsZero() || !got.FinishedAt.IsZero() || got.Result != nil || got.Errors != nil {
		t.Fatalf("got %+v, want the fields of %+v", got, j)
	}
	_, err := b.Get(context.Background(), "nope")
	wantErr(t, err, queue.ErrJobNotFound)
}

func TestEnqueueDuplicateIDChangesNothing(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	j := newJob("default")
	enqueue(t, b, j)
	dup := *j
	dup.Queue = "other"
	dup.Payload = []byte(`{"n":2}`)
	third := newJob("default")
	errs, err := b.Enqueue(context.Background(), []*queue.Job{&dup, third, third})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, errs[0], queue.ErrDuplicateJob)
	if errs[1] != nil {
		t.Fatal(errs[1])
	}
	wantErr(t, errs[2], queue.ErrDuplicateJob)
	got := get(t, b, j.ID)
	if got.Queue != "default" || string(got.Payload) != `{"n":1}` {
		t.Fatalf("duplicate changed the job: %+v", got)
	}
	if s := stats(t, b, "default"); s.Pending != 2 {
		t.Fatalf("pending %d, want 2", s.Pending)
	}
	if s := stats(t, b, "other"); s.Pending != 0 {
		t.Fatalf("other queue has %d pending", s.Pending)
	}
}

func TestUniqueKeyHeldThenReleased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	unique := func(key string, d time.Duration) *queue.Job {
		j := newJob("default")
		j.UniqueKey, j.UniqueFor = key, d
		return j
	}
	first := unique("report", time.Hour)
	enqueue(t, b, first)

	second := unique("report", time.Hour)
	errs, err := b.Enqueue(ctx, []*queue.Job{second})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, errs[0], queue.ErrDuplicateUnique)
	if _, err := b.Get(ctx, second.ID); err == nil {
		t.Fatal("the refused job was stored")
	}
	// Same ID: duplicate job, even though the key is held by that very job.
	errs, _ = b.Enqueue(ctx, []*queue.Job{first})
	wantErr(t, errs[0], queue.ErrDuplicateJob)
	// Another queue does not share the key.
	other := unique("report", time.Hour)
	other.Queue = "other"
	enqueue(t, b, other)

	// Completion releases the key early.
	jobs := fetch(t, b, 1, "default")
	finish(t, b, jobs[0], queue.StateCompleted)
	enqueue(t, b, second)

	// Cancel releases it.
	if _, err := b.Cancel(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	third := unique("report", time.Hour)
	enqueue(t, b, third)

	// Delete releases it.
	if err := b.Delete(ctx, third.ID); err != nil {
		t.Fatal(err)
	}
	fourth := unique("report", time.Hour)
	enqueue(t, b, fourth)

	// Dead releases it.
	fourth.MaxRetries = 0
	jobs = fetch(t, b, 1, "default")
	finish(t, b, jobs[0], queue.StateDead)
	fifth := unique("report", time.Hour)
	enqueue(t, b, fifth)

	// UniqueFor elapsed (counted from EnqueuedAt) releases it while the job still waits.
	old := unique("nightly", time.Minute)
	old.EnqueuedAt = time.Now().Add(-2 * time.Minute)
	enqueue(t, b, old)
	enqueue(t, b, unique("nightly", time.Minute))
	wantState(t, b, old.ID, queue.StatePending)
}

func TestFetchOrderPriorityAndPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	var low, high []*queue.Job
	for range 3 {
		low = append(low, newJob("low"))
		high = append(high, newJob("high"))
	}
	enqueue(t, b, low...)
	enqueue(t, b, high...)

	got := fetch(t, b, 4, "high", "low")
	want := append(ids(high), low[0].ID)
	if !slices.Equal(ids(got), want) {
		t.Fatalf("fetched %v, want %v", ids(got), want)
	}
	for _, j := range got {
		if j.State != queue.StateActive || j.Attempt != 1 || j.WorkerID != "w1" || j.StartedAt.IsZero() {
			t.Fatalf("fetched job not leased: %+v", j)
		}
	}

	if err := b.Pause(ctx, "low"); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, b, 10, "high", "low"); len(got) != 0 {
		t.Fatalf("fetched %v from a paused queue", ids(got))
	}
	if !stats(t, b, "low").Paused {
		t.Fatal("queue not reported paused")
	}
	if err := b.Resume(ctx, "low"); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, b, 10, "high", "low"); !slices.Equal(ids(got), ids(low[1:])) {
		t.Fatalf("after resume fetched %v, want %v", ids(got), ids(low[1:]))
	}
}

func TestScheduledJobStartsOnTime(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	j := newJob("default")
	j.State = queue.StateScheduled
	j.RunAt = time.Now().Add(150 * time.Millisecond)
	enqueue(t, b, j)
	if s := stats(t, b, "default"); s.Scheduled != 1 || s.Pending != 0 {
		t.Fatalf("stats %+v, want 1 scheduled", s)
	}
	if got := fetch(t, b, 1, "default"); len(got) != 0 {
		t.Fatal("a scheduled job was fetched before its time")
	}
	// One Fetch that waits: it must wake at run-at by itself, well before its Wait ends.
	got := fetchReq(t, b, queue.FetchRequest{WorkerID: "w1", Queues: []string{"default"}, Max: 1,
		Lease: time.Minute, Wait: 30 * time.Second})
	if len(got) != 1 || got[0].ID != j.ID {
		t.Fatalf("fetched %v, want the scheduled job", ids(got))
	}
	if got[0].StartedAt.Before(j.RunAt) {
		t.Fatalf("started at %v, before its run-at %v", got[0].StartedAt, j.RunAt)
	}
}

func TestRetryLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	j := newJob("default")
	j.MaxRetries = 1
	enqueue(t, b, j)

	got := fetch(t, b, 1, "default")
	retryAt := time.Now().Add(100 * time.Millisecond)
	finish(t, b, got[0], queue.StateRetry, func(o *queue.Outcome) { o.RetryAt = retryAt })
	r := wantState(t, b, j.ID, queue.StateRetry)
	if !r.RunAt.Equal(retryAt) || len(r.Errors) != 1 || r.Errors[0].Error != "handler failed" || r.Errors[0].Attempt != 1 {
		t.Fatalf("retry job %+v", r)
	}
	got = fetchReq(t, b, queue.FetchRequest{WorkerID: "w1", Queues: []string{"default"}, Max: 1,
		Lease: time.Minute, Wait: 30 * time.Second})
	if len(got) != 1 || got[0].Attempt != 2 {
		t.Fatalf("second attempt: %+v", got)
	}
	finish(t, b, got[0], queue.StateDead)
	d := wantState(t, b, j.ID, queue.StateDead)
	if len(d.Errors) != 2 || d.FinishedAt.IsZero() {
		t.Fatalf("dead job %+v", d)
	}
	s := stats(t, b, "default")
	if s.Processed != 2 || s.Failed != 2 || s.Dead != 1 {
		t.Fatalf("stats %+v, want 2 processed, 2 failed, 1 dead", s)
	}

	if err := b.Retry(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	p := wantState(t, b, j.ID, queue.StatePending)
	if p.Attempt != 0 || len(p.Errors) != 2 {
		t.Fatalf("retried job %+v: want attempt 0 and its history", p)
	}
	wantErr(t, b.Retry(ctx, j.ID), queue.ErrInvalidState)
	wantErr(t, b.Retry(ctx, "nope"), queue.ErrJobNotFound)
}

func TestRetryAllAndDeleteAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	var jobs []*queue.Job
	for range 5 {
		j := newJob("default")
		j.MaxRetries = 0
		jobs = append(jobs, j)
	}
	enqueue(t, b, jobs...)
	for _, j := range fetch(t, b, 3, "default") {
		finish(t, b, j, queue.StateDead)
	}
	enqueue(t, b, newJob("other"))

	n, err := b.RetryAll(ctx, "default", queue.StateDead)
	if err != nil || n != 3 {
		t.Fatalf("RetryAll = %d, %v; want 3", n, err)
	}
	if s := stats(t, b, "default"); s.Pending != 5 || s.Dead != 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := b.RetryAll(ctx, "default", queue.StatePending); err == nil {
		t.Fatal("RetryAll of pending jobs worked")
	}
	fetch(t, b, 1, "default") // one active
	_, err = b.DeleteAll(ctx, "default", queue.StateActive)
	wantErr(t, err, queue.ErrInvalidState)
	n, err = b.DeleteAll(ctx, "default", queue.StatePending)
	if err != nil || n != 4 {
		t.Fatalf("DeleteAll = %d, %v; want 4", n, err)
	}
	if s := stats(t, b, "default"); s.Pending != 0 || s.Active != 1 {
		t.Fatalf("stats %+v", s)
	}
	if s := stats(t, b, "other"); s.Pending != 1 {
		t.Fatalf("other queue touched: %+v", s)
	}
}

func TestCancelAllKeepsCountsAndUniques(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	var jobs []*queue.Job
	for i := range 6 {
		j := newJob("default")
		j.UniqueKey, j.UniqueFor = fmt.Sprint("k", i), time.Hour
		if i%2 == 1 {
			j.State, j.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
		}
		jobs = append(jobs, j)
	}
	enqueue(t, b, jobs...)
	enqueue(t, b, newJob("other"))
	active := fetch(t, b, 1, "default")[0] // one active: untouched
	n, err := b.CancelAll(ctx, "default", queue.StatePending)
	if err != nil || n != 2 {
		t.Fatalf("CancelAll pending = %d, %v; want 2", n, err)
	}
	n, err = b.CancelAll(ctx, "default", queue.StateScheduled)
	if err != nil || n != 3 {
		t.Fatalf("CancelAll scheduled = %d, %v; want 3", n, err)
	}
	_, err = b.CancelAll(ctx, "default", queue.StateActive)
	wantErr(t, err, queue.ErrInvalidState)
	if s := stats(t, b, "default"); s.Pending != 0 || s.Scheduled != 0 || s.Active != 1 || s.Canceled != 5 {
		t.Fatalf("stats %+v", s)
	}
	if s := stats(t, b, "other"); s.Pending != 1 || s.Canceled != 0 {
		t.Fatalf("other queue touched: %+v", s)
	}
	for _, j := range jobs {
		if got := get(t, b, j.ID); j.ID != active.ID && (got.State != queue.StateCanceled || got.FinishedAt.IsZero()) {
			t.Fatalf("job %s: %+v", j.ID, got)
		}
	}
	// The canceled jobs' unique keys are free again; the active job's is not.
	var again []*queue.Job
	for i := range 6 {
		j := newJob("default")
		j.UniqueKey, j.UniqueFor = fmt.Sprint("k", i), time.Hour
		again = append(again, j)
	}
	errs, err := b.Enqueue(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if jobs[i].ID == active.ID {
			wantErr(t, e, queue.ErrDuplicateUnique)
		} else if e != nil {
			t.Fatalf("unique key k%d still held after CancelAll: %v", i, e)
		}
	}
}

func TestLeaseExpiryRecoversJob(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	j := newJob("default")
	j.MaxRetries = 1
	enqueue(t, b, j)
	short := queue.FetchRequest{WorkerID: "crashed", Queues: []string{"default"}, Max: 1, Lease: 50 * time.Millisecond}
	if got := fetchReq(t, b, short); len(got) != 1 {
		t.Fatal("no job")
	}
	// The worker never heartbeats. A Fetch that waits wakes at the lease deadline by itself.
	got := fetchReq(t, b, queue.FetchRequest{WorkerID: "w2", Queues: []string{"default"}, Max: 1,
		Lease: 50 * time.Millisecond, Wait: 30 * time.Second})
	if len(got) != 1 || got[0].Attempt != 2 || got[0].WorkerID != "w2" {
		t.Fatalf("recovered job: %+v", got)
	}
	if len(got[0].Errors) != 1 || got[0].Errors[0].Attempt != 1 ||
		got[0].Errors[0].Error != "lease expired: worker crashed stopped heartbeating" {
		t.Fatalf("errors %+v", got[0].Errors)
	}
	// Its last attempt's lease runs out too: dead.
	testenv.Until(t, 30*time.Second, "job not dead", func() bool {
		fetch(t, b, 1, "default")
		return get(t, b, j.ID).State == queue.StateDead
	})
	d := get(t, b, j.ID)
	if len(d.Errors) != 2 || !strings.Contains(d.Errors[1].Error, "worker w2 stopped heartbeating") {
		t.Fatalf("dead job errors %+v", d.Errors)
	}
	if s := stats(t, b, "default"); s.Dead != 1 || s.Active != 0 || s.Processed != 2 || s.Failed != 2 {
		t.Fatalf("stats %+v", s)
	}
	// The stale worker's outcome is ignored.
	finish(t, b, got[0], queue.StateCompleted)
	wantState(t, b, j.ID, queue.StateDead)
}

func TestHeartbeatExtendsLeaseAndReportsCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	a, c := newJob("default"), newJob("default")
	enqueue(t, b, a, c)
	got := fetchReq(t, b, queue.FetchRequest{WorkerID: "w1", Queues: []string{"default"}, Max: 2, Lease: time.Hour})
	if len(got) != 2 {
		t.Fatal("want 2 jobs")
	}
	st, err := b.Cancel(ctx, c.ID)
	if err != nil || st != queue.StateActive {
		t.Fatalf("Cancel of an active job = %s, %v", st, err)
	}
	if !get(t, b, c.ID).CancelRequested {
		t.Fatal("cancel not recorded")
	}
	info := queue.WorkerInfo{ID: "w1", Host: "h", PID: 1, Queues: []string{"default"}, Concurrency: 2,
		StartedAt: time.Now(), Jobs: []string{a.ID, c.ID}}
	cancel, err := b.Heartbeat(ctx, info, time.Hour)
	if err != nil || !slices.Equal(cancel, []string{c.ID}) {
		t.Fatalf("Heartbeat = %v, %v; want [%s]", cancel, err, c.ID)
	}
	// Whatever the outcome, a job whose cancellation was asked ends canceled.
	finish(t, b, got[1], queue.StateCompleted)
	wantState(t, b, c.ID, queue.StateCanceled)
	finish(t, b, got[0], queue.StateCompleted)
	wantState(t, b, a.ID, queue.StateCompleted)

	// A lease that heartbeats keeps its job past the first deadline.
	d := newJob("default")
	enqueue(t, b, d)
	got = fetchReq(t, b, queue.FetchRequest{WorkerID: "w1", Queues: []string{"default"}, Max: 1, Lease: 100 * time.Millisecond})
	info.Jobs = []string{d.ID}
	if _, err := b.Heartbeat(ctx, info, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Past the first deadline, a Fetch finds nothing to recover.
	deadline := got[0].StartedAt.Add(100 * time.Millisecond)
	testenv.Until(t, 10*time.Second, "clock", func() bool { return time.Now().After(deadline) })
	if again := fetch(t, b, 1, "default"); len(again) != 0 {
		t.Fatal("a heartbeating job was recovered")
	}
	wantState(t, b, d.ID, queue.StateActive)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	pending := newJob("default")
	scheduled := newJob("default")
	scheduled.State, scheduled.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
	enqueue(t, b, pending, scheduled)
	for _, j := range []*queue.Job{pending, scheduled} {
		st, err := b.Cancel(ctx, j.ID)
		if err != nil || st != queue.StateCanceled {
			t.Fatalf("Cancel = %s, %v", st, err)
		}
		c := wantState(t, b, j.ID, queue.StateCanceled)
		if c.FinishedAt.IsZero() {
			t.Fatal("canceled job has no finish time")
		}
	}
	_, err := b.Cancel(ctx, pending.ID)
	wantErr(t, err, queue.ErrInvalidState)
	_, err = b.Cancel(ctx, "nope")
	wantErr(t, err, queue.ErrJobNotFound)
	if s := stats(t, b, "default"); s.Canceled != 2 || s.Pending != 0 || s.Scheduled != 0 {
		t.Fatalf("stats %+v", s)
	}
	// A canceled job can be retried.
	if err := b.Retry(ctx, pending.ID); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, pending.ID, queue.StatePending)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	a, c := newJob("default"), newJob("default")
	enqueue(t, b, a, c)
	fetch(t, b, 1, "default") // a is active
	wantErr(t, b.Delete(ctx, a.ID), queue.ErrInvalidState)
	if err := b.Delete(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.Delete(ctx, c.ID), queue.ErrJobNotFound)
	_, err := b.Get(ctx, c.ID)
	wantErr(t, err, queue.ErrJobNotFound)
}

func TestFinishIgnoresStaleOutcomes(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	j := newJob("default")
	enqueue(t, b, j)
	got := fetch(t, b, 1, "default")[0]
	wrongWorker := *got
	wrongWorker.WorkerID = "other"
	finish(t, b, &wrongWorker, queue.StateCompleted)
	wrongAttempt := *got
	wrongAttempt.Attempt = 5
	finish(t, b, &wrongAttempt, queue.StateCompleted)
	finish(t, b, &queue.Job{ID: "missing", Queue: "default", WorkerID: "w1", Attempt: 1}, queue.StateCompleted)
	wantState(t, b, j.ID, queue.StateActive)
	if s := stats(t, b, "default"); s.Processed != 0 {
		t.Fatalf("ignored outcomes counted: %+v", s)
	}
	finish(t, b, got, queue.StateCompleted, func(o *queue.Outcome) { o.Result = []byte(`{"ok": true}`) })
	c := wantState(t, b, j.ID, queue.StateCompleted)
	if string(c.Result) != `{"ok": true}` || c.FinishedAt.IsZero() {
		t.Fatalf("completed job %+v", c)
	}
	if err := b.Finish(context.Background(), []queue.Outcome{{JobID: j.ID, State: queue.StatePending}}); err == nil {
		t.Fatal("Finish accepted a pending outcome")
	}
}

func TestDeadLetterCap(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Options{MaxDead: 3})
	var jobs []*queue.Job
	for range 5 {
		j := newJob("default")
		j.MaxRetries = 0
		jobs = append(jobs, j)
	}
	enqueue(t, b, jobs...)
	for _, j := range fetch(t, b, 5, "default") {
		finish(t, b, j, queue.StateDead) // one at a time: the oldest dead go first
	}
	if s := stats(t, b, "default"); s.Dead != 3 {
		t.Fatalf("dead %d, want 3", s.Dead)
	}
	dead, err := b.List(context.Background(), "default", queue.StateDead, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(dead), ids(jobs[2:])) {
		t.Fatalf("dead %v, want the newest %v", ids(dead), ids(jobs[2:]))
	}
}

func TestResultTTLDeletesFinishedJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	short, long := newJob("default"), newJob("default")
	short.ResultTTL = time.Millisecond
	canceled := newJob("default")
	canceled.ResultTTL = time.Millisecond
	enqueue(t, b, short, long, canceled)
	if _, err := b.Cancel(ctx, canceled.ID); err != nil {
		t.Fatal(err)
	}
	for _, j := range fetch(t, b, 2, "default") {
		finish(t, b, j, queue.StateCompleted)
	}
	testenv.Until(t, 10*time.Second, "expired results still there", func() bool {
		fetch(t, b, 1, "default")
		_, err1 := b.Get(ctx, short.ID)
		_, err2 := b.Get(ctx, canceled.ID)
		return err1 != nil && err2 != nil
	})
	wantState(t, b, long.ID, queue.StateCompleted)
	if s := stats(t, b, "default"); s.Completed != 1 || s.Canceled != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRequeuePutsJobsInFront(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	jobs := []*queue.Job{newJob("default"), newJob("default"), newJob("default"), newJob("default")}
	enqueue(t, b, jobs...)
	got := fetch(t, b, 2, "default")
	if err := b.Requeue(ctx, "w1", got); err != nil {
		t.Fatal(err)
	}
	for _, j := range got {
		p := wantState(t, b, j.ID, queue.StatePending)
		if p.Attempt != 0 {
			t.Fatalf("requeued job kept its attempt: %d", p.Attempt)
		}
	}
	pending, err := b.List(ctx, "default", queue.StatePending, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(pending), ids(jobs)) {
		t.Fatalf("pending %v, want %v", ids(pending), ids(jobs))
	}
	// Put back behind newer pending work? No: in front of it.
	got = fetch(t, b, 1, "default")
	newer := newJob("default")
	enqueue(t, b, newer)
	if err := b.Requeue(ctx, "w1", got); err != nil {
		t.Fatal(err)
	}
	if again := fetch(t, b, 1, "default"); again[0].ID != got[0].ID || again[0].Attempt != 1 {
		t.Fatalf("fetched %+v, want the requeued job at attempt 1", again[0])
	}
}

func TestListPagesInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	var jobs []*queue.Job
	for range 25 {
		jobs = append(jobs, newJob("default"))
	}
	enqueue(t, b, jobs...)
	var all []*queue.Job
	for offset := 0; ; offset += 10 {
		page, err := b.List(ctx, "default", queue.StatePending, offset, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("page of %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
	}
	if !slices.Equal(ids(all), ids(jobs)) {
		t.Fatalf("listed %v, want %v", ids(all), ids(jobs))
	}
	if page, _ := b.List(ctx, "default", queue.StateDead, 0, 10); len(page) != 0 {
		t.Fatal("dead jobs listed")
	}
	if _, err := b.List(ctx, "default", "bogus", 0, 10); err == nil {
		t.Fatal("List accepted an unknown state")
	}
	// Scheduled jobs list by run-at.
	late, early := newJob("default"), newJob("default")
	late.State, late.RunAt = queue.StateScheduled, time.Now().Add(2*time.Hour)
	early.State, early.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
	enqueue(t, b, late, early)
	sched, err := b.List(ctx, "default", queue.StateScheduled, 0, 10)
	if err != nil || !slices.Equal(ids(sched), []string{early.ID, late.ID}) {
		t.Fatalf("scheduled %v, %v", ids(sched), err)
	}
}

func TestQueuesStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	first := newJob("b")
	first.EnqueuedAt = time.Now().Add(-time.Minute)
	enqueue(t, b, first, newJob("b"), newJob("b"), newJob("a"))
	j := fetch(t, b, 1, "a")[0]
	finish(t, b, j, queue.StateCompleted)
	j = fetch(t, b, 1, "b")[0]
	finish(t, b, j, queue.StateRetry, func(o *queue.Outcome) { o.RetryAt = time.Now().Add(time.Hour) })
	all, err := b.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "a" || all[1].Name != "b" {
		t.Fatalf("queues %+v", all)
	}
	a, bq := all[0], all[1]
	if a.Completed != 1 || a.Processed != 1 || a.Failed != 0 || a.Pending != 0 || !a.OldestPending.IsZero() {
		t.Fatalf("queue a %+v", a)
	}
	if bq.Pending != 2 || bq.Retry != 1 || bq.Processed != 1 || bq.Failed != 1 {
		t.Fatalf("queue b %+v", bq)
	}
	pending, _ := b.List(ctx, "b", queue.StatePending, 0, 1)
	if !bq.OldestPending.Equal(pending[0].EnqueuedAt) {
		t.Fatalf("oldest pending %v, want %v", bq.OldestPending, pending[0].EnqueuedAt)
	}
}

func TestRemoveQueueTouchesOnlyThatQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	gone, kept := newJob("gone"), newJob("kept")
	gone.UniqueKey, gone.UniqueFor = "u", time.Hour
	enqueue(t, b, gone, newJob("gone"), kept)
	fetch(t, b, 1, "gone")
	if err := b.Pause(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveQueue(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	_, err := b.Get(ctx, gone.ID)
	wantErr(t, err, queue.ErrJobNotFound)
	wantState(t, b, kept.ID, queue.StatePending)
	all, _ := b.Queues(ctx)
	if len(all) != 1 || all[0].Name != "kept" {
		t.Fatalf("queues %+v", all)
	}
	// Its unique keys and pause flag went with it.
	again := newJob("gone")
	again.UniqueKey, again.UniqueFor = "u", time.Hour
	enqueue(t, b, again)
	if s := stats(t, b, "gone"); s.Paused || s.Pending != 1 || s.Active != 0 {
		t.Fatalf("recreated queue %+v", s)
	}
	wantErr(t, b.RemoveQueue(ctx, "never"), queue.ErrQueueNotFound)
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBroker(t)
	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	for _, id := range []string{"w2", "w1"} {
		info := queue.WorkerInfo{ID: id, Host: "host", PID: 42, Queues: []string{"default"}, Concurrency: 5,
			StartedAt: started, Processed: 7}
		if _, err := b.Heartbeat(ctx, info, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// A worker whose heartbeat is older than twice its lease is not listed.
	if _, err := b.Heartbeat(ctx, queue.WorkerInfo{ID: "w0"}, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	ws, err := b.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].ID != "w1" || ws[1].ID != "w2" {
		t.Fatalf("workers %+v", ws)
	}
	if w := ws[0]; w.Host != "host" || w.PID != 42 || w.Concurrency != 5 || w.Processed != 7 ||
		!w.StartedAt.Equal(started) || w.Heartbeat.IsZero() {
		t.Fatalf("worker %+v", w)
	}
	if err := b.RemoveWorker(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	ws, _ = b.Workers(ctx)
	if len(ws) != 1 || ws[0].ID != "w2" {
		t.Fatalf("after RemoveWorker: %+v", ws)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	if err := b.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
