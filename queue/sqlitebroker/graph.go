package sqlitebroker

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// insertGraphJob stores one job with parents or a batch (schema_011.sql): waiting for the
// parents not finished, canceled at once by one that failed, or pending (scheduled) when all
// have completed. It sets j.State when the job is stored waiting or canceled. Its error is
// the job's own (duplicate, unknown parent or batch, sealed batch), the returned err a
// failure of the transaction.
func insertGraphJob(tx *wtx, j *queue.Job, now int64) (jobErr, err error) {
	if found, err := tx.queryRow("job-exists", []any{j.ID}, new(int)); err != nil || found {
		return errIf(found, queue.ErrDuplicateJob), err
	}
	states, jobErr, err := parentStates(tx, j)
	if jobErr != nil || err != nil {
		return jobErr, err
	}
	if jobErr, err := checkBatchOpen(tx, j); jobErr != nil || err != nil {
		return jobErr, err
	}
	state, waits, history := graphState(j, states, now)
	if j.UniqueKey != "" && state != queue.StateCanceled {
		if jobErr, err := holdUnique(tx, j, now); jobErr != nil || err != nil {
			return jobErr, err
		}
	}
	ord, due := graphPosition(j, state, now)
	var parents any
	if len(j.DependsOn) > 0 {
		b, _ := json.Marshal(j.DependsOn) // strings always marshal
		parents = string(b)
	}
	_, err = tx.exec("insert-graph-job",
		j.ID, j.Queue, j.Type, nullBytes(j.Payload), string(state), ord, due,
		j.MaxRetries, int64(j.Timeout), nanos(j.RunAt), nullString(j.UniqueKey),
		int64(j.UniqueFor), int64(j.ResultTTL), nanos(j.EnqueuedAt), metadataJSON(j.Metadata),
		j.Priority, nanos(j.Deadline), nullString(j.RateKey), history, parents,
		j.RunOnParentFailure, waits, nullString(j.Batch))
	if err != nil || waits == 0 {
		j.State = state
		return nil, err
	}
	if err := linkParents(tx, j, states); err != nil {
		return nil, err
	}
	j.State = state
	return nil, nil
}

// parentStates returns the states of j's parents, in the order of j.DependsOn; jobErr says
// which one does not exist.
func parentStates(tx *wtx, j *queue.Job) (states []queue.State, jobErr, err error) {
	states = make([]queue.State, len(j.DependsOn))
	for i, p := range j.DependsOn {
		found, err := tx.queryRow("parent-state", []any{p}, &states[i])
		if err != nil || !found {
			return nil, errIf(!found, fmt.Errorf("%w: %s", queue.ErrParentNotFound, p)), err
		}
	}
	return states, nil, nil
}

// checkBatchOpen checks that j's batch, if it has one, exists and is not sealed; jobErr says
// which is not so.
func checkBatchOpen(tx *wtx, j *queue.Job) (jobErr, err error) {
	if j.Batch == "" {
		return nil, nil
	}
	var sealed bool
	found, err := tx.queryRow("batch-sealed", []any{j.Batch}, &sealed)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return fmt.Errorf("%w: %s", queue.ErrBatchNotFound, j.Batch), nil
	case sealed:
		return fmt.Errorf("%w: %s", queue.ErrBatchSealed, j.Batch), nil
	}
	return nil, nil
}

// graphPosition is the order and due time of a new job stored in state: enqueuePosition's when
// the job keeps the state it came with, else now and no due time, or for a canceled job the
// time its result expires.
func graphPosition(j *queue.Job, state queue.State, now int64) (ord int64, due any) {
	if state == j.State {
		return enqueuePosition(j, now)
	}
	if state == queue.StateCanceled {
		return now, now + int64(j.ResultTTL)
	}
	return now, nil
}

// linkParents records j as a child of each of its parents not finished yet (in states), so
// that their outcomes release it.
func linkParents(tx *wtx, j *queue.Job, states []queue.State) error {
	for i, p := range j.DependsOn {
		if final(states[i]) {
			continue
		}
		if _, err := tx.exec("add-child", p, j.ID); err != nil {
			return err
		}
		if _, err := tx.exec("mark-parent", p); err != nil {
			return err
		}
	}
	return nil
}

