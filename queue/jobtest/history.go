package jobtest

import (
	"context"
	"slices"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// RecordSample stores s as the sample of its slot unless the slot has one, and drops the
// samples older than keep.
func (b *Broker) RecordSample(ctx context.Context, s queue.Sample, slot, keep time.Duration) (bool, error) {
	if err := b.lock(); err != nil {
		return false, err
	}
	defer b.mu.Unlock()
	cut := s.At.Add(-keep)
	i := 0
	for i < len(b.history) && b.history[i].At.Before(cut) {
		i++
	}
	b.history = b.history[i:]
	s.At = s.At.Truncate(slot)
	for _, h := range b.history {
		if h.At.Equal(s.At) {
			return false, nil
		}
	}
	b.history = append(b.history, s)
	slices.SortFunc(b.history, func(x, y queue.Sample) int { return x.At.Compare(y.At) })
	return true, nil
}

// Samples returns the stored samples of slots starting at or after since, oldest first.
func (b *Broker) Samples(ctx context.Context, since time.Time) ([]queue.Sample, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	var out []queue.Sample
	for _, h := range b.history {
		if !h.At.Before(since) {
			out = append(out, h)
		}
	}
	return out, nil
}
