//go:build unix

// Fault tests: real `dominion worker` processes (built by TestMain) killed, stopped and cut
// off from Redis. They send Unix signals, so they build on Unix systems only.

package main

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// faultBrokers runs fn against the embedded broker (a SQLite file shared by the processes)
// and a real Redis.
func faultBrokers(t *testing.T, fn func(t *testing.T, tb testBroker)) {
	eachBroker(t, fn)
}

// waitStats polls the queue's statistics until cond holds.
func waitStats(t *testing.T, c *queue.Client, name string, within time.Duration, what string, cond func(queue.QueueStats) bool) queue.QueueStats {
	t.Helper()
	var s queue.QueueStats
	eventually(t, within, func() bool {
		var ok bool
		s, ok = stats(t.Context(), c, name)
		return ok && cond(s)
	}, func() string { return what + "; queue " + name + " is " + statsString(s) })
	return s
}

func statsString(s queue.QueueStats) string {
	return "pending " + strconv.FormatInt(s.Pending, 10) + ", active " + strconv.FormatInt(s.Active, 10) +
		", scheduled " + strconv.FormatInt(s.Scheduled, 10) + ", retry " + strconv.FormatInt(s.Retry, 10) +
		", dead " + strconv.FormatInt(s.Dead, 10) + ", completed " + strconv.FormatInt(s.Completed, 10) +
		", canceled " + strconv.FormatInt(s.Canceled, 10)
}

// assertAllCompleted checks that every job of ids is completed and none is anywhere else; it
// returns how many ran more than once.
func assertAllCompleted(t *testing.T, c *queue.Client, name string, ids []string) (rerun int) {
	t.Helper()
	s, _ := stats(t.Context(), c, name)
	if s.Completed != int64(len(ids)) || s.Pending+s.Active+s.Scheduled+s.Retry+s.Dead+s.Canceled != 0 {
		t.Errorf("queue %s: %s; want %d completed and nothing else", name, statsString(s), len(ids))
	}
	for _, id := range ids {
		j, err := c.Get(t.Context(), id)
		if err != nil {
			t.Errorf("job %s lost: %v", id, err)
			continue
		}
		if j.State != queue.StateCompleted {
			t.Errorf("job %s is %s, want completed", id, j.State)
		}
		if j.Attempt > 1 {
			rerun++
		}
	}
	return rerun
}

// TestWorkerKilled kills a worker process with SIGKILL in the middle of 200 jobs and starts
// another: the killed worker's jobs are recovered when their lease runs out, and every job
// ends completed, none lost, none left active.
func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	faultBrokers(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		cfg.Lease = time.Second
		const n = 200
		ids := strings.Fields(ok(t, cfg, "enqueue", "dominion.sleep", `{"ms": 50}`, "--count", strconv.Itoa(n), "--queue", "fault"))
		if len(ids) != n {
			t.Fatalf("enqueued %d jobs, want %d", len(ids), n)
		}
		c := client(t, cfg)
		w1 := startProc(t, "worker 1", cfg, "worker", "--queues", "fault", "--concurrency", "10")
		waitStats(t, c, "fault", time.Minute, "worker 1 completed fewer than 20 jobs",
			func(s queue.QueueStats) bool { return s.Completed >= 20 })
		if code := w1.signal(syscall.SIGKILL, 15*time.Second); code != -1 {
			t.Fatalf("worker 1 exited %d before SIGKILL", code)
		}
		atKill, _ := stats(t.Context(), c, "fault")
		if atKill.Completed == n {
			t.Fatalf("all jobs were done before the kill: the test proves nothing")
		}
		t.Logf("killed worker 1 at %s", statsString(atKill))

		w2 := startProc(t, "worker 2", cfg, "worker", "--queues", "fault", "--concurrency", "10")
		waitStats(t, c, "fault", 2*time.Minute, "not every job completed after the second worker started",
			func(s queue.QueueStats) bool { return s.Completed == n })
		rerun := assertAllCompleted(t, c, "fault", ids)
		if atKill.Active > 0 && rerun == 0 {
			t.Errorf("%d jobs were active when worker 1 was killed, yet no job ran twice", atKill.Active)
		}
		t.Logf("%d jobs ran again after the kill", rerun)
		if code := w2.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("worker 2 exited %d after SIGTERM, want 0", code)
		}
	})
}

