package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MaxIdempotencyKey is the longest idempotency key a store keeps, in bytes.
const MaxIdempotencyKey = 255

// errKeyRace: another transaction inserted the same key first (PostgreSQL); the create is
// rolled back and looks the key up again.
var errKeyRace = errors.New("idempotency key inserted concurrently")

// createKeyed creates a workflow with an idempotency key, or returns the one created with
// the key before (ErrReplayed, or ErrKeyReused for another fingerprint). The lookup, the
// workflow and the key are one transaction; keyed creates skip the grouped INSERT, whose
// one statement would fail as a whole on a key conflict.
func (s *sqlStore) createKeyed(ctx context.Context, r createReq) (Workflow, error) {
	const op = "create"
	for {
		var w Workflow
		var found error
		err := s.write(ctx, func(tx DBTX) error {
			var err error
			w, found, err = s.lookupKey(ctx, tx, r.nw)
			if err != nil || found != nil {
				return err
			}
			if w, err = s.insertIn(ctx, tx, r); err != nil {
				return err
			}
			if err := s.insertKey(ctx, tx, r, w.ID); err != nil {
				return err
			}
			return r.also(tx)
		})
		switch {
		case errors.Is(err, errKeyRace):
			continue // the other transaction has committed or rolled back: look again
		case err != nil:
			return Workflow{}, s.fail(op, r.nw.ID, err)
		case found != nil:
			return w, found
		}
		return w, nil
	}
}

// lookupKey returns, as used, ErrReplayed with the workflow created with nw's key, or
// ErrKeyReused; a nil used when the key is new.
func (s *sqlStore) lookupKey(ctx context.Context, q DBTX, nw NewWorkflow) (w Workflow, used, err error) {
	var id, fingerprint string
	err = q.QueryRowContext(ctx, `SELECT workflow_id, fingerprint FROM workflow_keys WHERE key = $1`,
		nw.IdempotencyKey).Scan(&id, &fingerprint)
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, nil, nil
	}
	if err != nil {
		return Workflow{}, nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	if fingerprint != nw.Fingerprint {
		return Workflow{}, fmt.Errorf("%w (workflow %s)", ErrKeyReused, id), nil
	}
	w, err = scanWorkflow(q.QueryRowContext(ctx, `SELECT `+workflowColumns+` FROM workflows WHERE id = $1`, id))
	if err != nil {
		return Workflow{}, nil, fmt.Errorf("workflow %s of idempotency key: %w", id, err)
	}
	return w, ErrReplayed, nil
}

// insertKey records the key of the workflow id; errKeyRace when another transaction holds it.
func (s *sqlStore) insertKey(ctx context.Context, q DBTX, r createReq, id string) error {
	res, err := q.ExecContext(ctx, `INSERT INTO workflow_keys (key, workflow_id, fingerprint, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING`,
		r.nw.IdempotencyKey, id, r.nw.Fingerprint, s.d.ts(r.at))
	if err != nil {
		return fmt.Errorf("record idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errKeyRace
	}
	return nil
}
