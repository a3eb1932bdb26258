package redisbroker

import (
	"context"
	"testing"

	"github.com/codex-dominion/dominion/queue"
)

// TestEventsStopWhenLastSubscriberLeaves: a queue's events are recorded while someone
// subscribes, still when one of two subscribers leaves, and not at all from the moment the
// last one has left (not SubscriberTTL later); the subs key of an older version's subscriber
// still switches them on.
func TestEventsStopWhenLastSubscriberLeaves(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	rc := rawClient(t)
	ctx := context.Background()
	enqueue(t, b, newJob("q", "")) // the queue exists
	base := b.keys.base("q")
	recorded := func() int64 {
		t.Helper()
		n, err := rc.XLen(ctx, base+"events").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// expect enqueues a job and checks whether its event was recorded.
	expect := func(want bool, when string) {
		t.Helper()
		before := recorded()
		enqueue(t, b, newJob("q", ""))
		if got := recorded() > before; got != want {
			t.Fatalf("%s: event recorded = %v, want %v", when, got, want)
		}
	}
	subscribe := func() (*queue.Subscription, context.CancelFunc) {
		t.Helper()
		sctx, cancel := context.WithCancel(ctx)
		sub, err := queue.NewClient(b).Subscribe(sctx, queue.EventFilter{Queues: []string{"q"}})
		if err != nil {
			t.Fatal(err)
		}
		return sub, cancel
	}
	expect(false, "nobody subscribed")
	first, leave1 := subscribe()
	second, leave2 := subscribe()
	expect(true, "two subscribers")
	leave1()
	_ = first.Err()
	expect(true, "one of two subscribers left")
	leave2()
	_ = second.Err()
	if n, err := rc.Exists(ctx, base+"subscribers").Result(); err != nil || n != 0 {
		t.Fatalf("the subscribers set is still there (%d, %v) after the last left", n, err)
	}
	expect(false, "the last subscriber left")
	if err := rc.Set(ctx, base+"subs", "1", queue.SubscriberTTL).Err(); err != nil {
		t.Fatal(err)
	}
	expect(true, "an older version's subscriber")
}