// graphState is the state of a new job whose parents are in states: canceled (with its error
// history as JSON) when one failed and it does not run anyway, waiting for those not finished,
// or the state it came with.
func graphState(j *queue.Job, states []queue.State, now int64) (queue.State, int, any) {
	waits := 0
	for i, st := range states {
		switch {
		case st == queue.StateCompleted:
		case final(st) && !j.RunOnParentFailure:
			e := []queue.AttemptError{{Error: queue.ParentFailedError(j.DependsOn[i], string(st)), At: time.Unix(0, now).UTC()}}
			b, _ := json.Marshal(e) // plain fields always marshal
			return queue.StateCanceled, 0, string(b)
		case final(st):
		default:
			waits++
		}
	}
	if waits > 0 {
		return queue.StateWaiting, waits, nil
	}
	return j.State, 0, nil
}

// final reports whether st is a state a job does not leave by itself.
func final(st queue.State) bool {
	return st == queue.StateCompleted || st == queue.StateDead || st == queue.StateCanceled
}

// OpenBatch stores a new open batch with its callbacks (and forgets the batches whose keep
// time after finishing has passed).
func (b *Broker) OpenBatch(ctx context.Context, spec queue.BatchSpec) error {
	onComplete, err := callbackRow(spec.OnComplete)
	if err != nil {
		return fmt.Errorf("sqlitebroker: open batch %s: %w", spec.ID, err)
	}
	onSuccess, err := callbackRow(spec.OnSuccess)
	if err != nil {
		return fmt.Errorf("sqlitebroker: open batch %s: %w", spec.ID, err)
	}
	err = b.write(ctx, func(tx *wtx) error {
		if _, err := tx.exec("trim-batches", time.Now().UnixNano()); err != nil {
			return err
		}
		for _, j := range []*queue.Job{spec.OnComplete, spec.OnSuccess} {
			if j != nil {
				if _, err := tx.exec("ensure-queue", j.Queue); err != nil {
					return err
				}
			}
		}
		n, err := tx.exec("open-batch", spec.ID, onComplete, onSuccess, nanos(spec.CreatedAt), int64(spec.Keep))
		if err == nil && n == 0 {
			err = queue.ErrDuplicateBatch
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: open batch %s in %s: %w", spec.ID, b.path, err)
	}
	return nil
}

// callbackRow is a callback job as an insert-jobs row (JSON), NULL for none.
func callbackRow(j *queue.Job) (any, error) {
	if j == nil {
		return nil, nil
	}
	var payload any
	if len(j.Payload) > 0 {
		payload = hex.EncodeToString(j.Payload)
	}
	row := [17]any{j.ID, j.Queue, j.Type, payload, string(queue.StatePending), 0, nil, j.MaxRetries,
		int64(j.Timeout), 0, int64(j.UniqueFor), int64(j.ResultTTL), nanos(j.EnqueuedAt),
		metadataJSON(j.Metadata), j.Priority, 0, nullString(j.RateKey)}
	b, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("callback %s: %w", j.ID, err)
	}
	return string(b), nil
}

// SealBatch closes the batch to new jobs; a trigger enqueues its callbacks if every job of
// it has finished.
func (b *Broker) SealBatch(ctx context.Context, id string) error {
	err := b.write(ctx, func(tx *wtx) error {
		n, err := tx.exec("seal-batch", id)
		if err == nil && n == 0 {
			err = queue.ErrBatchNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: seal batch %s in %s: %w", id, b.path, err)
	}
	b.wake.broadcast()
	return nil
}

// Batch returns the batch's status.
func (b *Broker) Batch(ctx context.Context, id string) (queue.BatchStatus, error) {
	s := queue.BatchStatus{ID: id}
	var onComplete, onSuccess sql.NullString
	var created, finished int64
	err := b.rstmt["get-batch"].QueryRowContext(ctx, id).Scan(&s.Sealed, &s.Total, &s.Completed,
		&s.Dead, &s.Canceled, &onComplete, &onSuccess, &created, &finished)
	if err == sql.ErrNoRows {
		return s, fmt.Errorf("sqlitebroker: batch %s: %w", id, queue.ErrBatchNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("sqlitebroker: batch %s in %s: %w", id, b.path, err)
	}
	s.OnComplete, s.OnSuccess = onComplete.String, onSuccess.String
	s.CreatedAt, s.FinishedAt = fromNanos(created), fromNanos(finished)
	s.Pending = s.Total - s.Completed - s.Dead - s.Canceled
	return s, nil
}
