//go:build unix

package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// The lines a worker and a scheduler log when the queue goes away and when it is back.
const (
	workerDownLine    = "the queue is unreachable: the worker retries with backoff"
	workerBackLine    = "the queue answers again: the worker runs jobs"
	schedulerDownLine = "scheduler: the queue is unreachable"
	schedulerBackLine = "scheduler: the queue answers again"
	relayDownLine     = "outbox relay: cannot enqueue waiting workflows yet"
	relayBackLine     = "outbox relay: queue is back, outbox drained"
)

// TestServeLogsRedisOutageOnce stops the Redis of a running `dominion serve` (its worker's
// heartbeat beating every second, a schedule ticking every second) for several seconds,
// posts workflows meanwhile (202: into the outbox), then starts Redis again: the worker, the
// scheduler and the outbox relay each log one line when the queue goes away and one when it
// is back, not one per attempt or per workflow, and jobs, ticks and the workflows run after.
func TestServeLogsRedisOutageOnce(t *testing.T) {
	t.Parallel()
	tb := redisBroker(t)
	cfg := tb.cfg
	cfg.SchedulesFile = everySecond(t, "default")
	cfg.WorkflowsFile = writeFile(t, "workflows.yaml", fastWorkflows)
	srv := startProc(t, "serve", cfg, "serve", "--no-dashboard", "--addr", "127.0.0.1:0")
	base := "http://" + listenAddr(t, srv)
	c := client(t, cfg)
	waitStats(t, c, "default", time.Minute, "no tick ran before the outage",
		func(s queue.QueueStats) bool { return s.Completed >= 1 })

	tb.redis.Stop()
	down := time.Now()
	// Redis stays down until both have noticed, and for at least 4 s: several heartbeats,
	// ticks and reconnection attempts.
	testenv.Until(t, time.Minute, "serve did not log the outage of the worker and of the scheduler", func() bool {
		out := srv.Output()
		return strings.Contains(out, workerDownLine) && strings.Contains(out, schedulerDownLine) &&
			time.Since(down) >= 4*time.Second
	}, srv.Output)
	// Workflows posted meanwhile are accepted into the outbox.
	hc := apiClient(t)
	var workflows []string
	for i := range 5 {
		resp := postChat(t, hc, base)
		if resp.code != http.StatusAccepted {
			t.Fatalf("POST /api/chat %d with Redis down: %d %s, want 202", i, resp.code, resp.body)
		}
		workflows = append(workflows, resp.workflowID)
	}
	if err := tb.redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Redis was down for %s", time.Since(down).Round(time.Millisecond))

	// Redis came back empty (no AOF): the jobs enqueued now, and the ticks, run.
	const n = 20
	ids := strings.Fields(ok(t, cfg, "enqueue", "dominion.noop", "--count", strconv.Itoa(n), "--queue", "default"))
	waitStats(t, c, "default", 2*time.Minute, "the jobs and ticks did not run after Redis came back",
		func(s queue.QueueStats) bool { return s.Completed > n })
	for _, id := range ids {
		if j, err := c.Get(t.Context(), id); err != nil || j.State != queue.StateCompleted {
			t.Errorf("job %s after the outage: %+v, %v; want completed", id, j, err)
		}
	}
	awaitCompleted(t, hc, base, workflows)
	lines := []string{workerDownLine, workerBackLine, schedulerDownLine, schedulerBackLine, relayDownLine, relayBackLine}
	testenv.Until(t, time.Minute, "serve did not log the queue's return to the worker, the scheduler and the relay", func() bool {
		return containsAll(srv.Output(), lines)
	}, srv.Output)

	out := srv.Output()
	for _, line := range lines {
		if k := strings.Count(out, line); k != 1 {
			t.Errorf("serve logged %q %d times, want once", line, k)
		}
	}
	// Nothing else repeats per attempt or per workflow: besides those three, at most a line
	// from the workflow reconciler and one of a tick enqueued just before the outage whose
	// record failed.
	if k := strings.Count(out, "level=WARN"); k > 5 {
		t.Errorf("serve logged %d warnings over one outage, want at most 5", k)
	}
	if t.Failed() {
		t.Logf("serve's log:\n%s", out)
	}
}

// awaitCompleted waits until every workflow of ids is completed, as GET /api/workflows/{id}
// says.
func awaitCompleted(t *testing.T, hc *http.Client, base string, ids []string) {
	t.Helper()
	for _, id := range ids {
		var last string
		eventually(t, time.Minute, func() bool {
			code, body := httpDo(t, hc, "GET", base+"/api/workflows/"+id, "")
			last = body
			return code == http.StatusOK && strings.Contains(body, `"status":"completed"`)
		}, func() string { return "workflow " + id + " not completed: " + last })
	}
}
