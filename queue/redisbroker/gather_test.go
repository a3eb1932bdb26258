package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// TestGatheredEnqueues has 50 goroutines enqueue a job each, 20 times over, on a server of
// their own, while in each round five of them contend for one job ID, five for one unique
// key, and one sends an invalid job: every caller gets its own answer (exactly one winner per
// contest, the others told duplicate; the invalid call refused alone), every job accepted is
// stored and pending, and the calls shared script calls (fewer enqueue scripts ran than
// calls were made).
func TestGatheredEnqueues(t *testing.T) {
	t.Parallel()
	b, r := privateBroker(t)
	ctx := context.Background()
	const goroutines, rounds = 50, 20
	before := evalshaCalls(t, r.Addr())
	type answer struct {
		round, g int
		job      *queue.Job
		err      error
	}
	answers := make(chan answer, goroutines*rounds)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for round := range rounds {
				j := newJob("q", fmt.Sprintf("r%d-g%d", round, g))
				switch g % 10 {
				case 0:
					j.ID = "dup-" + strconv.Itoa(round)
				case 1:
					j.UniqueKey = "uk-" + strconv.Itoa(round)
				case 2:
					j.Priority = queue.MaxPriority + 1
				}
				errs, err := b.Enqueue(ctx, []*queue.Job{j})
				if err == nil {
					err = errs[0]
				}
				answers <- answer{round, g, j, err}
			}
		})
	}
	wg.Wait()
	close(answers)

	won := map[string]int{}
	stored := 0
	for a := range answers {
		kind := a.g % 10
		switch {
		case kind == 2:
			if a.err == nil || !strings.Contains(a.err.Error(), "priority") {
				t.Fatalf("round %d: the invalid job: %v, want a priority error", a.round, a.err)
			}
			continue
		case a.err == nil:
			stored++
			if kind < 2 {
				won[fmt.Sprintf("%d-%d", kind, a.round)]++
			}
		case kind == 0 && errors.Is(a.err, queue.ErrDuplicateJob), kind == 1 && errors.Is(a.err, queue.ErrDuplicateUnique):
			continue
		default:
			t.Fatalf("round %d, goroutine %d: %v", a.round, a.g, a.err)
		}
		got, err := b.Get(ctx, a.job.ID)
		if err != nil || got.State != queue.StatePending {
			t.Fatalf("job %s accepted, then: %+v, %v", a.job.ID, got, err)
		}
	}
	for round := range rounds {
		for kind, what := range []string{"job ID", "unique key"} {
			if n := won[fmt.Sprintf("%d-%d", kind, round)]; n != 1 {
				t.Fatalf("round %d: %d callers stored the contested %s, want 1", round, n, what)
			}
		}
	}
	if s := stats(t, b, "q"); s.Pending != int64(stored) {
		t.Fatalf("%d jobs pending, %d accepted", s.Pending, stored)
	}
	calls := goroutines * rounds
	if scripts := evalshaCalls(t, r.Addr()) - before; scripts >= int64(calls) {
		t.Fatalf("%d Enqueue calls ran %d scripts: none were gathered", calls, scripts)
	} else {
		t.Logf("%d Enqueue calls, %d of them valid, ran %d scripts", calls, calls-calls/10, scripts)
	}
}

// TestGatheredEnqueuesSurviveKill has 50 goroutines enqueue one job per call while the server
// (appendfsync always) is killed with SIGKILL and started again: every call returns, each with
// an answer or an error naming the server, and every job whose call succeeded is there after
// the restart, pending; a job whose call failed may be stored too, and nothing else is.
func TestGatheredEnqueuesSurviveKill(t *testing.T) {
	t.Parallel()
	b, r := privateBroker(t, testenv.WithAOF())
	ctx := context.Background()
	const goroutines = 50
	var mu sync.Mutex
	var accepted, failed []string
	var calls sync.WaitGroup
	stop := make(chan struct{})
	for range goroutines {
		calls.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				j := newJob("q", "")
				errs, err := b.Enqueue(ctx, []*queue.Job{j})
				mu.Lock()
				switch {
				case err == nil && errs[0] == nil:
					accepted = append(accepted, j.ID)
				case err != nil && strings.Contains(err.Error(), r.Addr()):
					failed = append(failed, j.ID)
				default:
					t.Errorf("enqueue: %v, %v", errs, err)
				}
				mu.Unlock()
			}
		})
	}
	// grown returns a condition: n more IDs in *ids than now.
	grown := func(ids *[]string, n int) func() bool {
		mu.Lock()
		defer mu.Unlock()
		want := len(*ids) + n
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(*ids) >= want }
	}
	testenv.Until(t, 30*time.Second, "2,000 jobs accepted", grown(&accepted, 2000))
	r.Kill()
	testenv.Until(t, 30*time.Second, "calls to fail with the server down", grown(&failed, goroutines))
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, 30*time.Second, "calls to succeed again", grown(&accepted, 1000))
	close(stop)
	calls.Wait()

	for _, id := range accepted {
		if j, err := b.Get(ctx, id); err != nil || j.State != queue.StatePending {
			t.Fatalf("job %s, accepted, after the restart: %+v, %v", id, j, err)
		}
	}
	stored := 0
	for _, id := range failed {
		if _, err := b.Get(ctx, id); err == nil {
			stored++
		}
	}
	s := stats(t, b, "q")
	if s.Pending != int64(len(accepted)+stored) {
		t.Fatalf("%d jobs pending; %d accepted, %d stored of %d whose calls failed", s.Pending, len(accepted), stored, len(failed))
	}
	t.Logf("%d jobs accepted, all kept; %d calls failed, %d of their jobs stored", len(accepted), len(failed), stored)
}

