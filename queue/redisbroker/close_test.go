package redisbroker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// TestCloseGivesBackWhatACanceledWaitLeased stops a waiting Fetch whose wait a job ended
// while Redis's answers are held up (a proxy holds every reply): the fetch after the wait
// leased the job, the caller gave up before the answer came, and Close is called at once, as
// a worker's shutdown does. Close must wait for the answer and give the job back: pending at
// attempt 0, not left active under a worker that is gone until its lease runs out (which
// would count an attempt as failed).
func TestCloseGivesBackWhatACanceledWaitLeased(t *testing.T) {
	t.Parallel()
	b, direct, p := heldBroker(t)
	var logs testenv.LogBuffer
	b.log = logs.Logger()

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		_, err := b.Fetch(ctx, queue.FetchRequest{WorkerID: "w", Queues: []string{"q"}, Max: 1, Lease: time.Minute, Wait: time.Minute})
		done <- err
	}()
	untilBlocked(t, direct.rdb.(*redis.Client), true)
	release := p.HoldReplies()
	enqueue(t, direct, newJob("q", "j")) // wakes the wait: the fetch after it leases j
	testenv.Until(t, 10*time.Second, "the waiting fetch to lease j", func() bool {
		j, err := direct.Get(context.Background(), "j")
		return err == nil && j.State == queue.StateActive
	})
	cancelWait(t, cancel, done, canceledWaitGrace+5*time.Second)

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the canceled fetch's answer came", err)
	case <-time.After(200 * time.Millisecond): // Close is waiting for it
	}
	release()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return once the answers came")
	}

	checkGivenBack(t, direct, &logs, "j")
}

// TestCloseGivesBackWhatALostFetchLeased loses the replies to a fetch from two queues and to
// both of go-redis's resends of it, so that Fetch fails after Redis leased a job, and then
// closes the broker, as a worker that stops does, before any next fetch could take the job
// up: Close must give it back, pending at attempt 0, not leave it leased to no one until its
// lease runs out. A job of the other queue, which the fetch did not lease, is left alone.
func TestCloseGivesBackWhatALostFetchLeased(t *testing.T) {
	t.Parallel()
	b, p := proxiedBroker(t)
	var logs testenv.LogBuffer
	b.log = logs.Logger()
	direct := New(rawClient(t), Options{Prefix: b.keys.prefix}) // around the proxy
	enqueue(t, b, newJob("r", "leased"), newJob("q", "left"))
	const worker = "worker-whose-replies-are-lost"
	dropped := p.DropReplies([]byte(worker), 3)
	req := queue.FetchRequest{WorkerID: worker, Queues: []string{"r", "q"}, Max: 1, Lease: time.Minute}
	if jobs, err := b.Fetch(context.Background(), req); err == nil {
		t.Fatalf("fetch whose every reply is lost got %v and no error", ids(jobs))
	}
	mustHaveDropped(t, dropped)
	if leased := stateIDs(t, direct, "r", queue.StateActive); !slices.Equal(leased, []string{"leased"}) {
		t.Fatalf("the lost fetch leased %v of queue r, want job leased", leased)
	}

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, id := range []string{"leased", "left"} {
		j, err := direct.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != queue.StatePending || j.Attempt != 0 {
			t.Fatalf("after Close job %s is %s at attempt %d, want pending at attempt 0", id, j.State, j.Attempt)
		}
	}
	if logs.Count("WARN") > 0 {
		t.Fatalf("warnings logged:\n%s", logs.String())
	}
}
