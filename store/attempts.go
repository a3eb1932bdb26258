package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// How an attempt ends, and its metric: FinishWorkflow (completed or failed: the workflow
// ends), RecordRetriedAttempt (retried: the workflow stays running) and CancelWorkflow
// (canceled, when an attempt was running).

const finishSQL = `UPDATE workflows SET status = $2, error = $3, finished_at = $4, updated_at = $4
	WHERE id = $1 AND status = 'running' AND attempts = $5
	RETURNING ` + workflowColumns

func (s *sqlStore) FinishWorkflow(ctx context.Context, id string, r Result) (Workflow, error) {
	const op = "finish"
	if err := checkResult(r, StatusCompleted, StatusFailed); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	errMsg := r.Error
	if r.Status == StatusCompleted {
		errMsg = ""
	}
	at := s.clock()
	var w Workflow
	err := s.write(ctx, func(tx DBTX) error {
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, finishSQL, id, string(r.Status), errMsg, s.d.ts(at), r.Attempt))
		if errors.Is(err, sql.ErrNoRows) {
			return attemptConflict(ctx, tx, id, op, r.Attempt)
		}
		if err != nil {
			return err
		}
		if err := s.insertMetric(ctx, tx, id, r, at); err != nil {
			return err
		}
		if err := loadSteps(ctx, tx, &w); err != nil {
			return err
		}
		return loadMetrics(ctx, tx, &w)
	})
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}

const retriedSQL = `UPDATE workflows SET error = $2, updated_at = $3
	WHERE id = $1 AND status = 'running' AND attempts = $4`

func (s *sqlStore) RecordRetriedAttempt(ctx context.Context, id string, r Result) error {
	const op = "record retried attempt of"
	if err := checkResult(r, StatusRetried); err != nil {
		return s.fail(op, id, err)
	}
	at := s.clock()
	err := s.write(ctx, func(tx DBTX) error {
		res, err := tx.ExecContext(ctx, retriedSQL, id, r.Error, s.d.ts(at), r.Attempt)
		if err != nil {
			return err
		}
		switch n, err := res.RowsAffected(); {
		case err != nil:
			return err
		case n == 0:
			return attemptConflict(ctx, tx, id, op, r.Attempt)
		}
		return s.insertMetric(ctx, tx, id, Result{Attempt: r.Attempt, Status: StatusRetried, Duration: r.Duration}, at)
	})
	if err != nil {
		return s.fail(op, id, err)
	}
	return nil
}

const (
	cancelRunningSQL = `UPDATE workflows SET status = 'canceled', finished_at = $2, updated_at = $2
	WHERE id = $1 AND status = 'running'
	RETURNING attempts, started_at`
	cancelQueuedSQL = `UPDATE workflows SET status = 'canceled', finished_at = $2, updated_at = $2
	WHERE id = $1 AND status = 'queued'`
	// attemptHasMetricSQL: the attempt already ended (retried, waiting for its next run).
	attemptHasMetricSQL = `SELECT COUNT(*) FROM workflow_metrics WHERE workflow_id = $1 AND attempt = $2`
)

func (s *sqlStore) CancelWorkflow(ctx context.Context, id string) (Status, error) {
	const op = "cancel"
	var status Status
	err := s.write(ctx, func(tx DBTX) error {
		status = ""
		at := s.clock()
		canceled, err := s.cancelRunning(ctx, tx, id, at)
		if err == nil && !canceled {
			canceled, err = s.cancelQueued(ctx, tx, id, at)
		}
		if err != nil || canceled {
			if canceled {
				status = StatusCanceled
			}
			return err
		}
		err = classify(ctx, tx, id, op)
		var se *StateError
		if errors.As(err, &se) {
			status = se.Status
		}
		return err
	})
	if err != nil {
		return status, s.fail(op, id, err)
	}
	return status, nil
}

// cancelQueued cancels workflow id if it is queued (canceled true): no attempt runs.
func (s *sqlStore) cancelQueued(ctx context.Context, tx DBTX, id string, at time.Time) (canceled bool, err error) {
	res, err := tx.ExecContext(ctx, cancelQueuedSQL, id, s.d.ts(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// cancelRunning cancels workflow id if it is running (canceled true) and records the
// canceled metric of its attempt, unless that attempt had ended already (a retried one,
// waiting for its next run).
func (s *sqlStore) cancelRunning(ctx context.Context, tx DBTX, id string, at time.Time) (canceled bool, err error) {
	var (
		attempt int
		started time.Time
	)
	err = tx.QueryRowContext(ctx, cancelRunningSQL, id, s.d.ts(at)).Scan(&attempt, timeCol{&started})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	case attempt < 1 || started.IsZero():
		return true, nil
	}
	var ended int
	if err := tx.QueryRowContext(ctx, attemptHasMetricSQL, id, attempt).Scan(&ended); err != nil {
		return true, fmt.Errorf("read metrics: %w", err)
	}
	if ended > 0 {
		return true, nil
	}
	took := max(at.Sub(started), 0)
	return true, s.insertMetric(ctx, tx, id, Result{Attempt: attempt, Status: StatusCanceled, Duration: took}, at)
}

const insertMetricSQL = `INSERT INTO workflow_metrics (workflow_id, attempt, status, duration_ns, savings, recorded_at)
	VALUES ($1, $2, $3, $4, $5, $6)`

// insertMetric records how attempt r.Attempt of workflow id ended, at at.
func (s *sqlStore) insertMetric(ctx context.Context, tx DBTX, id string, r Result, at time.Time) error {
	_, err := tx.ExecContext(ctx, insertMetricSQL, id, r.Attempt, string(r.Status), int64(r.Duration), r.Savings, s.d.ts(at))
	if err != nil {
		return fmt.Errorf("insert metric: %w", err)
	}
	return nil
}

// checkResult checks the parts of r every caller needs: a status among allowed, an
// attempt, a duration that is not negative.
func checkResult(r Result, allowed ...Status) error {
	switch {
	case !slices.Contains(allowed, r.Status):
		return fmt.Errorf("result status must be one of %v, not %q: %w", allowed, r.Status, ErrInvalid)
	case r.Attempt < 1:
		return fmt.Errorf("attempt must be >= 1: %w", ErrInvalid)
	case r.Duration < 0:
		return fmt.Errorf("negative duration: %w", ErrInvalid)
	}
	return nil
}

// attemptConflict says why attempt of workflow id could not end: the workflow is gone
// (ErrNotFound), not running (a *StateError) or on another attempt (ErrStaleAttempt).
func attemptConflict(ctx context.Context, tx DBTX, id, op string, attempt int) error {
	var (
		status  Status
		current int
	)
	err := tx.QueryRowContext(ctx, `SELECT status, attempts FROM workflows WHERE id = $1`, id).Scan(&status, &current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case status != StatusRunning:
		return &StateError{ID: id, Op: op, Status: status}
	default:
		return fmt.Errorf("attempt %d, current is %d: %w", attempt, current, ErrStaleAttempt)
	}
}
