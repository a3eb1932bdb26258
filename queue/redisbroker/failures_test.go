package redisbroker

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

func TestPasswordNeverInErrors(t *testing.T) {
	t.Parallel()
	const secret = "Tr0ub4dor-and-3"
	r := testenv.StartRedis(t, testenv.WithPassword(secret))
	ctx := context.Background()

	// The right password works.
	b, err := Open(ctx, r.URL(), Options{Prefix: testPrefix(t)})
	if err != nil {
		t.Fatalf("open with the password: %v", err)
	}
	enqueue(t, b, newJob("q", ""))

	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "wrong-"+secret) {
			t.Fatalf("%s: error shows the password: %v", what, err)
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Fatalf("%s: error does not name the (redacted) server: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	_, err = Open(ctx, "redis://:wrong-"+secret+"@"+r.Addr()+"/0", Options{})
	check("wrong password", err)
	_, err = Open(ctx, "redis://:"+secret+"@"+r.Addr()+"/notanumber", Options{})
	check("bad database", err)
	_, err = Open(ctx, "redis://:"+secret+"@"+r.Addr()+":x:y/0", Options{})
	check("bad port", err)

	// Errors of a working broker whose server went away.
	r.Stop()
	_, err = b.Enqueue(ctx, []*queue.Job{newJob("q", "")})
	check("enqueue on a stopped server", err)
	_ = b.Close()
}

func TestRedisDownFailsFast(t *testing.T) {
	t.Parallel()
	b, r := privateBroker(t)
	ctx := context.Background()
	enqueue(t, b, newJob("q", ""))
	r.Stop()

	start := time.Now()
	_, err := b.Enqueue(ctx, []*queue.Job{newJob("q", "")})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), r.Addr()) {
		t.Fatalf("enqueue with redis down: %v", err)
	}
	t.Logf("enqueue failed after %s: %v", took, err)
	if took > 5*time.Second {
		t.Fatalf("enqueue with redis down took %s", took)
	}
	start = time.Now()
	_, err = b.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Wait: time.Minute})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("fetch with redis down: %v after %s", err, time.Since(start))
	}
	if _, err := Open(ctx, r.URL(), Options{}); err == nil || !strings.Contains(err.Error(), "connect to "+r.URL()) {
		t.Fatalf("open with redis down: %v", err)
	}
	// And it works again once the server is back.
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, newJob("q", ""))
}

func TestWakeUpAndCancellation(t *testing.T) {
	t.Parallel()
	b, name := newNamedBroker(t)
	ctx := context.Background()
	req := queue.FetchRequest{WorkerID: "w", Queues: []string{"empty", "q"}, Max: 1, Lease: time.Minute, Wait: time.Minute}

	// An idle fetch is woken by the enqueue, not by its wait running out.
	got := make(chan []*queue.Job, 1)
	go func() {
		jobs, _ := b.Fetch(ctx, req)
		got <- jobs
	}()
	waitBlocked(t, name)
	enqueue(t, b, newJob("q", "now"))
	select {
	case jobs := <-got:
		if len(jobs) != 1 || jobs[0].ID != "now" {
			t.Fatalf("woken fetch got %v", ids(jobs))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the enqueue did not wake the waiting fetch")
	}

	// A waiting fetch returns as soon as its context is canceled.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := b.Fetch(cctx, req)
		done <- err
	}()
	waitBlocked(t, name)
	t.Logf("canceled fetch returned after %s", cancelWait(t, cancel, done, maxBlock/2))
	// The abandoned BLPOP gives back the token it takes: the next job still wakes a fetch.
	enqueue(t, b, newJob("q", "next"))
	jobs, err := b.Fetch(ctx, req)
	if err != nil || len(jobs) != 1 || jobs[0].ID != "next" {
		t.Fatalf("fetch after the abandoned one: %v, %v", ids(jobs), err)
	}
}

func TestWakeUpChainsAcrossWorkers(t *testing.T) {
	t.Parallel()
	b, name := newNamedBroker(t)
	ctx := context.Background()
	const workers, max = 3, 2
	var wg sync.WaitGroup
	counts := make(chan int, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: string(rune('a' + i)), Queues: []string{"q"}, Max: max, Lease: time.Minute, Wait: time.Minute})
			if err != nil {
				t.Error(err)
			}
			counts <- len(jobs)
		}()
	}
	testenv.Until(t, 10*time.Second, "workers not all blocked", func() bool { return blockedCount(t, name) == workers })
	// One enqueue of 6 jobs pushes one token; each woken fetch leaves one for the next.
	jobs := make([]*queue.Job, workers*max)
	for i := range jobs {
		jobs[i] = newJob("q", "")
	}
	enqueue(t, b, jobs...)
	wg.Wait()
	close(counts)
	for n := range counts {
		if n != max {
			t.Fatalf("a woken fetch got %d jobs, want %d", n, max)
		}
	}
}

