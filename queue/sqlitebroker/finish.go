package sqlitebroker

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Finish records the outcomes of attempts in one transaction, with the queues' processed and
// failed counters. An outcome whose job is no longer active under that worker and attempt is
// ignored; a job whose cancellation was requested becomes canceled whatever its outcome.
func (b *Broker) Finish(ctx context.Context, outcomes []queue.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	batch, err := finishBatch(outcomes)
	if err != nil {
		return fmt.Errorf("sqlitebroker: finish: %w", err)
	}
	failed := make(map[string]bool, len(outcomes))
	snoozed := make(map[string]bool)
	for _, o := range outcomes {
		failed[o.JobID] = o.State != queue.StateCompleted
		if o.Snooze {
			snoozed[o.JobID] = true
		}
	}
	retried, graph := false, false
	err = b.write(ctx, func(tx *wtx) error {
		rows, err := tx.query("finish", batch)
		if err != nil {
			return err
		}
		defer rows.Close()
		tally, completed := tallies{}, moves{}
		for rows.Next() {
			var id, q, state string
			var g bool // children or a batch: jobs may have become pending
			if err := rows.Scan(&id, &q, &state, &g); err != nil {
				return err
			}
			retried = retried || state == string(queue.StateRetry)
			graph = graph || g
			if !snoozed[id] {
				tally.add(q, failed[id], state == string(queue.StateDead))
			}
			if state == string(queue.StateCompleted) { // the one move the triggers leave to us
				completed.move(q, string(queue.StateActive), state, 1)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := completed.apply(tx); err != nil {
			return err
		}
		return tally.apply(tx, b.opts.MaxDead)
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: finish %d jobs in %s: %w", len(outcomes), b.path, err)
	}
	if retried || graph {
		// A waiting Fetch may now have an earlier due time to wait for, or new pending jobs.
		b.wake.broadcast()
	}
	return nil
}

// finishBatch encodes outcomes as the JSON array the finish query reads.
func finishBatch(outcomes []queue.Outcome) (string, error) {
	rows := make([][9]any, len(outcomes))
	for i, o := range outcomes {
		switch o.State {
		case queue.StateCompleted, queue.StateRetry, queue.StateDead:
		default:
			return "", fmt.Errorf("job %s: outcome state %q (want completed, retry or dead)", o.JobID, o.State)
		}
		finished := o.FinishedAt
		if finished.IsZero() {
			finished = time.Now()
		}
		var result, entry any
		if len(o.Result) > 0 {
			result = hex.EncodeToString(o.Result)
		}
		snooze := 0
		if o.Snooze && o.State == queue.StateRetry {
			snooze = 1
		}
		if o.Error != nil && snooze == 0 {
			e := *o.Error
			if e.Attempt == 0 {
				e.Attempt = o.Attempt
			}
			if e.At.IsZero() {
				e.At = finished
			}
			data, err := json.Marshal(e)
			if err != nil {
				return "", fmt.Errorf("job %s: %w", o.JobID, err)
			}
			entry = string(data)
		}
		rows[i] = [9]any{o.JobID, o.WorkerID, o.Attempt, string(o.State), nanos(finished),
			nanos(o.RetryAt), result, entry, snooze}
	}
	data, err := json.Marshal(rows)
	return string(data), err
}

// Requeue puts a stopping worker's active jobs back in front of their queues as pending and
// gives back the attempt they had started. A job whose cancellation was requested becomes
// canceled instead.
func (b *Broker) Requeue(ctx context.Context, workerID string, jobs []*queue.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	err := b.write(ctx, func(tx *wtx) error {
		now := time.Now().UnixNano()
		// Last first: each goes in front, so the first ends up at the very front.
		for i := len(jobs) - 1; i >= 0; i-- {
			j := jobs[i]
			var front int64
			if _, err := tx.queryRow("front-of-queue", []any{j.Queue, now}, &front); err != nil {
				return err
			}
			var q string
			if _, err := tx.queryRow("requeue", []any{j.ID, workerID, front, now, j.Attempt}, &q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: requeue %d jobs of worker %s in %s: %w", len(jobs), workerID, b.path, err)
	}
	b.wake.broadcast()
	return nil
}

// Heartbeat records the worker as alive until twice the lease from now, extends the leases of
// its jobs and returns those whose cancellation was requested.
func (b *Broker) Heartbeat(ctx context.Context, w queue.WorkerInfo, lease time.Duration) ([]string, error) {
	if lease <= 0 {
		lease = defaultLease
	}
	now := time.Now()
	w.Heartbeat = now.UTC()
	info, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: heartbeat of worker %s: %w", w.ID, err)
	}
	ids, err := json.Marshal(w.Jobs)
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: heartbeat of worker %s: %w", w.ID, err)
	}
	var cancel []string
	err = b.write(ctx, func(tx *wtx) error {
		n := now.UnixNano()
		if _, err := tx.exec("delete-stale-workers", n); err != nil {
			return err
		}
		if err := switchOffIdle(tx, now); err != nil {
			return err
		}
		if _, err := tx.exec("upsert-worker", w.ID, string(info), n, now.Add(2*lease).UnixNano()); err != nil {
			return err
		}
		if len(w.Jobs) == 0 {
			return nil
		}
		rows, err := tx.query("extend-leases", now.Add(lease).UnixNano(), string(ids), w.ID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var canceled bool
			if err := rows.Scan(&id, &canceled); err != nil {
				return err
			}
			if canceled {
				cancel = append(cancel, id)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: heartbeat of worker %s in %s: %w", w.ID, b.path, err)
	}
	return cancel, nil
}

// RemoveWorker deletes the worker's record.
func (b *Broker) RemoveWorker(ctx context.Context, workerID string) error {
	err := b.write(ctx, func(tx *wtx) error {
		_, err := tx.exec("delete-worker", workerID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: remove worker %s in %s: %w", workerID, b.path, err)
	}
	return nil
}
