package jobtest

import (
	"context"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// limitState is what the broker keeps of a limited queue: its limits and the rate limiter's
// state, the queue's and each key's.
type limitState struct {
	limits queue.QueueLimits
	tat    queue.RateState
	keyTAT map[string]queue.RateState
}

// SetLimits stores the queue's limits (the zero value removes them), creating the queue.
func (b *Broker) SetLimits(ctx context.Context, q string, l queue.QueueLimits) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	info := b.queue(q)
	if l.IsZero() {
		info.limit = nil
	} else if info.limit == nil {
		info.limit = &limitState{limits: l, keyTAT: map[string]queue.RateState{}}
	} else {
		info.limit.limits = l
	}
	b.broadcast()
	return nil
}

// Limits returns the queue's limits (zero when none).
func (b *Broker) Limits(ctx context.Context, q string) (queue.QueueLimits, error) {
	if err := b.lock(); err != nil {
		return queue.QueueLimits{}, err
	}
	defer b.mu.Unlock()
	if info := b.queues[q]; info != nil && info.limit != nil {
		return info.limit.limits, nil
	}
	return queue.QueueLimits{}, nil
}

// takeLimited leases up to n pending jobs of the limited queue name, skipping those held back
// by their key's limit. It returns the jobs and when a job held back by a rate may start
// (zero: none).
func (b *Broker) takeLimited(name string, q *queueInfo, req queue.FetchRequest, now time.Time, n int) ([]*queue.Job, time.Time) {
	l := q.limit
	g := queue.Gate{Limits: l.limits, Now: now, TAT: l.tat, KeyTAT: l.keyTAT, KeyRunning: map[string]int{}}
	for _, e := range b.jobs {
		if e.job.Queue == name && e.job.State == queue.StateActive {
			g.Running++
			g.KeyRunning[queue.CountKey(e.job.Type, e.job.RateKey)]++
		}
	}
	var jobs []*queue.Job
	rest := q.pending[:0:0]
	for i, e := range q.pending {
		if len(jobs) == n {
			rest = append(rest, q.pending[i:]...)
			break
		}
		if b.expired(e, now) {
			continue
		}
		ok, stop := g.Admit(e.job.Type, e.job.RateKey)
		if stop {
			rest = append(rest, q.pending[i:]...)
			break
		}
		if !ok {
			rest = append(rest, e)
			continue
		}
		jobs = append(jobs, b.lease(e, req, now))
	}
	q.pending, l.tat = rest, g.TAT
	for k, st := range l.keyTAT {
		if !st.Until.After(now) {
			delete(l.keyTAT, k) // as good as new
		}
	}
	return jobs, g.Slot
}
