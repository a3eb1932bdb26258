package redisbroker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// proxiedBroker opens a broker with its own prefix that reaches the shared server through a
// proxy which can lose a reply. It has enqueued (a job and its child) and fetched once already
// (on queue "warm"),
// so that the server knows its scripts: the reply lost is then that of a script that ran, not
// a NOSCRIPT refusal.
func proxiedBroker(t *testing.T) (*Broker, *testenv.Proxy) {
	t.Helper()
	p := testenv.StartProxy(t, server.Addr())
	b, err := Open(context.Background(), "redis://"+p.Addr(), Options{Prefix: testPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	child := newJob("warm", "")
	child.DependsOn = []string{"warm-parent-" + b.keys.prefix}
	enqueue(t, b, newJob("warm", child.DependsOn[0]), child)
	if len(fetch(t, b, "warm-up", time.Minute, 1, "warm")) != 1 {
		t.Fatal("the warm-up fetch got no job")
	}
	return b, p
}

// mustHaveDropped fails the test unless the proxy lost the reply it was told to.
func mustHaveDropped(t *testing.T, dropped <-chan struct{}) {
	t.Helper()
	select {
	case <-dropped:
	default:
		t.Fatal("the proxy lost no reply: the fault under test never happened")
	}
}

// stateIDs returns the IDs of queue q's jobs in state st, in the order List gives.
func stateIDs(t *testing.T, b *Broker, q string, st queue.State) []string {
	t.Helper()
	jobs, err := b.List(context.Background(), q, st, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

// TestFetchReplyLost loses the reply to a fetch that leased a job; go-redis sends the fetch
// again on a new connection. The worker must get the job the lost reply held, and no second
// job may be leased to nobody: such a job would wait for its lease to run out and lose an
// attempt ("lease expired"), though no handler ever saw it.
func TestFetchReplyLost(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	enqueue(t, b, newJob("q", "first"), newJob("q", "second"), newJob("q", "third"))
	const worker = "worker-whose-reply-is-lost"
	dropped := p.DropReplyTo([]byte(worker))
	jobs := fetch(t, b, worker, time.Minute, 1, "q")
	mustHaveDropped(t, dropped)
	if len(jobs) != 1 || jobs[0].ID != "first" || jobs[0].Attempt != 1 {
		t.Fatalf("fetch after a lost reply got %v, want job first at attempt 1", ids(jobs))
	}
	if got := stateIDs(t, b, "q", queue.StateActive); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("active jobs %v, want only first: the others are leased to nobody", got)
	}
	if got := stateIDs(t, b, "q", queue.StatePending); !slices.Equal(got, []string{"second", "third"}) {
		t.Fatalf("pending jobs %v, want second and third", got)
	}
	// The record that made this so lasts no longer than the lease of its jobs.
	raw := rawClient(t)
	records := raw.Keys(context.Background(), b.keys.base("q")+"fetched:*").Val()
	if len(records) != 1 {
		t.Fatalf("fetch records %v, want the one of the call that leased", records)
	}
	if ttl := raw.PTTL(context.Background(), records[0]).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the fetch record expires in %v, want within the lease (1m)", ttl)
	}
	// The job runs to completion as if nothing had happened, and the next fetch goes on.
	finish(t, b, completed(jobs[0], `"done"`))
	if next := fetch(t, b, worker, time.Minute, 1, "q"); len(next) != 1 || next[0].ID != "second" {
		t.Fatalf("next fetch got %v, want job second", next)
	}
}

// TestEnqueueReplyLost loses the reply to an enqueue; go-redis sends it again. The caller must
// be told that its jobs were stored — not that they are duplicates of themselves — and each
// must be stored once: pending once, scheduled once, its unique key held by itself.
func TestEnqueueReplyLost(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	ctx := context.Background()
	unique := newJob("q", "unique")
	unique.UniqueKey = "report-42"
	later := newJob("q", "later")
	later.State, later.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
	jobs := []*queue.Job{newJob("q", "lost-reply-job"), newJob("q", "plain"), unique, later}
	dropped := p.DropReplyTo([]byte("lost-reply-job"))
	errs, err := b.Enqueue(ctx, jobs)
	mustHaveDropped(t, dropped)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("job %s: %v, want it stored", jobs[i].ID, err)
		}
	}
	if got := stateIDs(t, b, "q", queue.StatePending); !slices.Equal(got, []string{"lost-reply-job", "plain", "unique"}) {
		t.Fatalf("pending jobs %v, want each once", got)
	}
	if got := stateIDs(t, b, "q", queue.StateScheduled); !slices.Equal(got, []string{"later"}) {
		t.Fatalf("scheduled jobs %v, want later once", got)
	}
	// A true duplicate — another enqueue of the same ID or unique key, or the same job twice
	// in one call — is still refused.
	again, other, twin := newJob("q", "plain"), newJob("q", ""), newJob("q", "twin")
	other.UniqueKey = "report-42"
	errs, err = b.Enqueue(ctx, []*queue.Job{again, other, twin, twin})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[0], queue.ErrDuplicateJob) || !errors.Is(errs[1], queue.ErrDuplicateUnique) ||
		errs[2] != nil || !errors.Is(errs[3], queue.ErrDuplicateJob) {
		t.Fatalf("later enqueues of the same ID, unique key and job: %v, want ErrDuplicateJob, ErrDuplicateUnique, nil, ErrDuplicateJob", errs)
	}
}

