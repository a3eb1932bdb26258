package redisbroker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/redis/go-redis/v9"
)

// TestCanceledWaitLeavesJobsPending cancels a waiting Fetch while a job is pending that no
// wake-up token announced (so its wait goes on until the cancel ends it): the fetch that
// runs after the BLPOP, in the same round trip, must not lease that job to a worker that
// stopped (it would lose an attempt to "lease expired"): the job stays pending at attempt 0,
// at the front of its queue.
func TestCanceledWaitLeavesJobsPending(t *testing.T) {
	t.Parallel()
	b, name := newNamedBroker(t)
	var logs testenv.LogBuffer
	b.log = logs.Logger()
	rc := rawClient(t)
	ctx := context.Background()
	enqueue(t, b, newJob("q", "announced"))
	if jobs := fetch(t, b, "other", time.Minute, 1, "q"); len(jobs) != 1 {
		t.Fatalf("fetch got %v", ids(jobs))
	}

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		// A wait shorter than the lease of the job above: not one timed on its deadline.
		_, err := b.Fetch(cctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: 30 * time.Second})
		done <- err
	}()
	waitBlocked(t, name)
	// A pending job as enqueue.lua stores it, but without the wake-up token.
	quiet := newJob("q", "quiet")
	if err := rc.HSet(ctx, b.keys.job("q", "quiet"), "d", appendPacked(nil, quiet)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.RPush(ctx, b.keys.base("q")+"pending", "quiet").Err(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled fetch returned %v", err)
		}
	case <-time.After(maxBlock / 2):
		t.Fatal("canceled fetch did not return promptly")
	}

	j, err := b.Get(ctx, "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != queue.StatePending || j.Attempt != 0 {
		t.Fatalf("after the canceled fetch the job is %s at attempt %d, want pending at attempt 0", j.State, j.Attempt)
	}
	if jobs := fetch(t, b, "w2", time.Minute, 1, "q"); len(jobs) != 1 || jobs[0].ID != "quiet" || jobs[0].Attempt != 1 {
		t.Fatalf("the next fetch got %v, want quiet at attempt 1", ids(jobs))
	}
	if logs.Count("WARN") > 0 {
		t.Fatalf("the canceled wait logged warnings:\n%s", logs.String())
	}
	// The list that ended the wait is gone: the BLPOP took its one element.
	if left, err := rc.Keys(ctx, b.keys.prefix+":unblock:*").Result(); err != nil || len(left) != 0 {
		t.Fatalf("unblock lists left: %v (%v)", left, err)
	}
}

// TestWaitAfterScriptFlush: the fetch that follows a wait in one round trip meets a server
// that forgot the scripts (SCRIPT FLUSH, as after a restart) and runs again with EVAL, so
// the woken worker still gets its job. (A server of its own: other tests count on the shared
// one knowing the scripts.)
func TestWaitAfterScriptFlush(t *testing.T) {
	t.Parallel()
	b, r := privateBroker(t)
	ctx := context.Background()
	fetch(t, b, "w", time.Minute, 1, "q") // the server learns the fetch script
	got := make(chan []*queue.Job, 1)
	go func() {
		jobs, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: time.Minute})
		if err != nil {
			t.Error(err)
		}
		got <- jobs
	}()
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	testenv.Until(t, 10*time.Second, "a blocked BLPOP", func() bool {
		info, err := rc.Info(ctx, "clients").Result()
		return err == nil && !strings.Contains(info, "blocked_clients:0")
	})
	if err := rc.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, newJob("q", "after-flush"))
	select {
	case jobs := <-got:
		if len(jobs) != 1 || jobs[0].ID != "after-flush" {
			t.Fatalf("woken fetch got %v", ids(jobs))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the enqueue did not wake the waiting fetch")
	}
}

// TestCanceledWaitOnFrozenRedis cancels a waiting Fetch while Redis answers nothing (SIGSTOP):
// the Fetch returns within canceledWaitGrace, not after the client's read timeout. When Redis
// comes back, the unblock ends the BLPOP and the fetch that follows it leases nothing, so a
// job made pending meanwhile (without a wake-up token) is still pending at attempt 0 for the
// next worker, and no unblock list is left.
func TestCanceledWaitOnFrozenRedis(t *testing.T) {
	t.Parallel()
	b, r := privateBroker(t)
	var logs testenv.LogBuffer
	b.log = logs.Logger()
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	enqueue(t, b, newJob("q", "announced")) // the queue is known
	if jobs := fetch(t, b, "other", time.Minute, 1, "q"); len(jobs) != 1 {
		t.Fatalf("fetch got %v", ids(jobs))
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := b.Fetch(cctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: time.Minute})
		done <- err
	}()
	testenv.Until(t, 10*time.Second, "a blocked BLPOP", func() bool {
		info, err := rc.Info(ctx, "clients").Result()
		return err == nil && !strings.Contains(info, "blocked_clients:0")
	})
	// A pending job as enqueue.lua stores it, but without the wake-up token: only the
	// unblock can end the wait, and the fetch after it must not lease this job.
	quiet := newJob("q", "quiet")
	if err := rc.HSet(ctx, b.keys.job("q", "quiet"), "d", appendPacked(nil, quiet)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.RPush(ctx, b.keys.base("q")+"pending", "quiet").Err(); err != nil {
		t.Fatal(err)
	}

	r.Freeze(t)
	canceled := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled fetch returned %v", err)
		}
		if took := time.Since(canceled); took > canceledWaitGrace+time.Second {
			t.Fatalf("canceled fetch took %s to return", took)
		}
	case <-time.After(canceledWaitGrace + 5*time.Second):
		t.Fatal("canceled fetch did not return while Redis was frozen")
	}
	r.Thaw()

	testenv.Until(t, 10*time.Second, "the unblock to end the BLPOP", func() bool {
		info, err := rc.Info(ctx, "clients").Result()
		return err == nil && strings.Contains(info, "blocked_clients:0")
	})
	testenv.Until(t, 10*time.Second, "the unblock list to go", func() bool {
		left, err := rc.Keys(ctx, b.keys.prefix+":unblock:*").Result()
		return err == nil && len(left) == 0
	})
	j, err := b.Get(ctx, "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != queue.StatePending || j.Attempt != 0 {
		t.Fatalf("after the canceled fetch the job is %s at attempt %d, want pending at attempt 0", j.State, j.Attempt)
	}
	if jobs := fetch(t, b, "w2", time.Minute, 1, "q"); len(jobs) != 1 || jobs[0].ID != "quiet" || jobs[0].Attempt != 1 {
		t.Fatalf("the next fetch got %v, want quiet at attempt 1", ids(jobs))
	}
	if logs.Count("WARN") > 0 {
		t.Fatalf("the canceled wait logged warnings:\n%s", logs.String())
	}
}
