package redisbroker

import (
	"context"
	"fmt"
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

// TestClusterFailover kills (SIGKILL) the master of the first of three queues (on three masters) in the middle
// of 1,000 jobs spread over them, enqueued one by one while a worker serves all three: the
// cluster promotes its replica, the calls on that queue fail for a few seconds while the
// others carry on, and every job the cluster has completes. What asynchronous replication
// lost is counted and logged, as for Sentinel (docs/redis.md quotes it).
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t)
	queues := queuesOnMasters(t, c, 3)
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

// BenchmarkClusterQueues runs no-op jobs on a cluster of three masters (with replicas) spread
// over 1, 2 and 3 queues, each queue on its own master and served by its own worker of
// concurrency 50; an op is a job (docs/scaling.md).
func BenchmarkClusterQueues(b *testing.B) {
	c := testenv.StartCluster(b)
	br, err := Open(context.Background(), c.URL(), Options{Prefix: testPrefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	queues := queuesOnMasters(b, c, 3)
	for k := 1; k <= 3; k++ {
		b.Run(fmt.Sprintf("queues=%d", k), func(b *testing.B) { benchWorkers(b, br, queues[:k], false) })
	}
}

// queuesOnMasters returns n queue names whose slots are on n different masters.
func queuesOnMasters(t testing.TB, c *testenv.Cluster, n int) []string {
	t.Helper()
	var out []string
	seen := map[*testenv.Redis]bool{}
	for i := 0; len(out) < n && i < 1000; i++ {
		q := fmt.Sprintf("q%d", i)
		m, err := c.MasterOf(context.Background(), keys{}.base(q))
		if err != nil {
			t.Fatal(err)
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, q)
		}
	}
	if len(out) < n {
		t.Fatalf("found queues on %d masters, want %d", len(out), n)
	}
	return out
}