// TestGatheredEnqueueWaits holds the replies to two enqueues, so that both flushes are on
// their way: a call made then waits, and one whose context ends while it waits returns at
// once with its jobs not stored; two calls that waited together are sent in one script call
// once the replies come.
func TestGatheredEnqueueWaits(t *testing.T) {
	t.Parallel()
	b, direct, p := heldBroker(t)
	ctx := context.Background()
	enqueue(t, b, newJob("q", "")) // the scripts loaded, the queue registered
	rc := direct.rdb
	addr := rc.(*redis.Client).Options().Addr
	stored := func(id string) bool { return rc.Exists(ctx, b.keys.base("q")+"job:"+id).Val() == 1 }
	waiting := func(n int) func() bool {
		return func() bool {
			b.gather.mu.Lock()
			defer b.gather.mu.Unlock()
			return len(b.gather.waiting) == n
		}
	}
	before := evalshaCalls(t, addr)

	release := p.HoldReplies()
	defer release()
	results := make(chan error, 4)
	send := func(ctx context.Context, id string) {
		go func() {
			errs, err := b.Enqueue(ctx, []*queue.Job{newJob("q", id)})
			if err == nil {
				err = errs[0]
			}
			results <- err
		}()
	}
	send(ctx, "a")
	send(ctx, "b")
	testenv.Until(t, 10*time.Second, "both flushes to reach Redis", func() bool { return stored("a") && stored("b") }, func() string { return fmt.Sprint(stored("a"), stored("b"), rc.PoolStats(), b.gather.flushing) })

	cctx, cancel := context.WithCancel(ctx)
	withdrawn := make(chan error, 1)
	go func() { _, err := b.Enqueue(cctx, []*queue.Job{newJob("q", "c")}); withdrawn <- err }()
	testenv.Until(t, 10*time.Second, "the third call to wait", waiting(1))
	cancel()
	if err := <-withdrawn; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("a waiting call canceled: %v, want context.Canceled, not sent", err)
	}
	send(ctx, "d")
	send(ctx, "e")
	testenv.Until(t, 10*time.Second, "two calls to wait", waiting(2))
	release()
	for range 4 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]bool{"a": true, "b": true, "c": false, "d": true, "e": true} {
		if stored(id) != want {
			t.Fatalf("job %s stored: %v, want %v", id, !want, want)
		}
	}
	if n := evalshaCalls(t, addr) - before; n != 3 {
		t.Fatalf("%d script calls for the flushes of a, b and d with e; want 3", n)
	}
}

// TestGatheredFlushContext: the context of a flush of several calls carries on while one of
// them is canceled, and ends once all of them have.
func TestGatheredFlushContext(t *testing.T) {
	t.Parallel()
	a, cancelA := context.WithCancel(context.Background())
	c, cancelC := context.WithCancel(context.Background())
	ctx, stop := sharedContext([]*gathered{{ctx: a}, {ctx: c}})
	defer stop()
	cancelA()
	if ctx.Err() != nil {
		t.Fatalf("the flush's context ended with one of its two calls: %v", ctx.Err())
	}
	cancelC()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the flush's context did not end when every call's had")
	}
}

// evalshaCalls is the number of EVALSHA calls the server at addr has run.
func evalshaCalls(t testing.TB, addr string) int64 {
	v, ok := lookupInfo(t, addr, "commandstats", "cmdstat_evalsha")
	if !ok { // none yet: Redis lists a command once it has run
		return 0
	}
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "calls="), ",")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("INFO commandstats: evalsha %q: %v", v, err)
	}
	return n
}
