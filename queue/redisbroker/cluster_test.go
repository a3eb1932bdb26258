package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	t.Run("AcrossQueuesRefused", func(t *testing.T) {
		t.Parallel()
		testAcrossQueuesRefused(t, c)
	})
	t.Run("GatheredAcrossSlots", func(t *testing.T) {
		t.Parallel()
		testGatheredAcrossSlots(t, c)
	})
}

// testGatheredAcrossSlots has 30 goroutines enqueue one job per call on three queues whose
// slots are on three masters, so that the calls gathered into one flush go to several nodes:
// every call succeeds and every job is pending on its own queue.
func testGatheredAcrossSlots(t *testing.T, c *testenv.Cluster) {
	ctx := context.Background()
	b, err := Open(ctx, c.URL(), Options{Prefix: testPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	qs := queuesOnMasters(t, c, 3)
	const goroutines, calls = 30, 10
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range calls {
				if _, err := b.Enqueue(ctx, []*queue.Job{newJob(qs[g%3], "")}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, q := range qs {
		if s := stats(t, b, q); s.Pending != goroutines/3*calls {
			t.Fatalf("queue %s: %d pending, want %d", q, s.Pending, goroutines/3*calls)
		}
	}
}

// testAcrossQueuesRefused checks that on a cluster a dependency on a job of another queue, a
// job added to a batch of another queue and a batch callback on another queue are refused,
// with an error wrapping queue.ErrUnsupported that names the job, both queues and why, and
// that nothing of them is stored. (Within one queue they work: the conformance suite.)
func testAcrossQueuesRefused(t *testing.T, c *testenv.Cluster) {
	ctx := context.Background()
	b, err := Open(ctx, c.URL(), Options{Prefix: testPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	client := queue.NewClient(b)
	qs := queuesOnMasters(t, c, 2)
	refused := func(what string, err error, words ...string) {
		t.Helper()
		if !errors.Is(err, queue.ErrUnsupported) || errors.Is(err, queue.ErrParentNotFound) || errors.Is(err, queue.ErrBatchNotFound) {
			t.Fatalf("%s: %v, want an error wrapping queue.ErrUnsupported", what, err)
		}
		for _, w := range append(words, "Redis Cluster", "hash slot") {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: %q does not say %q", what, err, w)
			}
		}
	}
	gone := func(id string) {
		t.Helper()
		if _, err := client.Get(ctx, id); !errors.Is(err, queue.ErrJobNotFound) {
			t.Fatalf("refused job %s: get = %v, want not found", id, err)
		}
	}
	if _, err := client.Enqueue(ctx, "step", nil, queue.WithID("parent"), queue.OnQueue(qs[0])); err != nil {
		t.Fatal(err)
	}
	_, err = client.Enqueue(ctx, "step", nil, queue.WithID("child"), queue.OnQueue(qs[1]), queue.DependsOn("parent"))
	refused("a parent on another queue", err, "child", "parent", qs[0], qs[1])
	gone("child")
	_, errs, err := client.EnqueueMany(ctx, []queue.Request{
		{Type: "step", Options: []queue.Option{queue.WithID("kid"), queue.OnQueue(qs[0]), queue.DependsOn("root")}},
		{Type: "step", Options: []queue.Option{queue.WithID("root"), queue.OnQueue(qs[1])}},
	})
	if err != nil || errs[1] != nil {
		t.Fatalf("enqueue a parent and its child: %v %v", err, errs)
	}
	refused("a parent on another queue in the same call", errs[0], "kid", "root", qs[0], qs[1])
	gone("kid")
	if _, err := client.Enqueue(ctx, "step", nil, queue.WithID("orphan"), queue.OnQueue(qs[1]), queue.DependsOn("nobody")); !errors.Is(err, queue.ErrParentNotFound) {
		t.Fatalf("a parent that exists nowhere: %v, want ErrParentNotFound", err)
	}

	_, err = client.OpenBatch(ctx, queue.BatchID("split"), queue.BatchQueue(qs[0]), queue.OnComplete("done", nil, queue.OnQueue(qs[1])))
	refused("a batch callback on another queue", err, "split", qs[0], qs[1])
	if _, err := client.Batch(ctx, "split"); !errors.Is(err, queue.ErrBatchNotFound) {
		t.Fatalf("a refused batch: %v, want not found", err)
	}
	id, err := client.OpenBatch(ctx, queue.BatchQueue(qs[0]), queue.OnComplete("done", nil, queue.OnQueue(qs[0])))
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Enqueue(ctx, "step", nil, queue.WithID("stray"), queue.OnQueue(qs[1]), queue.InBatch(id))
	refused("a job added to a batch of another queue", err, "stray", id, qs[0], qs[1])
	gone("stray")
	if s, err := client.Batch(ctx, id); err != nil || s.Total != 0 {
		t.Fatalf("batch after a refused job: %+v %v, want no job", s, err)
	}
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
