package jobtest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// WaitIdle waits until no job is runnable: none pending on a queue that is not paused, none
// active, and no delayed or retry job due. With a worker running on the broker, every job
// enqueued before the call has then been run (or is waiting for a later time: a delayed job,
// or a retry whose backoff has not passed; see Advance). It waits on the broker's own
// changes, without polling, and returns ctx's error, with the jobs still runnable, when ctx
// is done first.
func (b *Broker) WaitIdle(ctx context.Context) error {
	for {
		if err := b.lock(); err != nil {
			return err
		}
		now := time.Now()
		if b.housekeep(now) {
			b.broadcast()
		}
		busy := b.busy(5)
		changed, next := b.changed, b.nextDue
		b.mu.Unlock()
		if len(busy) == 0 {
			return nil
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), time.Millisecond)
		}
		if err := waitChange(ctx, changed, wait); err != nil {
			return fmt.Errorf("jobtest: wait until idle: %w; still runnable: %s", err, strings.Join(busy, "; "))
		}
	}
}

// busy describes up to n jobs that keep the broker from being idle.
func (b *Broker) busy(n int) []string {
	var out []string
	for _, e := range b.jobs {
		j := &e.job
		runnable := j.State == queue.StateActive ||
			j.State == queue.StatePending && !b.paused(j.Queue)
		if !runnable {
			continue
		}
		if len(out) == n {
			out = append(out, "…")
			break
		}
		out = append(out, fmt.Sprintf("job %s (%s) %s on queue %s", j.ID, j.Type, j.State, j.Queue))
	}
	return out
}

// Advance makes the broker act as if d more time had passed for delayed jobs and retries:
// those whose run-at falls within it become runnable at once. Leases, result TTLs and unique
// keys keep the real clock. Advance only moves forward; a negative d is ignored.
func (b *Broker) Advance(d time.Duration) {
	if d <= 0 || b.lock() != nil {
		return
	}
	defer b.mu.Unlock()
	b.offset += d
	b.nextDue = time.Now()
	b.broadcast()
}

func (b *Broker) paused(name string) bool {
	q := b.queues[name]
	return q != nil && q.paused
}
