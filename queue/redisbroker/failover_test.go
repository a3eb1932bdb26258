package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// TestSentinelFailover kills the master (SIGKILL) in the middle of 1,000 jobs, enqueued one
// by one while a worker runs them: the sentinels promote the replica, the producer's and the
// worker's calls fail for a few seconds and then go to the new master, the worker logs the
// outage in one line and the return in one, and every job the new master has completes. What
// Redis's asynchronous replication lost is counted and logged (docs/redis.md quotes it):
// enqueues and outcomes that were acknowledged but are not on the new master.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	r := runFailover(t, Options{}, sentinelSetup(t, false))
	t.Logf("without WAIT: %s", r)
}

// TestSentinelFailoverWaitReplicas is the same run with WaitReplicas 1: nothing acknowledged
// is lost. The killed master is started again as a replica of the promoted one (as a
// supervisor would), so that the new master has a replica to confirm its writes.
func TestSentinelFailoverWaitReplicas(t *testing.T) {
	t.Parallel()
	r := runFailover(t, Options{WaitReplicas: 1, WaitTimeout: time.Second}, sentinelSetup(t, true))
	t.Logf("with WAIT 1: %s", r)
	if r.lostEnqueues != 0 || r.lostOutcomes != 0 {
		t.Fatalf("with WaitReplicas 1 the failover lost acknowledged writes: %s", r)
	}
}

// failoverResult is what one failover run lost, and how long calls failed.
type failoverResult struct {
	enqueued, outcomes         int // acknowledged
	lostEnqueues, lostOutcomes int
	ranAfterLoss               int // lost enqueues whose job had run before the kill
	outage                     time.Duration
}

func (r failoverResult) String() string {
	return fmt.Sprintf("lost %d of %d acknowledged enqueues (%d of them had run) and %d of %d acknowledged outcomes (the job ran again); enqueues failed for %s",
		r.lostEnqueues, r.enqueued, r.ranAfterLoss, r.lostOutcomes, r.outcomes, r.outage.Round(10*time.Millisecond))
}

// ackBroker is the broker under test, noting when it acknowledged each job's outcome.
type ackBroker struct {
	*Broker
	mu    sync.Mutex
	acked map[string]time.Time // job ID → when its outcome was acknowledged
}

func (a *ackBroker) Finish(ctx context.Context, outs []queue.Outcome) error {
	err := a.Broker.Finish(ctx, outs)
	if err == nil {
		now := time.Now()
		a.mu.Lock()
		for _, o := range outs {
			if _, ok := a.acked[o.JobID]; !ok { // the first acknowledgement counts
				a.acked[o.JobID] = now
			}
		}
		a.mu.Unlock()
	}
	return err
}

// failoverSetup is the servers of a failover run: their URL, the queues the jobs go to, and
// how a master dies and its replica takes over.
type failoverSetup struct {
	url    string
	queues []string
	// fail kills a master with SIGKILL and returns once its replica is the master.
	fail func(t *testing.T)
	// flapping: the worker may log its outage more than once (on a cluster the queues of the
	// other masters keep answering between failures).
	flapping bool
}

// sentinelSetup is a master, a replica and three sentinels; rejoin restarts the killed master
// as the promoted one's replica (for WaitReplicas).
func sentinelSetup(t *testing.T, rejoin bool) failoverSetup {
	s := testenv.StartSentinel(t)
	return failoverSetup{url: s.URL(), queues: []string{"failover"}, flapping: rejoin, fail: func(t *testing.T) {
		killed := s.KillMaster(t)
		promoted := s.WaitFailover(t, killed, time.Minute)
		t.Logf("the sentinels promoted %s", promoted.Addr())
		if rejoin {
			if err := s.Rejoin(killed, promoted); err != nil {
				t.Fatal(err)
			}
		}
	}}
}