// TestEnqueueRepeatAcrossCalls enqueues, in one Enqueue, the same job twice (the very same
// fields) where the two copies fall into different script calls: the second is a duplicate,
// as it is within one call, and is not taken for a resend of the first — with or without
// parents.
func TestEnqueueRepeatAcrossCalls(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	jobs := make([]*queue.Job, enqueueChunk+10) // two chunks of queue q
	for i := range jobs {
		jobs[i] = newJob("q", "j"+strconv.Itoa(i))
	}
	twin := *jobs[3]
	jobs[len(jobs)-1] = &twin
	parent := newJob("p", "parent")
	child := newJob("p", "child")
	child.DependsOn = []string{"parent"}
	childTwin := *child
	between := newJob("other", "between")
	between.DependsOn = []string{"parent"}
	// Jobs with parents: one script call per run of one queue, so the twin is a call of its own.
	jobs = append(jobs, parent, child, between, &childTwin)
	errs, err := b.Enqueue(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		want := error(nil)
		if jobs[i] == &twin || jobs[i] == &childTwin {
			want = queue.ErrDuplicateJob
		}
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("job %d (%s): %v, want %v", i, jobs[i].ID, err, want)
		}
	}
	if got := stateIDs(t, b, "q", queue.StatePending); len(got) != enqueueChunk+9 || slices.Index(got, "j3") != 3 {
		t.Fatalf("pending: %d jobs, j3 at %d; want %d, each once, j3 at 3", len(got), slices.Index(got, "j3"), enqueueChunk+9)
	}
}

// TestEnqueueGraphReplyLost loses the reply to an enqueue of jobs with parents (enqueuegraph):
// sent again, the call must tell each job's state as stored — waiting on its parent — and
// store nothing twice; the same job twice in one call is still a duplicate.
func TestEnqueueGraphReplyLost(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	ctx := context.Background()
	enqueue(t, b, newJob("q", "parent"))
	child, twin := newJob("q", "lost-reply-child"), newJob("q", "twin")
	child.DependsOn, twin.DependsOn = []string{"parent"}, []string{"parent"}
	jobs := []*queue.Job{child, twin, twin}
	dropped := p.DropReplyTo([]byte("lost-reply-child"))
	errs, err := b.Enqueue(ctx, jobs)
	mustHaveDropped(t, dropped)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], queue.ErrDuplicateJob) {
		t.Fatalf("errors %v, want nil, nil, ErrDuplicateJob", errs)
	}
	if child.State != queue.StateWaiting || twin.State != queue.StateWaiting {
		t.Fatalf("states %s and %s, want both waiting on their parent", child.State, twin.State)
	}
	if got := stateIDs(t, b, "q", queue.StateWaiting); !slices.Equal(got, []string{"lost-reply-child", "twin"}) {
		t.Fatalf("waiting jobs %v, want each once", got)
	}
	// The parent's completion releases each child once (in no set order).
	finish(t, b, completed(fetch(t, b, "w", time.Minute, 1, "q")[0], ""))
	if got := stateIDs(t, b, "q", queue.StatePending); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"lost-reply-child", "twin"}) {
		t.Fatalf("pending after the parent completed %v, want each child once", got)
	}
}

