package redisbroker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

func TestRetryStateAndPromotion(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	enqueue(t, b, newJob("q", "r1"))
	j := fetch(t, b, "w", time.Minute, 1, "q")[0]
	retryAt := time.Now().Add(150 * time.Millisecond)
	finish(t, b, failed(j, queue.StateRetry, retryAt, "upstream 503"))
	got := get(t, b, j.ID)
	if got.State != queue.StateRetry || got.RunAt.UnixMilli() != retryAt.UnixMilli() || got.Attempt != 1 ||
		len(got.Errors) != 1 || got.Errors[0].Error != "upstream 503" || got.Errors[0].Attempt != 1 {
		t.Fatalf("after a failed attempt: %+v", got)
	}
	if s := stats(t, b, "q"); s.Retry != 1 || s.Active != 0 || s.Processed != 1 || s.Failed != 1 {
		t.Fatalf("stats %+v", s)
	}
	jobs, err := b.Fetch(context.Background(), queue.FetchRequest{WorkerID: "w2", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: 10 * time.Second})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("fetch after the backoff: %v, %v", ids(jobs), err)
	}
	if time.Now().Before(retryAt) {
		t.Fatal("retry promoted early")
	}
	if j2 := jobs[0]; j2.Attempt != 2 || j2.WorkerID != "w2" || len(j2.Errors) != 1 {
		t.Fatalf("second attempt %+v", j2)
	}
	finish(t, b, completed(jobs[0], `{"ok":true}`))
	got = get(t, b, j.ID)
	if got.State != queue.StateCompleted || string(got.Result) != `{"ok":true}` || got.FinishedAt.IsZero() {
		t.Fatalf("completed %+v", got)
	}
	if s := stats(t, b, "q"); s.Completed != 1 || s.Processed != 2 || s.Failed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLeaseExpiryRecovery(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	last := newJob("q", "last")
	last.MaxRetries = 0
	enqueue(t, b, newJob("q", "again"), last)
	if n := len(fetch(t, b, "crashed", 50*time.Millisecond, 2, "q")); n != 2 {
		t.Fatalf("fetched %d", n)
	}
	// No heartbeat: a waiting fetch wakes when the lease runs out and recovers the jobs.
	jobs, err := b.Fetch(context.Background(), queue.FetchRequest{WorkerID: "rescuer", Queues: []string{"q"}, Max: 5, Lease: time.Minute, Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(jobs), []string{"again"}) || jobs[0].Attempt != 2 {
		t.Fatalf("recovered %v", ids(jobs))
	}
	errs := jobs[0].Errors
	if len(errs) != 1 || errs[0].Attempt != 1 || errs[0].Error != "lease expired: worker crashed stopped heartbeating" || errs[0].At.IsZero() {
		t.Fatalf("errors %+v", errs)
	}
	dead := get(t, b, "last")
	if dead.State != queue.StateDead || len(dead.Errors) != 1 || dead.FinishedAt.IsZero() {
		t.Fatalf("job out of attempts: %+v", dead)
	}
	if s := stats(t, b, "q"); s.Dead != 1 || s.Active != 1 || s.Processed != 2 || s.Failed != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHeartbeatKeepsLeaseAndReturnsCancels(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	enqueue(t, b, newJob("q", "keep"), newJob("q", "stop"))
	jobs := fetch(t, b, "w", 200*time.Millisecond, 2, "q")
	info := queue.WorkerInfo{ID: "w", Host: "h", PID: 1, Queues: []string{"other", "q"}, Concurrency: 2, Jobs: ids(jobs)}
	st, err := b.Cancel(ctx, "stop")
	if err != nil || st != queue.StateActive {
		t.Fatalf("cancel active job: %s, %v", st, err)
	}
	// Heartbeats for three leases: the jobs stay leased.
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		cancel, err := b.Heartbeat(ctx, info, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cancel, []string{"stop"}) {
			t.Fatalf("heartbeat returned cancels %v", cancel)
		}
		if stolen := fetch(t, b, "thief", time.Minute, 2, "q"); len(stolen) > 0 {
			t.Fatalf("leased jobs %v recovered despite heartbeats", ids(stolen))
		}
		<-time.After(50 * time.Millisecond) // the heartbeat interval
	}
	ws, err := b.Workers(ctx)
	if err != nil || len(ws) != 1 || ws[0].ID != "w" || !slices.Equal(ws[0].Jobs, info.Jobs) || time.Since(ws[0].Heartbeat) > time.Minute {
		t.Fatalf("workers %+v, %v", ws, err)
	}
	// A canceled job's outcome, whatever it is, makes it canceled.
	finish(t, b, completed(jobs[0], ""), completed(jobs[1], `"done anyway"`))
	if got := get(t, b, "stop"); got.State != queue.StateCanceled || !got.CancelRequested {
		t.Fatalf("canceled job %+v", got)
	}
	if got := get(t, b, "keep"); got.State != queue.StateCompleted {
		t.Fatalf("job %+v", got)
	}
	if err := b.RemoveWorker(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if ws, err := b.Workers(ctx); err != nil || len(ws) != 0 {
		t.Fatalf("workers after removal %+v, %v", ws, err)
	}
}

func TestStaleFinishIgnored(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	enqueue(t, b, newJob("q", "j"))
	j := fetch(t, b, "w1", time.Minute, 1, "q")[0]
	wrongWorker, wrongAttempt := completed(j, ""), completed(j, "")
	wrongWorker.WorkerID, wrongAttempt.Attempt = "w2", 2
	finish(t, b, wrongWorker, wrongAttempt)
	if got := get(t, b, "j"); got.State != queue.StateActive {
		t.Fatalf("stale outcome applied: %+v", got)
	}
	if s := stats(t, b, "q"); s.Processed != 0 {
		t.Fatalf("stale outcome counted: %+v", s)
	}
	finish(t, b, completed(j, ""))
	finish(t, b, failed(j, queue.StateDead, time.Time{}, "late duplicate"))
	if got := get(t, b, "j"); got.State != queue.StateCompleted || len(got.Errors) != 0 {
		t.Fatalf("job %+v", got)
	}
}

func TestCancelInEachState(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	pending := newJob("q", "pending")
	pending.UniqueKey = "u"
	scheduled := newJob("q", "scheduled")
	scheduled.State, scheduled.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
	enqueue(t, b, newJob("q", "retry"), newJob("q", "active"), newJob("q", "done"))
	jobs := fetch(t, b, "w", time.Minute, 3, "q")
	finish(t, b, failed(jobs[0], queue.StateRetry, time.Now().Add(time.Hour), "x"), completed(jobs[2], ""))
	enqueue(t, b, pending, scheduled)

	for _, id := range []string{"pending", "scheduled", "retry"} {
		st, err := b.Cancel(ctx, id)
		if err != nil || st != queue.StateCanceled {
			t.Fatalf("cancel %s: %s, %v", id, st, err)
		}
		if got := get(t, b, id); got.State != queue.StateCanceled || got.FinishedAt.IsZero() {
			t.Fatalf("canceled %s: %+v", id, got)
		}
	}
	if st, err := b.Cancel(ctx, "active"); err != nil || st != queue.StateActive {
		t.Fatalf("cancel active: %s, %v", st, err)
	}
	if got := get(t, b, "active"); !got.CancelRequested || got.State != queue.StateActive {
		t.Fatalf("active job after cancel %+v", got)
	}
	if st, err := b.Cancel(ctx, "done"); !errors.Is(err, queue.ErrInvalidState) || st != queue.StateCompleted {
		t.Fatalf("cancel completed job: %s, %v", st, err)
	}
	if _, err := b.Cancel(ctx, "unknown"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("cancel unknown job: %v", err)
	}
	s := stats(t, b, "q")
	if s.Canceled != 3 || s.Pending != 0 || s.Scheduled != 0 || s.Retry != 0 || s.Active != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Canceling released the unique key.
	again := newJob("q", "")
	again.UniqueKey = "u"
	enqueue(t, b, again)
}

func TestRetryDeleteAndBulk(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	var all []*queue.Job
	for _, id := range []string{"d1", "d2", "d3", "a"} {
		all = append(all, newJob("q", id))
	}
	enqueue(t, b, all...)
	jobs := fetch(t, b, "w", time.Minute, 4, "q")
	finish(t, b, failed(jobs[0], queue.StateDead, time.Time{}, "e1"), failed(jobs[1], queue.StateDead, time.Time{}, "e2"),
		failed(jobs[2], queue.StateDead, time.Time{}, "e3"))

	if err := b.Retry(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	got := get(t, b, "d1")
	if got.State != queue.StatePending || got.Attempt != 0 || len(got.Errors) != 1 || !got.FinishedAt.IsZero() || got.WorkerID != "" {
		t.Fatalf("retried job %+v", got)
	}
	if err := b.Retry(ctx, "d1"); !errors.Is(err, queue.ErrInvalidState) {
		t.Fatalf("retry a pending job: %v", err)
	}
	if err := b.Delete(ctx, "a"); !errors.Is(err, queue.ErrInvalidState) {
		t.Fatalf("delete an active job: %v", err)
	}
	if err := b.Delete(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "d2"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("deleted job: %v", err)
	}
	if err := b.Delete(ctx, "d2"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if n, err := b.RetryAll(ctx, "q", queue.StateDead); err != nil || n != 1 {
		t.Fatalf("retry all dead: %d, %v", n, err)
	}
	if _, err := b.RetryAll(ctx, "q", queue.StatePending); !errors.Is(err, queue.ErrInvalidState) {
		t.Fatalf("retry all pending: %v", err)
	}
	if s := stats(t, b, "q"); s.Pending != 2 || s.Dead != 0 {
		t.Fatalf("stats %+v", s)
	}
	if n, err := b.DeleteAll(ctx, "q", queue.StatePending); err != nil || n != 2 {
		t.Fatalf("delete all pending: %d, %v", n, err)
	}
	if _, err := b.DeleteAll(ctx, "q", queue.StateActive); !errors.Is(err, queue.ErrInvalidState) {
		t.Fatalf("delete all active: %v", err)
	}
	if s := stats(t, b, "q"); s.Pending != 0 || s.Active != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBulkBeyondOneScriptCall(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	const n = 2*bulkLimit + 10
	jobs := make([]*queue.Job, n)
	for i := range jobs {
		jobs[i] = newJob("q", "")
		jobs[i].State, jobs[i].RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
	}
	enqueue(t, b, jobs...)
	if got, err := b.RetryAll(ctx, "q", queue.StateScheduled); err != nil || got != n {
		t.Fatalf("retry all scheduled: %d, %v", got, err)
	}
	if got, err := b.DeleteAll(ctx, "q", queue.StatePending); err != nil || got != n {
		t.Fatalf("delete all pending: %d, %v", got, err)
	}
	if s := stats(t, b, "q"); s.Pending != 0 || s.Scheduled != 0 {
		t.Fatalf("stats %+v", s)
	}

	// CancelAll, pending and scheduled.
	more := make([]*queue.Job, 2*n)
	for i := range more {
		more[i] = newJob("c", "")
		if i%2 == 1 {
			more[i].State, more[i].RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
		}
	}
	enqueue(t, b, more...)
	for _, st := range []queue.State{queue.StatePending, queue.StateScheduled} {
		if got, err := b.CancelAll(ctx, "c", st); err != nil || got != n {
			t.Fatalf("cancel all %s: %d, %v", st, got, err)
		}
	}
	if s := stats(t, b, "c"); s.Pending != 0 || s.Scheduled != 0 || s.Canceled != 2*n {
		t.Fatalf("stats %+v", s)
	}
}

func TestRequeueOnShutdown(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	enqueue(t, b, newJob("q", "1"), newJob("q", "2"), newJob("q", "3"), newJob("q", "4"))
	jobs := fetch(t, b, "w", time.Minute, 3, "q")
	if _, err := b.Cancel(ctx, "3"); err != nil {
		t.Fatal(err)
	}
	if err := b.Requeue(ctx, "w", jobs); err != nil {
		t.Fatal(err)
	}
	// Jobs 1 and 2 are back in front, in order, with their attempt given back; 3 was canceled.
	pending, err := b.List(ctx, "q", queue.StatePending, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(pending), []string{"1", "2", "4"}) {
		t.Fatalf("pending after requeue: %v", ids(pending))
	}
	for _, j := range pending {
		if j.Attempt != 0 {
			t.Fatalf("requeued job %+v", j)
		}
	}
	if got := get(t, b, "3"); got.State != queue.StateCanceled {
		t.Fatalf("canceled job requeued: %+v", got)
	}
	// A requeue by another worker changes nothing.
	again := fetch(t, b, "w2", time.Minute, 1, "q")
	if err := b.Requeue(ctx, "w", again); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, again[0].ID); got.State != queue.StateActive {
		t.Fatalf("requeue by the wrong worker applied: %+v", got)
	}
}

func TestCompletedTTLCleanup(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	c := rawClient(t)
	short, kept, canceled := newJob("q", "short"), newJob("q", "kept"), newJob("q", "canceled")
	short.ResultTTL, canceled.ResultTTL = 50*time.Millisecond, 50*time.Millisecond
	enqueue(t, b, short, kept)
	jobs := fetch(t, b, "w", time.Minute, 2, "q")
	finish(t, b, completed(jobs[0], `1`), completed(jobs[1], `2`))
	enqueue(t, b, canceled)
	mustCancel(t, b, "canceled")
	testenv.Until(t, 10*time.Second, "completed or canceled job outlived its result TTL", func() bool {
		fetch(t, b, "w", time.Minute, 1, "q") // the clean-up runs with fetches
		n, _ := c.Exists(context.Background(), b.keys.job("q", "short"), b.keys.job("q", "canceled")).Result()
		return n == 0
	})
	if got := get(t, b, "kept"); got.State != queue.StateCompleted {
		t.Fatalf("job %+v", got)
	}
	if s := stats(t, b, "q"); s.Completed != 1 || s.Canceled != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDeadCap(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(o *Options) { o.MaxDead = 3 })
	c := rawClient(t)
	var jobs []*queue.Job
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		jobs = append(jobs, newJob("q", id))
	}
	enqueue(t, b, jobs...)
	for range 5 {
		j := fetch(t, b, "w", time.Minute, 1, "q")[0]
		finish(t, b, failed(j, queue.StateDead, time.Time{}, "no"))
	}
	dead, err := b.List(context.Background(), "q", queue.StateDead, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 3 || stats(t, b, "q").Dead != 3 {
		t.Fatalf("dead jobs %v", ids(dead))
	}
	for _, id := range []string{"1", "2"} {
		if n, _ := c.Exists(context.Background(), b.keys.job("q", id)).Result(); n != 0 {
			t.Fatalf("job %s beyond the dead cap was kept", id)
		}
	}
}

func TestRemoveQueueRemovesOnlyItsKeys(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	c := rawClient(t)
	// Give the queue a key of every kind.
	fill := func(q string) {
		u := newJob(q, "")
		u.UniqueKey, u.UniqueFor = "u", time.Hour
		s := newJob(q, "")
		s.State, s.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
		enqueue(t, b, newJob(q, ""), newJob(q, ""), newJob(q, ""), newJob(q, ""), u, s)
		jobs := fetch(t, b, "w", time.Minute, 3, q)
		finish(t, b, completed(jobs[0], ""), failed(jobs[1], queue.StateDead, time.Time{}, "x"))
		_ = mustCancel(t, b, jobs[2].ID)
	}
	fill("gone")
	fill("kept")
	if err := b.Pause(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Heartbeat(ctx, queue.WorkerInfo{ID: "w"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	scan := func(pattern string) []string {
		keys := scanAll(t, c, pattern)
		slices.Sort(keys)
		return keys
	}
	all := b.keys.prefix + ":*"
	before := scan(all)
	if len(scan(b.keys.base("gone")+"*")) < 8 {
		t.Fatalf("setup made too few keys: %v", before)
	}
	if err := b.RemoveQueue(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if left := scan(b.keys.base("gone") + "*"); len(left) != 0 {
		t.Fatalf("keys of the removed queue left: %v", left)
	}
	var want []string
	for _, k := range before {
		if !strings.HasPrefix(k, b.keys.base("gone")) {
			want = append(want, k)
		}
	}
	if after := scan(all); !slices.Equal(after, want) {
		t.Fatalf("keys after removal:\n%v\nwant\n%v", after, want)
	}
	names, _ := b.queueNames(ctx)
	if !slices.Equal(names, []string{"kept"}) {
		t.Fatalf("queues %v", names)
	}
	if err := b.RemoveQueue(ctx, "gone"); !errors.Is(err, queue.ErrQueueNotFound) {
		t.Fatalf("remove a removed queue: %v", err)
	}
}

func mustCancel(t *testing.T, b *Broker, id string) queue.State {
	t.Helper()
	st, err := b.Cancel(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRemovedWorkerStaysRemoved stops a worker while its heartbeat is held up on its way (a
// proxy holds Redis's replies: the heartbeat ran, its answer has not come): the removal
// leaves a tombstone, so that a heartbeat sent before the removal and reaching Redis after it
// does not list the worker again, while a worker started again with the same ID is listed at
// once. A worker removed with no heartbeat on its way leaves no key behind.
func TestRemovedWorkerStaysRemoved(t *testing.T) {
	t.Parallel()
	b, direct, p := heldBroker(t)
	rc := direct.rdb
	var logs testenv.LogBuffer
	direct.log = logs.Logger()
	ctx := context.Background()

	first := queue.WorkerInfo{ID: "w", Queues: []string{"q"}, StartedAt: time.Now().Add(-time.Second)}
	heartbeat(t, b, first)
	release := p.HoldReplies()
	held := make(chan error, 1)
	go func() { _, err := b.Heartbeat(ctx, first, time.Minute); held <- err }()
	testenv.Until(t, 10*time.Second, "the heartbeat to be on its way", func() bool { return unsettled(b, "w") })
	removed := make(chan error, 1)
	go func() { removed <- b.RemoveWorker(ctx, "w") }()
	testenv.Until(t, 10*time.Second, "the tombstone", func() bool {
		v, _ := rc.Get(ctx, direct.keys.worker("w")).Result()
		return strings.HasPrefix(v, tombstonePrefix)
	})
	release()
	for _, c := range []chan error{held, removed} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}

	heartbeat(t, direct, first) // sent before the removal, arriving after it
	if got := workerIDs(t, direct); len(got) != 0 {
		t.Fatalf("a heartbeat sent before the removal brought the worker back: workers = %v", got)
	}
	again := first
	again.StartedAt = time.Now()
	heartbeat(t, direct, again)
	if got := workerIDs(t, direct); !slices.Equal(got, []string{"w"}) {
		t.Fatalf("a worker started again after its removal: workers = %v, want [w]", got)
	}
	if strings.Contains(logs.String(), "unreadable") {
		t.Fatalf("the tombstone was read as a record:\n%s", logs.String())
	}

	// Stopped cleanly, no heartbeat on its way: nothing left.
	if err := direct.RemoveWorker(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if n := rc.Exists(ctx, direct.keys.worker("w")).Val(); n != 0 {
		t.Fatalf("a worker removed with no heartbeat on its way left its key behind")
	}
}

// unsettled reports whether b has a heartbeat of worker id that may still reach Redis.
func unsettled(b *Broker, id string) bool {
	b.heartbeats.mu.Lock()
	defer b.heartbeats.mu.Unlock()
	return b.heartbeats.m[id] > 0
}

func heartbeat(t *testing.T, b *Broker, info queue.WorkerInfo) {
	t.Helper()
	if _, err := b.Heartbeat(context.Background(), info, time.Minute); err != nil {
		t.Fatal(err)
	}
}

func workerIDs(t *testing.T, b *Broker) []string {
	t.Helper()
	ws, err := b.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	return ids
}
