package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
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
	cancel, done := startWait(t, b)
	waitBlocked(t, name)
	addQuietJob(t, b, rc)
	cancelWait(t, cancel, done, maxBlock/2)
	checkGivenBack(t, b, &logs, "quiet")
	// The list that ended the wait is gone: the BLPOP took one element, the script the other.
	checkNoUnblockLists(t, b, rc)
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
	untilBlocked(t, rc, true)
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
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	cancel, done := startWait(t, b)
	untilBlocked(t, rc, true)
	addQuietJob(t, b, rc)

	r.Freeze(t)
	if took := cancelWait(t, cancel, done, canceledWaitGrace+5*time.Second); took > canceledWaitGrace+time.Second {
		t.Fatalf("canceled fetch took %s to return while Redis was frozen", took)
	}
	r.Thaw()

	untilBlocked(t, rc, false)
	testenv.Until(t, 10*time.Second, "the unblock list to go", func() bool {
		left, err := rc.Keys(context.Background(), b.keys.prefix+":unblock:*").Result()
		return err == nil && len(left) == 0
	})
	checkGivenBack(t, b, &logs, "quiet")
}

// startWait starts a Fetch of one job on queue "q" that waits up to a minute; cancel ends
// it, and done receives its error. The queue has had a job (leased to another worker), so
// that Get finds the jobs stored on it by hand.
func startWait(t *testing.T, b *Broker) (cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	enqueue(t, b, newJob("q", "announced"))
	if jobs := fetch(t, b, "other", time.Minute, 1, "q"); len(jobs) != 1 {
		t.Fatalf("fetch got %v", ids(jobs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errs := make(chan error, 1)
	go func() {
		_, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: time.Minute})
		errs <- err
	}()
	return cancel, errs
}

// cancelWait cancels the Fetch of startWait and fails unless it returns context.Canceled
// within within; it returns how long that took.
func cancelWait(t *testing.T, cancel context.CancelFunc, done <-chan error, within time.Duration) time.Duration {
	t.Helper()
	canceled := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled fetch returned %v", err)
		}
	case <-time.After(within):
		t.Fatalf("canceled fetch did not return within %s", within)
	}
	return time.Since(canceled)
}

// addQuietJob stores job "quiet" pending on queue "q" as enqueue.lua would, but without a
// wake-up token: a waiting fetch does not wake up for it.
func addQuietJob(t *testing.T, b *Broker, rc *redis.Client) {
	t.Helper()
	ctx := context.Background()
	if err := rc.HSet(ctx, b.keys.job("q", "quiet"), "d", appendPacked(nil, newJob("q", "quiet"))).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.RPush(ctx, b.keys.base("q")+"pending", "quiet").Err(); err != nil {
		t.Fatal(err)
	}
}

// checkGivenBack checks that job id was not left leased by a fetch whose caller gave up: it
// is pending at attempt 0, the next fetch gets it at attempt 1, and nothing was logged as a
// warning.
func checkGivenBack(t *testing.T, b *Broker, logs *testenv.LogBuffer, id string) {
	t.Helper()
	j, err := b.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != queue.StatePending || j.Attempt != 0 {
		t.Fatalf("job %s is %s at attempt %d, want pending at attempt 0", id, j.State, j.Attempt)
	}
	if jobs := fetch(t, b, "w2", time.Minute, 1, "q"); len(jobs) != 1 || jobs[0].ID != id || jobs[0].Attempt != 1 {
		t.Fatalf("the next fetch got %v, want %s at attempt 1", ids(jobs), id)
	}
	if logs.Count("WARN") > 0 {
		t.Fatalf("warnings logged:\n%s", logs.String())
	}
}

// checkNoUnblockLists fails if an unblock list is left.
func checkNoUnblockLists(t *testing.T, b *Broker, rc *redis.Client) {
	t.Helper()
	if left, err := rc.Keys(context.Background(), b.keys.prefix+":unblock:*").Result(); err != nil || len(left) != 0 {
		t.Fatalf("unblock lists left: %v (%v)", left, err)
	}
}

// untilBlocked waits until the server of rc has a client blocked in a command (blocked) or
// none (!blocked).
func untilBlocked(t *testing.T, rc *redis.Client, blocked bool) {
	t.Helper()
	testenv.Until(t, 10*time.Second, fmt.Sprintf("blocked clients: %v", blocked), func() bool {
		return (blockedClients(t, rc.Options().Addr) > 0) == blocked
	})
}

// TestWorkerStopsOnFrozenRedis stops an idle queue.Worker while Redis answers nothing
// (SIGSTOP): Run returns within a few seconds, not after the timeouts of its wait (1 s now),
// of the heartbeat in flight (half the lease) and of the removal of its record.
func TestWorkerStopsOnFrozenRedis(t *testing.T) {
	t.Parallel()
	b, r := privateBroker(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "q", Weight: 1}}, Concurrency: 2, Lease: 10 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	w.HandleFunc("noop", func(context.Context, *queue.Job) (any, error) { return nil, nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	untilBlocked(t, rc, true)

	r.Freeze(t)
	// Heartbeats every 100 ms: during the second its canceled wait waits for an answer, one
	// is sent and gets stuck.
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if took := time.Since(stopped); took > canceledWaitGrace+5*time.Second {
			t.Fatalf("the worker took %s to stop", took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop while Redis was frozen")
	}
}