func runFailover(t *testing.T, opts Options, setup failoverSetup) failoverResult {
	const n = 1000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Prefix = testPrefix(t)
	b, err := Open(ctx, setup.url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ab := &ackBroker{Broker: b, acked: make(map[string]time.Time)}
	// A short lease brings the jobs whose lease the failover lost back soon. With
	// WaitReplicas, outcomes are not acknowledged until the new master has a replica, several
	// leases later: the worker's heartbeats keep the leases of the jobs they wait for.
	const lease = 3 * time.Second

	var mu sync.Mutex
	runs := make(map[string][]time.Time) // job ID → when each run started
	var logs testenv.LogBuffer
	w := queue.NewWorker(ab, queue.WorkerConfig{
		Queues: weights(setup.queues), Concurrency: 10, Lease: lease,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	w.HandleFunc("work", func(ctx context.Context, job *queue.Job) (any, error) {
		mu.Lock()
		runs[job.ID] = append(runs[job.ID], time.Now())
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // the job's work
		return nil, nil
	})
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(ctx) }()

	// The producer enqueues the jobs one by one, each retried until it is acknowledged; a
	// retry refused as a duplicate is acknowledged (the first try stored the job).
	c := queue.NewClient(b)
	var produced atomic.Int64
	prodDone := make(chan time.Duration, 1) // how long enqueues failed
	go func() {
		var outage time.Duration
		for i := range n {
			var failing time.Time
			for ctx.Err() == nil {
				_, err := c.Enqueue(ctx, "work", nil, queue.OnQueue(setup.queues[i%len(setup.queues)]), queue.WithID(jobID(i)))
				if err == nil || errors.Is(err, queue.ErrDuplicateJob) {
					break
				}
				if failing.IsZero() {
					failing = time.Now()
				}
				time.Sleep(50 * time.Millisecond) // the client's backoff before it retries
			}
			if !failing.IsZero() {
				outage += time.Since(failing)
			}
			produced.Add(1)
		}
		prodDone <- outage
	}()

	// The master dies once 400 jobs are enqueued and 200 outcomes acknowledged.
	testenv.Until(t, 2*time.Minute, "400 jobs enqueued and 200 outcomes acknowledged", func() bool {
		ab.mu.Lock()
		defer ab.mu.Unlock()
		return produced.Load() >= 400 && len(ab.acked) >= 200
	})
	setup.fail(t)
	var r failoverResult
	select {
	case r.outage = <-prodDone:
	case <-time.After(2 * time.Minute):
		t.Fatal("the producer did not enqueue every job after the failover")
	}

	// Every job the new master has completes; the others were lost.
	var lost []string
	testenv.Eventually(t, 2*time.Minute, func() error {
		lost = lost[:0]
		for i := range n {
			id := jobID(i)
			j, err := b.Get(ctx, id)
			switch {
			case errors.Is(err, queue.ErrJobNotFound):
				lost = append(lost, id)
			case err != nil:
				return err
			case j.State != queue.StateCompleted:
				return fmt.Errorf("job %s is %s (attempt %d, errors %+v)", id, j.State, j.Attempt, j.Errors)
			}
		}
		return nil
	})
	cancel()
	if err := <-workerDone; err != nil {
		t.Errorf("worker: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	ab.mu.Lock()
	defer ab.mu.Unlock()
	r.enqueued, r.outcomes, r.lostEnqueues = n, len(ab.acked), len(lost)
	for _, id := range lost {
		if len(runs[id]) > 0 {
			r.ranAfterLoss++
		}
		delete(ab.acked, id)
	}
	for id, at := range ab.acked {
		for _, run := range runs[id] {
			if run.After(at) {
				r.lostOutcomes++
				break
			}
		}
	}
	// One line when the master went away and one when the new one answered. (With
	// WaitReplicas, outcomes fail again until the new master has a replica: the worker may
	// say so more than once.)
	for _, line := range []string{"the queue is unreachable", "the queue answers again"} {
		if k := logs.Count(line); k != 1 && !setup.flapping || k == 0 {
			t.Errorf("the worker logged %q %d times, want once:\n%s", line, k, logs.String())
		}
	}
	return r
}

func jobID(i int) string { return fmt.Sprintf("job-%04d", i) }

// weights serves queues with weight 1 each.
func weights(queues []string) []queue.QueueWeight {
	out := make([]queue.QueueWeight, len(queues))
	for i, q := range queues {
		out[i] = queue.QueueWeight{Name: q, Weight: 1}
	}
	return out
}