func TestAOFRestartKeepsJobs(t *testing.T) {
	t.Parallel()
	b, r := privateBroker(t, testenv.WithAOF())
	ctx := context.Background()
	const n = 1000
	jobs := make([]*queue.Job, n)
	for i := range jobs {
		jobs[i] = newJob("q", "")
		if i%10 == 0 {
			jobs[i].State, jobs[i].RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
		}
	}
	for i := 0; i < n; i += 100 {
		enqueue(t, b, jobs[i:i+100]...)
	}
	// Mid-run: some jobs done, some leased, when the server dies.
	leased := fetch(t, b, "w", time.Minute, 50, "q")
	var outs []queue.Outcome
	for _, j := range leased[:30] {
		outs = append(outs, completed(j, `"ok"`))
	}
	finish(t, b, outs...)

	r.Kill()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	// The restarted server has no scripts cached: the broker loads them again by itself.
	s := stats(t, b, "q")
	if total := s.Pending + s.Active + s.Scheduled + s.Completed; total != n || s.Completed != 30 || s.Active != 20 || s.Scheduled != n/10 {
		t.Fatalf("after restart: %+v (total %d, want %d)", s, total, n)
	}
	for _, j := range jobs {
		if _, err := b.Get(ctx, j.ID); err != nil {
			t.Fatalf("job lost in the restart: %v", err)
		}
	}
	more := fetch(t, b, "w", time.Minute, 10, "q")
	if len(more) != 10 {
		t.Fatalf("fetched %d after restart", len(more))
	}
	outs = outs[:0]
	for _, j := range append(leased[30:], more...) {
		outs = append(outs, completed(j, ""))
	}
	finish(t, b, outs...)
	if s := stats(t, b, "q"); s.Completed != 60 || s.Active != 0 {
		t.Fatalf("after finishing: %+v", s)
	}
}

// TestEnqueueManyChunkFails makes the script call of the second of three chunks of one
// EnqueueMany fail (its first job is delayed, and the queue's scheduled key is a string, so
// its ZADD fails with WRONGTYPE): the caller gets an error for the whole call and no per-job
// results, and the chunks are independent, as EnqueueMany's "any subset may have been stored"
// allows: the first and third chunks are stored and pending, in order, and nothing of the
// second after the failing job.
func TestEnqueueManyChunkFails(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	const n = 2*enqueueChunk + 200
	bad := enqueueChunk // the first job of the second chunk
	if err := rawClient(t).Set(ctx, b.keys.base("q")+"scheduled", "not a zset", 0).Err(); err != nil {
		t.Fatal(err)
	}
	reqs := enqueueRequests(n)
	reqs[bad].Options = append(reqs[bad].Options, queue.RunIn(time.Hour))
	jobs, errs, err := queue.NewClient(b).EnqueueMany(ctx, reqs)
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") || jobs != nil || errs != nil {
		t.Fatalf("EnqueueMany = %d jobs, %d errors, %v; want nothing but the WRONGTYPE error", len(jobs), len(errs), err)
	}
	var want []string
	for i := range n {
		if i < enqueueChunk || i >= 2*enqueueChunk {
			want = append(want, "j"+strconv.Itoa(i))
		}
	}
	if got := stateIDs(t, b, "q", queue.StatePending); !slices.Equal(got, want) {
		t.Fatalf("pending: %d jobs %v…, want the %d of the first and third chunks in order", len(got), got[:min(3, len(got))], len(want))
	}
	for _, i := range []int{bad + 1, 2*enqueueChunk - 1} {
		if _, err := b.Get(ctx, "j"+strconv.Itoa(i)); !errors.Is(err, queue.ErrJobNotFound) {
			t.Fatalf("job %d of the failed chunk: %v, want ErrJobNotFound", i, err)
		}
	}
}

// TestEnqueueKeyNotAJob puts a string where a job of the middle of a chunk would be stored:
// that job alone is refused (WRONGTYPE, not a job), and every other job of the call is stored
// and pending, in order — none is left stored but not pending.
func TestEnqueueKeyNotAJob(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := context.Background()
	const n = enqueueChunk + 100
	bad := enqueueChunk / 2
	if err := rawClient(t).Set(ctx, b.keys.job("q", "j"+strconv.Itoa(bad)), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	jobs, errs, err := queue.NewClient(b).EnqueueMany(ctx, enqueueRequests(n))
	if err != nil || len(jobs) != n {
		t.Fatalf("EnqueueMany = %d jobs, %v; want %d jobs and no error for the call", len(jobs), err, n)
	}
	var want []string
	for i, err := range errs {
		switch {
		case i == bad && (err == nil || !strings.Contains(err.Error(), "WRONGTYPE")):
			t.Fatalf("job %d, whose key is a string: %v, want a WRONGTYPE error", i, err)
		case i != bad && err != nil:
			t.Fatalf("job %d: %v", i, err)
		case i != bad:
			want = append(want, "j"+strconv.Itoa(i))
		}
	}
	if got := stateIDs(t, b, "q", queue.StatePending); !slices.Equal(got, want) {
		t.Fatalf("pending: %d jobs %v…, want the other %d in order", len(got), got[:min(3, len(got))], len(want))
	}
	// A job with a parent (enqueuegraph.lua) whose key is taken so is refused as a duplicate,
	// and the call goes on.
	taken, child := newJob("q", "j"+strconv.Itoa(bad)), newJob("q", "child")
	taken.DependsOn, child.DependsOn = []string{"j0"}, []string{"j0"}
	errs2, err := b.Enqueue(ctx, []*queue.Job{taken, child})
	if err != nil || !errors.Is(errs2[0], queue.ErrDuplicateJob) || errs2[1] != nil {
		t.Fatalf("jobs with a parent, the first one's key a string: %v, %v; want ErrDuplicateJob, then stored", errs2, err)
	}
}

// enqueueRequests returns n requests of jobs j0, j1, … on queue q.
func enqueueRequests(n int) []queue.Request {
	reqs := make([]queue.Request, n)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "t", Options: []queue.Option{queue.OnQueue("q"), queue.WithID("j" + strconv.Itoa(i))}}
	}
	return reqs
}
