package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DefaultInFlightLimit is InFlight's limit when given 0 or less.
const DefaultInFlightLimit = 100

func (s *sqlStore) InFlight(ctx context.Context, before time.Time, after string, limit int) ([]Workflow, error) {
	if limit <= 0 {
		limit = DefaultInFlightLimit
	}
	ws, err := queryWorkflows(ctx, s.read(), `SELECT `+workflowColumns+` FROM workflows
		WHERE status IN ('queued', 'running') AND job_id <> '' AND updated_at < $1 AND id > $2
		ORDER BY id LIMIT $3`, s.d.ts(before.UTC()), after, limit)
	if err != nil {
		return nil, s.fail("list in-flight workflows", "", err)
	}
	return ws, nil
}

const abandonSQL = `UPDATE workflows SET status = 'failed', error = $3, finished_at = $2, updated_at = $2
	WHERE id = $1 AND status IN ('queued', 'running') AND attempts = $4
	RETURNING ` + workflowColumns

func (s *sqlStore) AbandonWorkflow(ctx context.Context, id string, attempts int, reason string) (Workflow, error) {
	const op = "abandon"
	now := s.d.ts(s.clock())
	var w Workflow
	err := s.write(ctx, func(tx DBTX) error {
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, abandonSQL, id, now, reason, attempts))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var (
			status  Status
			current int
		)
		err = tx.QueryRowContext(ctx, `SELECT status, attempts FROM workflows WHERE id = $1`, id).Scan(&status, &current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case status.Final():
			return &StateError{ID: id, Op: op, Status: status}
		default:
			return fmt.Errorf("attempt %d, current is %d: %w", attempts, current, ErrStaleAttempt)
		}
	})
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}