// TestFetchEverySendLost loses the replies to a fetch from two queues and to both of
// go-redis's resends of it, so that Fetch fails: the worker's next fetch from the same queues,
// named in the other order (a worker draws its weighted order anew for each fetch), must get
// the job that call leased, not lease another and leave that one to lose an attempt.
func TestFetchEverySendLost(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	enqueue(t, b, newJob("q", "first"), newJob("q", "second"), newJob("r", "other"))
	const worker = "worker-whose-replies-are-lost"
	req := queue.FetchRequest{WorkerID: worker, Queues: []string{"q", "r"}, Max: 1, Lease: time.Minute}
	dropped := p.DropReplies([]byte(worker), 3)
	if jobs, err := b.Fetch(context.Background(), req); err == nil {
		t.Fatalf("fetch whose every reply is lost got %v and no error", ids(jobs))
	}
	mustHaveDropped(t, dropped)
	// Another worker's fetch has nothing to do with it: it leases the next job.
	jobs := fetch(t, b, "another-worker", time.Minute, 1, "q")
	if len(jobs) != 1 || jobs[0].ID != "second" {
		t.Fatalf("another worker's fetch got %v, want job second", ids(jobs))
	}
	// The next fetch is sent once Redis's clock is past the millisecond the lost one ran in:
	// the job it gets back started then, not now.
	first, err := b.Get(context.Background(), "first")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, 5*time.Second, "Redis's clock to pass the lost fetch's millisecond", func() bool {
		now, err := rawClient(t).Time(context.Background()).Result()
		return err == nil && now.UnixMilli() > first.StartedAt.UnixMilli()
	})
	jobs = fetch(t, b, worker, time.Minute, 1, "r", "q")
	if len(jobs) != 1 || jobs[0].ID != "first" || jobs[0].Attempt != 1 || jobs[0].Queue != "q" {
		t.Fatalf("the worker's next fetch got %v, want job first of queue q at attempt 1", ids(jobs))
	}
	if !jobs[0].StartedAt.Equal(first.StartedAt) {
		t.Fatalf("the job fetched again started at %v, want %v, when the lost fetch leased it", jobs[0].StartedAt, first.StartedAt)
	}
	if got := stateIDs(t, b, "q", queue.StateActive); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"first", "second"}) {
		t.Fatalf("active jobs of q %v, want first and second", got)
	}
	if got := stateIDs(t, b, "r", queue.StatePending); !slices.Equal(got, []string{"other"}) {
		t.Fatalf("pending jobs of r %v, want other still pending", got)
	}
}

// TestManageReplyLost loses the reply to a retry, a cancel and a delete of one job; go-redis
// sends each again. The caller must be told the call worked, as the first run did — not that
// the job is pending already, canceled already, or not found — and the job moved once.
func TestManageReplyLost(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	ctx := context.Background()
	later := func(id string) *queue.Job {
		j := newJob("q", id)
		j.State, j.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
		return j
	}
	enqueue(t, b, later("warm-retry"), newJob("q", "warm-cancel"), newJob("q", "warm-delete"),
		later("retried"), newJob("q", "canceled"), newJob("q", "deleted"))
	// The server learns the scripts, so that the reply lost is the script's, not a NOSCRIPT.
	if _, err := b.Cancel(ctx, "warm-cancel"); err != nil {
		t.Fatal(err)
	}
	if err := b.Retry(ctx, "warm-retry"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "warm-delete"); err != nil {
		t.Fatal(err)
	}

	dropped := p.DropReplyTo([]byte(b.s.retry.Hash()))
	if err := b.Retry(ctx, "retried"); err != nil {
		t.Errorf("retry whose reply is lost: %v, want it done", err)
	}
	mustHaveDropped(t, dropped)
	dropped = p.DropReplyTo([]byte(b.s.cancel.Hash()))
	if st, err := b.Cancel(ctx, "canceled"); err != nil || st != queue.StateCanceled {
		t.Errorf("cancel whose reply is lost: %s, %v, want canceled", st, err)
	}
	mustHaveDropped(t, dropped)
	dropped = p.DropReplyTo([]byte(b.s.del.Hash()))
	if err := b.Delete(ctx, "deleted"); err != nil {
		t.Errorf("delete whose reply is lost: %v, want it done", err)
	}
	mustHaveDropped(t, dropped)

	if got := stateIDs(t, b, "q", queue.StatePending); !slices.Equal(got, []string{"warm-retry", "retried"}) {
		t.Errorf("pending jobs %v, want warm-retry and retried, each once", got)
	}
	if got := stateIDs(t, b, "q", queue.StateCanceled); !slices.Equal(got, []string{"warm-cancel", "canceled"}) {
		t.Errorf("canceled jobs %v, want warm-cancel and canceled", got)
	}
	if _, err := b.Get(ctx, "deleted"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Errorf("the deleted job: %v, want ErrJobNotFound", err)
	}
	// Calls of their own still tell what they find.
	if err := b.Retry(ctx, "retried"); !errors.Is(err, queue.ErrInvalidState) {
		t.Errorf("another retry of the pending job: %v, want ErrInvalidState", err)
	}
	if _, err := b.Cancel(ctx, "canceled"); !errors.Is(err, queue.ErrInvalidState) {
		t.Errorf("another cancel of the canceled job: %v, want ErrInvalidState", err)
	}
	if err := b.Delete(ctx, "deleted"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Errorf("another delete of the deleted job: %v, want ErrJobNotFound", err)
	}
}

