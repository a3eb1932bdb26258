package queue

import (
	"context"
	"fmt"
	"time"
)

// The history of the queues' totals that workers record and dashboards show: one Sample per
// HistorySlot, the last HistoryKeep kept.
const (
	HistorySlot = 10 * time.Second
	HistoryKeep = time.Hour
)

// Sample is the totals of every queue at one time: the jobs in each waiting or running state
// and the dead ones, and the processed and failed counters (which only grow, so that a rate
// is the difference between two samples).
type Sample struct {
	At                     time.Time
	Pending, Active        int64
	Scheduled, Retry, Dead int64
	Processed, Failed      int64
}

// HistoryStore is the part of a broker that keeps the recent history of the queues'
// totals, bounded, so that a dashboard opened now shows the last hour at once. Both brokers
// of this module implement it; the conformance suite (queuetest) covers it.
type HistoryStore interface {
	// RecordSample stores s as the sample of its slot (s.At truncated to slot, which is
	// positive) unless that slot has one already (another worker recorded it first), in one
	// atomic step that also drops the samples older than keep before s.At. It reports
	// whether s was stored.
	RecordSample(ctx context.Context, s Sample, slot, keep time.Duration) (bool, error)
	// Samples returns the stored samples taken at or after since, oldest first, each with
	// At its slot's start.
	Samples(ctx context.Context, since time.Time) ([]Sample, error)
}

// SampleOf sums the statistics of every queue into the sample taken at at.
func SampleOf(stats []QueueStats, at time.Time) Sample {
	s := Sample{At: at}
	for _, q := range stats {
		s.Pending += q.Pending
		s.Active += q.Active
		s.Scheduled += q.Scheduled
		s.Retry += q.Retry
		s.Dead += q.Dead
		s.Processed += q.Processed
		s.Failed += q.Failed
	}
	return s
}

// History returns the recorded samples of the queues' totals taken at or after since,
// oldest first (at most one per HistorySlot, for the last HistoryKeep).
func (c *Client) History(ctx context.Context, since time.Time) ([]Sample, error) {
	ss, err := c.broker.Samples(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("queue history: %w", err)
	}
	return ss, nil
}

// recordHistory records the queues' totals as the sample of the current slot, once per slot
// per worker (the broker keeps the first of all workers'). It runs on the heartbeat's tick,
// so the history needs no loop of its own; a failure is logged at debug level and the next
// slot tries again.
func (w *Worker) recordHistory(ctx context.Context, now time.Time) {
	slot := w.cfg.HistorySlot
	if slot <= 0 || now.Truncate(slot).Equal(w.historySlot) {
		return
	}
	w.historySlot = now.Truncate(slot)
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Lease/2)
	defer cancel()
	stats, err := w.broker.Queues(ctx)
	if err == nil {
		_, err = w.broker.RecordSample(ctx, SampleOf(stats, now), slot, HistoryKeep)
	}
	if err != nil {
		w.log.Debug("record the queue history", "err", err)
	}
}
