//go:build unix

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

// TestRateLimitThreeWorkers: 1,000 jobs on a queue limited to 100/s by the DOMINION_QUEUES
// file, run by three `dominion worker` processes: no one-second window of their start times
// (the broker's, Job.StartedAt) holds more than 100 plus the burst, with a burst of 10 and
// with none; with the burst they start over 10 s ± 5 %. (With none, only the lower bound is
// checked: on a loaded machine a worker often comes more than the 10 ms interval late, and
// that start begins a new period; see docs/limits.md.)
func TestRateLimitThreeWorkers(t *testing.T) {
	t.Parallel()
	for _, burst := range []int{10, 0} {
		t.Run(fmt.Sprintf("burst%d", burst), func(t *testing.T) {
			t.Parallel()
			rateLimitThreeWorkers(t, burst)
		})
	}
}

func rateLimitThreeWorkers(t *testing.T, burst int) {
	tb := redisBroker(t)
	cfg := tb.cfg
	cfg.QueuesFile = writeFile(t, "queues.yaml", fmt.Sprintf("queues:\n  limited:\n    rate: 100/s\n    burst: %d\n", burst))
	c := client(t, cfg)
	workers := make([]*proc, 3)
	for i := range workers {
		workers[i] = startProc(t, fmt.Sprintf("worker %d", i+1), cfg, "worker", "--no-workflows", "--queues", "limited", "--concurrency", "20")
	}
	testenv.Eventually(t, time.Minute, func() error {
		ws, err := c.Workers(t.Context())
		if l, _ := c.Limits(t.Context(), "limited"); err != nil || len(ws) != 3 || l.Queue.Rate.N != 100 {
			return fmt.Errorf("%d workers up, limits %v (err %v)", len(ws), l, err)
		}
		return nil
	})
	const n = 1000
	reqs := make([]queue.Request, n)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "dominion.noop", Options: []queue.Option{queue.OnQueue("limited")}}
	}
	begin := time.Now()
	if _, _, err := c.EnqueueMany(t.Context(), reqs); err != nil {
		t.Fatal(err)
	}
	waitStats(t, c, "limited", 2*time.Minute, "1,000 jobs to complete", func(s queue.QueueStats) bool { return s.Completed == n })
	jobs, err := c.List(t.Context(), "limited", queue.StateCompleted, 0, n)
	if err != nil || len(jobs) != n {
		t.Fatalf("listed %d completed jobs, %v", len(jobs), err)
	}
	starts := make([]time.Time, n)
	var last time.Time
	for i, j := range jobs {
		starts[i] = j.StartedAt
		if j.FinishedAt.After(last) {
			last = j.FinishedAt
		}
		if j.Attempt != 1 {
			t.Errorf("job %s ran as attempt %d: a job held back by the rate counted an attempt", j.ID, j.Attempt)
		}
	}
	took := last.Sub(begin)
	worst := queuetest.MaxInWindow(starts, time.Second)
	t.Logf("1,000 jobs at 100/s (burst %d) over 3 workers: %s, worst 1-second window %d", burst, took, worst)
	if took < 9500*time.Millisecond || burst > 0 && took > 10500*time.Millisecond {
		t.Errorf("1,000 jobs at 100/s took %s, want 10 s ± 5 %%", took)
	}
	if worst > 100+burst {
		t.Errorf("%d jobs started in one second, limit 100 + burst %d", worst, burst)
	}
	for _, w := range workers {
		if code := w.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM", w.Name, code)
		}
	}
}

// counter is an HTTP job endpoint that counts the requests it holds at once and their peak;
// each request is held until release is closed or hold has passed.
type counter struct {
	mu        sync.Mutex
	now, peak int
	seen      int
	first     chan struct{} // closed at the first request
	hold      time.Duration
	release   chan struct{}
	last      time.Time // when the latest request came
}

func newCounter(hold time.Duration) *counter {
	return &counter{first: make(chan struct{}), hold: hold, release: make(chan struct{})}
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body) // read to the end: then a dropped connection ends r.Context()
	c.mu.Lock()
	c.now++
	c.seen++
	c.peak = max(c.peak, c.now)
	c.last = time.Now()
	if c.seen == 1 {
		close(c.first)
	}
	c.mu.Unlock()
	select {
	case <-time.After(c.hold):
	case <-c.release:
	case <-r.Context().Done():
	}
	c.mu.Lock()
	c.now--
	c.mu.Unlock()
	fmt.Fprint(w, `{}`)
}

