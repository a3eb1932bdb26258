package sqlitebroker

import (
	"context"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// jobState reads a job's state inside a write transaction; ErrJobNotFound when there is none.
func jobState(tx *wtx, id string) (queue.State, error) {
	var st string
	found, err := tx.queryRow("job-state", []any{id}, &st)
	if err != nil {
		return "", err
	}
	if !found {
		return "", queue.ErrJobNotFound
	}
	return queue.State(st), nil
}

// Cancel cancels a pending, scheduled, retry or waiting job at once and flags an active one for its
// worker (Heartbeat reports it, Finish records canceled). It returns the job's state after
// the call.
func (b *Broker) Cancel(ctx context.Context, id string) (queue.State, error) {
	var after queue.State
	err := b.write(ctx, func(tx *wtx) error {
		st, err := jobState(tx, id)
		if err != nil {
			return err
		}
		switch st {
		case queue.StatePending, queue.StateScheduled, queue.StateRetry, queue.StateWaiting:
			after = queue.StateCanceled
			_, err = tx.exec("cancel-now", id, time.Now().UnixNano())
		case queue.StateActive:
			after = queue.StateActive
			_, err = tx.exec("cancel-request", id)
		default:
			return fmt.Errorf("%w: job is %s", queue.ErrInvalidState, st)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlitebroker: cancel job %s: %w", id, err)
	}
	return after, nil
}

// CancelAll cancels every job of the queue in state st (pending, scheduled, retry or waiting) in one
// transaction, as Cancel does, and returns how many. The counts triggers move them from st to
// canceled and the unique-key trigger releases their keys in the same transaction.
func (b *Broker) CancelAll(ctx context.Context, q string, st queue.State) (int, error) {
	switch st {
	case queue.StatePending, queue.StateScheduled, queue.StateRetry, queue.StateWaiting:
	default:
		return 0, fmt.Errorf("sqlitebroker: cancel %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	var n int64
	err := b.write(ctx, func(tx *wtx) error {
		var err error
		n, err = tx.exec("cancel-all", q, string(st), time.Now().UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitebroker: cancel %s jobs of %s: %w", st, q, err)
	}
	return int(n), nil
}

// retryable are the states Retry and RetryAll move back to pending.
func retryable(st queue.State) bool {
	switch st {
	case queue.StateDead, queue.StateCanceled, queue.StateRetry, queue.StateScheduled:
		return true
	}
	return false
}

// Retry moves a dead, canceled, retry or scheduled job back to the end of its queue as
// pending, with its attempt count reset (its error history is kept).
func (b *Broker) Retry(ctx context.Context, id string) error {
	err := b.write(ctx, func(tx *wtx) error {
		st, err := jobState(tx, id)
		if err != nil {
			return err
		}
		if !retryable(st) {
			return fmt.Errorf("%w: job is %s", queue.ErrInvalidState, st)
		}
		_, err = tx.exec("retry-job", id, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: retry job %s: %w", id, err)
	}
	b.wake.broadcast()
	return nil
}

// RetryAll moves every job of the queue in state st (dead, canceled, retry or scheduled) back
// to pending and returns how many.
func (b *Broker) RetryAll(ctx context.Context, q string, st queue.State) (int, error) {
	if !retryable(st) {
		return 0, fmt.Errorf("sqlitebroker: retry %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	var n int64
	err := b.write(ctx, func(tx *wtx) error {
		var err error
		n, err = tx.exec("retry-all", q, string(st), time.Now().UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitebroker: retry %s jobs of %s: %w", st, q, err)
	}
	if n > 0 {
		b.wake.broadcast()
	}
	return int(n), nil
}

// Delete removes a job that is not active.
func (b *Broker) Delete(ctx context.Context, id string) error {
	err := b.write(ctx, func(tx *wtx) error {
		st, err := jobState(tx, id)
		if err != nil {
			return err
		}
		if st == queue.StateActive {
			return fmt.Errorf("%w: job is active", queue.ErrInvalidState)
		}
		_, err = tx.exec("delete-job", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: delete job %s: %w", id, err)
	}
	return nil
}

// DeleteAll removes every job of the queue in state st (any state but active) and returns how
// many.
func (b *Broker) DeleteAll(ctx context.Context, q string, st queue.State) (int, error) {
	if _, err := queue.ParseState(string(st)); err != nil || st == queue.StateActive {
		return 0, fmt.Errorf("sqlitebroker: delete %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	var n int64
	err := b.write(ctx, func(tx *wtx) error {
		var err error
		n, err = tx.exec("delete-all", q, string(st))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitebroker: delete %s jobs of %s: %w", st, q, err)
	}
	return int(n), nil
}

// Pause stops Fetch from taking the queue's jobs (in every process using the file).
// ErrQueueNotFound for a queue that has never had a job.
func (b *Broker) Pause(ctx context.Context, q string) error {
	return b.setPaused(ctx, q, true)
}

// Resume lets Fetch take the queue's jobs again.
func (b *Broker) Resume(ctx context.Context, q string) error {
	if err := b.setPaused(ctx, q, false); err != nil {
		return err
	}
	b.wake.broadcast()
	return nil
}

// setPaused sets the pause flag of q; ErrQueueNotFound for a queue that has never had a job
// (a misspelled name is refused rather than created).
func (b *Broker) setPaused(ctx context.Context, q string, paused bool) error {
	err := b.write(ctx, func(tx *wtx) error {
		n, err := tx.exec("set-paused", q, paused)
		if err == nil && n == 0 {
			return queue.ErrQueueNotFound
		}
		return err
	})
	if err != nil {
		verb := "resume"
		if paused {
			verb = "pause"
		}
		return fmt.Errorf("sqlitebroker: %s queue %s: %w", verb, q, err)
	}
	return nil
}

// RemoveQueue deletes the queue and all it has: jobs in every state (active ones too: their
// outcomes will be ignored), counters, unique keys and pause flag. ErrQueueNotFound when the
// queue is unknown.
func (b *Broker) RemoveQueue(ctx context.Context, q string) error {
	err := b.write(ctx, func(tx *wtx) error {
		found, err := tx.queryRow("queue-exists", []any{q}, new(int))
		if err != nil {
			return err
		}
		if !found {
			return queue.ErrQueueNotFound
		}
		for _, name := range []string{"remove-queue-jobs", "remove-queue-uniques", "remove-queue-counts", "remove-queue-rate-keys", "remove-queue"} {
			if _, err := tx.exec(name, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: remove queue %s: %w", q, err)
	}
	return nil
}
