package jobtest

import (
	"context"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// WaitTimeout bounds WaitState.
const WaitTimeout = 20 * time.Second

// WaitState waits until the job with that id is in state want and returns it, on any broker
// (a test against the real one a worker of StartWorker serves); it fails the test, with the
// job's last state and errors, when that takes longer than WaitTimeout. It polls: the
// brokers have no event to wait on.
func WaitState(t testing.TB, c *queue.Client, id string, want queue.State) *queue.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), WaitTimeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		job, err := c.Get(ctx, id)
		if err == nil && job.State == want {
			return job
		}
		select {
		case <-ctx.Done():
			if err != nil {
				t.Fatalf("jobtest: job %s never reached %s: %v", id, want, err)
			}
			t.Fatalf("jobtest: job %s is %s after %s, want %s (errors %v)", id, job.State, WaitTimeout, want, job.Errors)
			return nil
		case <-tick.C:
		}
	}
}
