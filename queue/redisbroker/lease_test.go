package redisbroker

import (
	"context"
	"log/slog"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
)

// TestPendingOutcomeKeepsLease: a worker whose outcome Redis refuses for several leases (here
// an ACL that lets its heartbeats through but not its job writes; in production an outcome
// not acknowledged by WAIT, or a failover) keeps extending the job's lease until the outcome
// is recorded, so another worker never runs the job again meanwhile.
func TestPendingOutcomeKeepsLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := newBroker(t)
	prefix := admin.keys.prefix
	rc := rawClient(t)
	user, pw := "u-"+prefix, "pw"
	acl := func(rules ...any) {
		t.Helper()
		args := append([]any{"ACL", "SETUSER", user}, rules...)
		if err := rc.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("ACL SETUSER %v: %v", rules, err)
		}
	}
	acl("on", ">"+pw, "+@all", "~*")
	t.Cleanup(func() { _ = rc.Do(context.Background(), "ACL", "DELUSER", user).Err() })
	u := url.URL{Scheme: "redis", User: url.UserPassword(user, pw), Host: server.Addr(), Path: "/0"}
	limited, err := Open(ctx, u.String(), Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = limited.Close() })

	const lease = time.Second
	var runs atomic.Int32
	started, finish := make(chan struct{}, 2), make(chan struct{})
	worker := func(b *Broker, id string) *queue.Worker {
		w := queue.NewWorker(b, queue.WorkerConfig{
			ID: id, Queues: []queue.QueueWeight{{Name: "q", Weight: 1}}, Concurrency: 1,
			Lease: lease, HeartbeatInterval: lease / 10, HistorySlot: -1, FetchWait: lease,
			Logger: slog.New(slog.DiscardHandler), // the refused writes are logged as an outage
		})
		w.HandleFunc("test", func(ctx context.Context, job *queue.Job) (any, error) {
			runs.Add(1)
			started <- struct{}{}
			<-finish
			return nil, nil
		})
		return w
	}
	jobtest.StartWorker(t, worker(limited, "a"))
	enqueue(t, admin, newJob("q", "j"))
	<-started

	// From now on the worker can read the job and extend its lease, but not record its outcome.
	base := admin.keys.base("q")
	acl("resetkeys", "%R~"+base+"job:*", "~"+base+"active", "~"+base, "~"+admin.keys.workers(), "~"+admin.keys.worker("*"))
	released := time.Now()
	close(finish)
	jobtest.StartWorker(t, worker(admin, "b")) // would run the job again if its lease ran out

	// The lease must be extended well past the one it had when the handler returned.
	extended := released.Add(3 * lease)
	testenv.Until(t, 20*time.Second, "the pending outcome's lease extended past "+extended.Format(time.StampMilli), func() bool {
		if n := runs.Load(); n > 1 {
			t.Fatalf("the job ran %d times while its outcome waited to be recorded", n)
		}
		score, err := rc.ZScore(ctx, base+"active", "j").Result()
		return err == nil && time.UnixMilli(int64(score)).After(extended)
	})

	acl("allkeys") // the outcome goes through at the worker's next try
	testenv.Until(t, 20*time.Second, "the job completed", func() bool {
		j, err := admin.Get(ctx, "j")
		return err == nil && j.State == queue.StateCompleted
	})
	j, _ := admin.Get(ctx, "j")
	if n := runs.Load(); n != 1 || j.Attempt != 1 {
		t.Fatalf("the job ran %d times, attempt %d; want once", n, j.Attempt)
	}
}