// TestFetchOutageSharesToken loses every reply to three fetches of one worker in a row, as
// in an outage: each sends the first one's token again (and gets its job back, lost again)
// rather than leasing more jobs to a worker that never learns of them; the first fetch after
// the outage gets that job, and the others are still pending.
func TestFetchOutageSharesToken(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	enqueue(t, b, newJob("q", "first"), newJob("q", "second"), newJob("q", "third"))
	const worker = "worker-in-an-outage"
	req := queue.FetchRequest{WorkerID: worker, Queues: []string{"q"}, Max: 1, Lease: time.Minute}
	dropped := p.DropReplies([]byte(worker), 9) // 3 fetches of 3 sends each (go-redis's retries)
	for i := range 3 {
		if jobs, err := b.Fetch(context.Background(), req); err == nil {
			t.Fatalf("fetch %d, whose every reply is lost, got %v and no error", i+1, ids(jobs))
		}
	}
	mustHaveDropped(t, dropped)
	jobs := fetch(t, b, worker, time.Minute, 1, "q")
	if len(jobs) != 1 || jobs[0].ID != "first" || jobs[0].Attempt != 1 {
		t.Fatalf("the fetch after the outage got %v, want job first at attempt 1", ids(jobs))
	}
	if got := stateIDs(t, b, "q", queue.StatePending); !slices.Equal(got, []string{"second", "third"}) {
		t.Fatalf("pending jobs %v, want second and third: none leased to nobody", got)
	}
}

// TestOpenBatchReplyLost loses the reply to the call that opens a batch: sent again, it must
// tell that the batch was opened, not that it is a duplicate of itself; opening the ID again
// is still refused.
func TestOpenBatchReplyLost(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	ctx := context.Background()
	spec := func(id string) queue.BatchSpec {
		return queue.BatchSpec{ID: id, Queue: "q", CreatedAt: time.Now(), Keep: time.Hour}
	}
	if err := b.OpenBatch(ctx, spec("warm-batch")); err != nil { // the server learns the script
		t.Fatal(err)
	}
	// The reply lost is the script's (the lookup of the ID before it would be harmless).
	dropped := p.DropReplyTo([]byte(b.s.openBatch.Hash()))
	if err := b.OpenBatch(ctx, spec("lost-reply-batch")); err != nil {
		t.Fatalf("open a batch whose reply is lost: %v, want it opened", err)
	}
	mustHaveDropped(t, dropped)
	if s, err := b.Batch(ctx, "lost-reply-batch"); err != nil || s.Sealed || s.Total != 0 {
		t.Fatalf("the batch: %+v %v, want it open and empty", s, err)
	}
	if err := b.OpenBatch(ctx, spec("lost-reply-batch")); !errors.Is(err, queue.ErrDuplicateBatch) {
		t.Fatalf("open the same ID again: %v, want ErrDuplicateBatch", err)
	}
}

// TestWorkerThroughLostReplies runs jobs with a queue.Worker while the proxy loses the replies
// to its fetches and to its outcome records, one after another, ten times: go-redis sends each
// call again, and every job must run once, at attempt 1, with no error and its outcome counted
// once — no job leased twice, none left to an expired lease.
func TestWorkerThroughLostReplies(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	runs := map[string]int{}
	var mu sync.Mutex
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "q", Weight: 1}}, Concurrency: 4, MaxBatch: 2,
		Lease: time.Minute, Logger: slog.New(slog.DiscardHandler),
	})
	w.HandleFunc("test", func(_ context.Context, j *queue.Job) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		runs[j.ID]++
		return nil, nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Error(err)
		}
	})

	// Enqueue rounds of jobs until ten replies were lost, alternately a fetch's and a finish's.
	markers := [][]byte{[]byte(b.s.fetch.Hash()), []byte(b.s.finish.Hash())}
	drops, total := 0, 0
	dropped := p.DropReplyTo(markers[0])
	deadline := time.Now().Add(time.Minute)
	for drops < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d replies lost in a minute of %d jobs", drops, total)
		}
		jobs := make([]*queue.Job, 50)
		for i := range jobs {
			jobs[i] = newJob("q", "job-"+strconv.Itoa(total+i))
		}
		enqueue(t, b, jobs...)
		total += len(jobs)
		testenv.Until(t, 30*time.Second, "the round's jobs completed", func() bool {
			s := stats(t, b, "q")
			return s.Completed == int64(total)
		})
		select {
		case <-dropped:
			drops++
			dropped = p.DropReplyTo(markers[drops%2])
		default:
		}
	}
	s := stats(t, b, "q")
	if s.Processed != int64(total) || s.Failed != 0 || s.Active != 0 || s.Pending != 0 {
		t.Fatalf("after %d jobs and %d lost replies: %+v, want each processed once and none failed", total, drops, s)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range total {
		id := "job-" + strconv.Itoa(i)
		if runs[id] != 1 {
			t.Errorf("job %s ran %d times, want once", id, runs[id])
		}
		if j := get(t, b, id); j.Attempt != 1 || len(j.Errors) != 0 {
			t.Errorf("job %s: attempt %d, errors %v; want attempt 1 and none", id, j.Attempt, j.Errors)
		}
	}
}