func (c *counter) stats() (peak, seen int, last time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak, c.seen, c.last
}

// handlersFile makes the job type "count" served by srv.
func handlersFile(t *testing.T, srv *httptest.Server) string {
	return writeFile(t, "handlers.yaml", fmt.Sprintf("handlers:\n  - type: count\n    url: %s/count\n    timeout: 1m\n", srv.URL))
}

// TestConcurrencyLimitThreeWorkers: a queue limited to 3 running jobs, served by three
// `dominion worker` processes of concurrency 20, never has more than 3 of its jobs' requests
// in flight at the HTTP endpoint that serves them, and does reach 3.
func TestConcurrencyLimitThreeWorkers(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cnt := newCounter(20 * time.Millisecond)
		srv := httptest.NewServer(cnt)
		defer srv.Close()
		cfg := tb.cfg
		cfg.HandlersFile = handlersFile(t, srv)
		cfg.QueuesFile = writeFile(t, "queues.yaml", "queues:\n  limited:\n    concurrency: 3\n")
		c := client(t, cfg)
		const n = 150
		reqs := make([]queue.Request, n)
		for i := range reqs {
			reqs[i] = queue.Request{Type: "count", Options: []queue.Option{queue.OnQueue("limited")}}
		}
		if _, _, err := c.EnqueueMany(t.Context(), reqs); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			startProc(t, fmt.Sprintf("worker %d", i+1), cfg, "worker", "--no-workflows", "--queues", "limited", "--concurrency", "20")
		}
		waitStats(t, c, "limited", 2*time.Minute, "every job to complete", func(s queue.QueueStats) bool { return s.Completed == n })
		if peak, seen, _ := cnt.stats(); peak != 3 || seen != n {
			t.Errorf("the endpoint had at most %d requests at once (of %d), want 3 (the limit)", peak, seen)
		}
	})
}

// TestConcurrencySlotAfterSIGKILL: with a concurrency of 1, a worker SIGKILLed while running a
// job holds the slot until its lease runs out, and no longer: another worker process starts
// the next job within the lease.
func TestConcurrencySlotAfterSIGKILL(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		cnt := newCounter(time.Hour) // held until the worker dies
		srv := httptest.NewServer(cnt)
		defer srv.Close()
		cfg := tb.cfg
		cfg.Lease = 2 * time.Second
		cfg.HandlersFile = handlersFile(t, srv)
		cfg.QueuesFile = writeFile(t, "queues.yaml", "queues:\n  limited:\n    concurrency: 1\n")
		c := client(t, cfg)
		w1 := startProc(t, "worker 1", cfg, "worker", "--no-workflows", "--queues", "limited", "--concurrency", "20")
		for range 2 {
			if _, err := c.Enqueue(t.Context(), "count", nil, queue.OnQueue("limited")); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-cnt.first:
		case <-time.After(time.Minute):
			t.Fatal("no job started within a minute")
		}
		startProc(t, "worker 2", cfg, "worker", "--no-workflows", "--queues", "limited", "--concurrency", "20")
		testenv.Eventually(t, time.Minute, func() error {
			if ws, err := c.Workers(t.Context()); err != nil || len(ws) != 2 {
				return fmt.Errorf("%d workers up (err %v)", len(ws), err)
			}
			return nil
		})
		if _, seen, _ := cnt.stats(); seen != 1 {
			t.Fatalf("%d jobs started while one held the only slot", seen)
		}
		killed := time.Now()
		w1.signal(syscall.SIGKILL, 15*time.Second)
		testenv.Eventually(t, time.Minute, func() error {
			if _, seen, _ := cnt.stats(); seen < 2 {
				return fmt.Errorf("%d jobs started", seen)
			}
			return nil
		})
		_, _, second := cnt.stats()
		if wait := second.Sub(killed); wait > cfg.Lease+2*time.Second {
			t.Errorf("the next job started %s after the SIGKILL, want within the %s lease", wait, cfg.Lease)
		}
		if peak, _, _ := cnt.stats(); peak != 1 {
			t.Errorf("%d jobs ran at once, limit 1", peak)
		}
		close(cnt.release)
	})
}