// TestRedisRestart kills Redis (SIGKILL; appendonly yes, appendfsync always) in the middle of a
// run of 1,000 jobs and keeps it down for a few seconds: the worker process rides it out by
// itself, logging the outage in one line and the return in one, no job is lost, and every job
// completes.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	tb := redisBroker(t, testenv.WithAOF()) // the jobs survive the restart
	cfg := tb.cfg
	const n = 1000
	ids := strings.Fields(ok(t, cfg, "enqueue", "dominion.sleep", `{"ms": 20}`, "--count", strconv.Itoa(n), "--queue", "outage"))
	c := client(t, cfg)
	w := startProc(t, "worker", cfg, "worker", "--queues", "outage", "--concurrency", "10")
	waitStats(t, c, "outage", time.Minute, "the worker completed fewer than 20 jobs",
		func(s queue.QueueStats) bool { return s.Completed >= 20 })

	tb.redis.Kill()
	down := time.Now()
	// Redis stays down until the worker has noticed (and for at least two seconds).
	eventually(t, 30*time.Second, func() bool {
		return strings.Contains(w.Output(), workerDownLine) && time.Since(down) >= 2*time.Second
	}, func() string { return "the worker logged no outage while Redis was down:\n" + w.Output() })
	if err := tb.redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Redis was down for %s", time.Since(down).Round(time.Millisecond))

	waitStats(t, c, "outage", 2*time.Minute, "not every job completed after Redis came back",
		func(s queue.QueueStats) bool { return s.Completed == n })
	assertAllCompleted(t, c, "outage", ids)
	// One line when Redis went away and one when it was back, however many fetches,
	// heartbeats and outcome records failed in between.
	for _, line := range []string{workerDownLine, workerBackLine} {
		if k := strings.Count(w.Output(), line); k != 1 {
			t.Errorf("the worker logged %q %d times, want once:\n%s", line, k, w.Output())
		}
	}
	if !w.Running() {
		t.Fatalf("the worker exited during the outage")
	}
	if code := w.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("worker exited %d after SIGTERM, want 0", code)
	}
}

// TestShutdownRequeues sends SIGTERM to a worker running a long job with a short shutdown
// timeout: the worker exits 0 at once and the job is back to pending, its attempt given back.
func TestShutdownRequeues(t *testing.T) {
	t.Parallel()
	faultBrokers(t, func(t *testing.T, tb testBroker) {
		cfg := tb.cfg
		ok(t, cfg, "enqueue", "dominion.sleep", `{"ms": 600000}`, "--queue", "term", "--id", "long")
		c := client(t, cfg)
		w := startProc(t, "worker", cfg, "worker", "--queues", "term", "--shutdown-timeout", "200ms")
		var job *queue.Job
		eventually(t, time.Minute, func() bool {
			j, err := c.Get(t.Context(), "long")
			job = j
			return err == nil && j.State == queue.StateActive
		}, func() string { return "the job never became active" })
		start := time.Now()
		// 15 s is far below both the job (10 min) and the default shutdown timeout (30 s).
		if code := w.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
			t.Fatalf("worker exited %d after SIGTERM, want 0", code)
		}
		t.Logf("worker exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
		job, err := c.Get(t.Context(), "long")
		if err != nil || job.State != queue.StatePending || job.Attempt != 0 {
			t.Fatalf("after shutdown the job is %+v (%v), want pending with attempt 0", job, err)
		}
		if s, _ := stats(t.Context(), c, "term"); s.Pending != 1 || s.Active != 0 {
			t.Errorf("queue term: %s", statsString(s))
		}
		if ws, err := c.Workers(t.Context()); err != nil || len(ws) != 0 {
			t.Errorf("workers after shutdown: %+v, %v", ws, err)
		}
		if !strings.Contains(w.Output(), "putting unfinished jobs back in their queue") {
			t.Errorf("worker log:\n%s", w.Output())
		}
	})
}