// TestCancelSentAgainAfterExpiry: a cancel's reply is lost and go-redis sends it again, but
// meanwhile a fetch has deleted the job, canceled with a result TTL of 0. The call sent again
// must answer as the first did (canceled), not that the job is not found; a cancel of its own
// is told the job is gone.
func TestCancelSentAgainAfterExpiry(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	j := newJob("q", "short-lived")
	j.ResultTTL = 0
	enqueue(t, b, j)
	token := callToken()
	cancel := func() []any { return cancelCall(t, b, "q", "short-lived", token) }
	if got := cancel(); got[0] != int64(0) || got[1] != "canceled" {
		t.Fatalf("cancel replied %v, want [0 canceled]", got)
	}
	fetch(t, b, "w", time.Minute, 1, "q") // deletes the canceled job, its result TTL over
	if _, err := b.Get(ctx, "short-lived"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("the canceled job after a fetch: %v, want it deleted", err)
	}
	if got := cancel(); got[0] != int64(0) || got[1] != "canceled" {
		t.Errorf("the same cancel sent again replied %v, want [0 canceled]", got)
	}
	if _, err := b.Cancel(ctx, "short-lived"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Errorf("a cancel of its own: %v, want ErrJobNotFound", err)
	}
}

// The cancel of an active job only flags it; the job ends canceled whatever its outcome, and a
// result TTL under a minute may delete it before the call, its reply lost, comes again: the
// call sent again answers canceled, not "not found", whether the job is still kept or gone.
func TestCancelOfActiveJobSentAgain(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	j := newJob("q", "running-short")
	j.ResultTTL = 0
	enqueue(t, b, j)
	job := fetch(t, b, "w", time.Minute, 1, "q")[0]
	token := callToken()
	cancel := func() []any { return cancelCall(t, b, "q", "running-short", token) }
	if got := cancel(); got[0] != int64(0) || got[1] != "active" {
		t.Fatalf("cancel of the active job replied %v, want [0 active]", got)
	}
	finish(t, b, queue.Outcome{JobID: job.ID, Queue: "q", WorkerID: "w", Attempt: job.Attempt,
		State: queue.StateCompleted, FinishedAt: time.Now()})
	if got := get(t, b, "running-short"); got.State != queue.StateCanceled {
		t.Fatalf("the flagged job after its outcome: %s, want canceled", got.State)
	}
	if got := cancel(); got[0] != int64(0) || got[1] != "canceled" {
		t.Errorf("the same cancel sent again, the job canceled: replied %v, want [0 canceled]", got)
	}
	fetch(t, b, "w", time.Minute, 1, "q") // deletes the canceled job, its result TTL over
	if _, err := b.Get(ctx, "running-short"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("the canceled job after a fetch: %v, want it deleted", err)
	}
	if got := cancel(); got[0] != int64(0) || got[1] != "canceled" {
		t.Errorf("the same cancel sent again, the job gone: replied %v, want [0 canceled]", got)
	}
	if _, err := b.Cancel(ctx, "running-short"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Errorf("a cancel of its own: %v, want ErrJobNotFound", err)
	}
}

// cancelCall runs the cancel script on job id of queue q with the call's token, as one send of
// a Cancel call does, and returns its reply.
func cancelCall(t *testing.T, b *Broker, q, id, token string) []any {
	t.Helper()
	reply, err := b.run(context.Background(), b.s.cancel, []string{b.keys.base(q)}, id, token).Slice()
	if err != nil {
		t.Fatal(err)
	}
	return reply
}
