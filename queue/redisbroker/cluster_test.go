package redisbroker

import (
	"context"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// TestClusterConformance runs the conformance suite on a real Redis Cluster of three masters
// with a replica each: every queue's keys in its own slot, the tests' queues spread over the
// masters, fetches from several queues made one queue at a time.
func TestClusterConformance(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.WithPassword("cluster-pw"))
	queuetest.Run(t, func(t *testing.T) queue.Broker {
		b, err := Open(context.Background(), c.URL(), Options{Prefix: testPrefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// TestClusterFailover kills (SIGKILL) the master of the first of three queues in the middle
// of 1,000 jobs spread over them, enqueued one by one while a worker serves all three: the
// cluster promotes its replica, the calls on that queue fail for a few seconds while the
// others carry on, and every job the cluster has completes. What asynchronous replication
// lost is counted and logged, as for Sentinel (docs/redis.md quotes it).
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t)
	queues := []string{"f0", "f1", "f2"}
	masters := map[string]bool{}
	for _, q := range queues {
		m, err := c.MasterOf(context.Background(), keys{}.base(q))
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Addr()] = true
	}
	if len(masters) != 3 {
		t.Fatalf("queues %v live on %d masters, want 3", queues, len(masters))
	}
	r := runFailover(t, Options{}, failoverSetup{url: c.URL(), queues: queues, flapping: true, fail: func(t *testing.T) {
		ctx := context.Background()
		base := keys{prefix: "x"}.base(queues[0]) // the slot is the queue's, whatever the prefix
		killed, err := c.MasterOf(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		killed.Kill()
		promoted := c.WaitFailover(t, killed, base, time.Minute)
		t.Logf("the cluster promoted %s in place of %s", promoted.Addr(), killed.Addr())
	}})
	t.Logf("cluster: %s", r)
}
