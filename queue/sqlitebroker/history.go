package sqlitebroker

import (
	"context"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// RecordSample stores s as the sample of its slot unless the slot has one, and drops the
// samples older than keep, in one transaction.
func (b *Broker) RecordSample(ctx context.Context, s queue.Sample, slot, keep time.Duration) (bool, error) {
	var stored bool
	err := b.write(ctx, func(tx *wtx) error {
		if _, err := tx.exec("trim-history", s.At.Add(-keep).UnixNano()); err != nil {
			return err
		}
		n, err := tx.exec("record-sample", s.At.Truncate(slot).UnixNano(),
			s.Pending, s.Active, s.Scheduled, s.Retry, s.Dead, s.Processed, s.Failed)
		stored = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlitebroker: record the queue history in %s: %w", b.path, err)
	}
	return stored, nil
}

// Samples returns the stored samples of slots starting at or after since, oldest first.
func (b *Broker) Samples(ctx context.Context, since time.Time) ([]queue.Sample, error) {
	rows, err := b.rstmt["list-samples"].QueryContext(ctx, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: read the queue history in %s: %w", b.path, err)
	}
	var out []queue.Sample
	for rows.Next() {
		var s queue.Sample
		var at int64
		if err := rows.Scan(&at, &s.Pending, &s.Active, &s.Scheduled, &s.Retry, &s.Dead, &s.Processed, &s.Failed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlitebroker: read the queue history in %s: %w", b.path, err)
		}
		s.At = fromNanos(at)
		out = append(out, s)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("sqlitebroker: read the queue history in %s: %w", b.path, err)
	}
	return out, nil
}
