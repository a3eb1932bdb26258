package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Graph workflows: StartGraph, FinishStep and SetStepState. The store decides which steps
// become runnable, in the transaction that records the step they waited for, so that two
// steps finishing at once cannot both miss the step that needed them both, and a process
// that dies before enqueuing the released steps' jobs leaves them listed in Workflow.Runs.

// StepState is the state of a released step of a graph workflow (see StepRun).
type StepState string

// States of a released step.
const (
	StepReady   StepState = "ready"   // released: every step it needs finished; its job waits for a worker
	StepRunning StepState = "running" // a worker runs it
	StepFailed  StepState = "failed"  // its last try failed (StepRun.Error); its job runs it again
)

// StepRun is a step of a graph workflow that attempt Attempt released (every step it needs
// had finished) and that has not finished: it must run. A finished step is a Step instead.
type StepRun struct {
	Index      int
	Name       string
	Attempt    int
	State      StepState
	Tries      int    // tries started
	Error      string // the last failed try's error
	ReleasedAt time.Time
	UpdatedAt  time.Time
}

// Graph is what the store needs of a graph workflow's type: Needs[i] lists the indexes of
// the steps step i needs (step i is released once each of them finished), Names[i] is step
// i's name. Every index is below len(Needs).
type Graph struct {
	Names []string
	Needs [][]int
}

// check reports a malformed graph (ErrInvalid).
func (g Graph) check() error {
	if len(g.Needs) == 0 || len(g.Names) != len(g.Needs) {
		return fmt.Errorf("graph of %d steps with %d names: %w", len(g.Needs), len(g.Names), ErrInvalid)
	}
	for i, needs := range g.Needs {
		for _, j := range needs {
			if j < 0 || j >= len(g.Needs) || j == i {
				return fmt.Errorf("graph: step %d needs step %d: %w", i, j, ErrInvalid)
			}
		}
	}
	return nil
}

const startGraphSQL = `UPDATE workflows
	SET attempts = CASE WHEN status = 'queued' THEN attempts + 1 ELSE attempts END,
	    started_at = CASE WHEN status = 'queued' THEN $2 ELSE started_at END,
	    status = 'running', updated_at = $2, enqueued_at = COALESCE(enqueued_at, $2)
	WHERE id = $1 AND status IN ('queued', 'running')
	RETURNING ` + workflowColumns

func (s *sqlStore) StartGraph(ctx context.Context, id string, g Graph) (Workflow, error) {
	const op = "start"
	if err := g.check(); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	var w Workflow
	err := s.write(ctx, func(tx DBTX) error {
		at := s.clock()
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, startGraphSQL, id, s.d.ts(at)))
		if errors.Is(err, sql.ErrNoRows) {
			return classify(ctx, tx, id, op)
		}
		if err != nil {
			return err
		}
		return s.advance(ctx, tx, &w, g, at)
	})
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}

const (
	lockGraphSQL = `UPDATE workflows SET updated_at = $3
	WHERE id = $1 AND status = 'running' AND attempts = $2
	RETURNING ` + workflowColumns
	insertGraphStepSQL = `INSERT INTO workflow_steps (workflow_id, step_index, name, attempt, output, finished_at)
	VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (workflow_id, step_index) DO NOTHING`
	deleteRunSQL = `DELETE FROM workflow_step_runs WHERE workflow_id = $1 AND step_index = $2`
)

func (s *sqlStore) FinishStep(ctx context.Context, id string, st Step, g Graph) (Workflow, error) {
	const op = "record step of"
	if err := checkStep(st, g); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	var w Workflow
	err := s.write(ctx, func(tx DBTX) error {
		at := s.clock()
		// The UPDATE comes first: on PostgreSQL it locks the workflow's row, so that the
		// steps finishing at once each see the others' rows.
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, lockGraphSQL, id, st.Attempt, s.d.ts(at)))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return attemptConflict(ctx, tx, id, op, st.Attempt)
		case err != nil:
			return err
		}
		if _, err := tx.ExecContext(ctx, insertGraphStepSQL, id, st.Index, g.Names[st.Index], st.Attempt, jsonArg(st.Output), s.d.ts(at)); err != nil {
			return fmt.Errorf("insert step: %w", err)
		}
		if _, err := tx.ExecContext(ctx, deleteRunSQL, id, st.Index); err != nil {
			return fmt.Errorf("delete run: %w", err)
		}
		return s.advance(ctx, tx, &w, g, at)
	})
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}

// checkStep checks a step given to FinishStep.
func checkStep(st Step, g Graph) error {
	if err := g.check(); err != nil {
		return err
	}
	switch {
	case st.Index < 0 || st.Index >= len(g.Needs):
		return fmt.Errorf("step index %d outside the graph's %d steps: %w", st.Index, len(g.Needs), ErrInvalid)
	case st.Attempt < 1:
		return fmt.Errorf("attempt must be >= 1: %w", ErrInvalid)
	case len(st.Output) > 0 && !json.Valid(st.Output):
		return fmt.Errorf("step output is not valid JSON: %w", ErrInvalid)
	}
	return nil
}

const (
	progressSQL = `UPDATE workflows SET current_step = $2 WHERE id = $1`
	completeSQL = `UPDATE workflows SET status = 'completed', error = '', current_step = $2,
	    finished_at = $3, updated_at = $3
	WHERE id = $1 AND status = 'running'
	RETURNING ` + workflowColumns
	releaseSQL = `INSERT INTO workflow_step_runs
	    (workflow_id, step_index, name, attempt, state, tries, error, released_at, updated_at)
	VALUES ($1, $2, $3, $4, 'ready', 0, '', $5, $5)
	ON CONFLICT (workflow_id, step_index) DO UPDATE SET
	    name = excluded.name, attempt = excluded.attempt, state = 'ready', tries = 0, error = '',
	    released_at = excluded.released_at, updated_at = excluded.updated_at`
)

// advance, in running workflow w's transaction, completes w (with its metric) when every
// step of g finished, or releases the steps whose needs finished and that the current
// attempt has not released yet. It loads w's steps and runs.
func (s *sqlStore) advance(ctx context.Context, tx DBTX, w *Workflow, g Graph, at time.Time) error {
	if err := loadSteps(ctx, tx, w); err != nil {
		return err
	}
	done := make(map[int]bool, len(w.Steps))
	for _, st := range w.Steps {
		done[st.Index] = true
	}
	if len(done) >= len(g.Needs) {
		return s.complete(ctx, tx, w, at)
	}
	if err := loadRuns(ctx, tx, w); err != nil {
		return err
	}
	released := make(map[int]bool, len(w.Runs))
	for _, r := range w.Runs {
		released[r.Index] = r.Attempt == w.Attempts
	}
	for i, needs := range g.Needs {
		if done[i] || released[i] || !allIn(needs, done) {
			continue
		}
		if _, err := tx.ExecContext(ctx, releaseSQL, w.ID, i, g.Names[i], w.Attempts, s.d.ts(at)); err != nil {
			return fmt.Errorf("release step %d: %w", i, err)
		}
	}
	if _, err := tx.ExecContext(ctx, progressSQL, w.ID, len(done)); err != nil {
		return fmt.Errorf("progress: %w", err)
	}
	w.CurrentStep = len(done)
	return loadRuns(ctx, tx, w)
}

// complete ends running workflow w as completed, with its attempt's metric.
func (s *sqlStore) complete(ctx context.Context, tx DBTX, w *Workflow, at time.Time) error {
	steps := w.Steps
	done, err := scanWorkflow(tx.QueryRowContext(ctx, completeSQL, w.ID, len(steps), s.d.ts(at)))
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	r := Result{Attempt: done.Attempts, Status: StatusCompleted, Duration: max(at.Sub(done.StartedAt), 0), Savings: done.WeeklySavings}
	if err := s.insertMetric(ctx, tx, w.ID, r, at); err != nil {
		return err
	}
	*w = done
	w.Steps = steps
	if err := loadRuns(ctx, tx, w); err != nil {
		return err
	}
	return loadMetrics(ctx, tx, w)
}

func allIn(needs []int, done map[int]bool) bool {
	for _, j := range needs {
		if !done[j] {
			return false
		}
	}
	return true
}

const setStepStateSQL = `UPDATE workflow_step_runs
	SET state = $4, tries = tries + $5, error = $6, updated_at = $7
	WHERE workflow_id = $1 AND attempt = $2 AND step_index = $3
	  AND EXISTS (SELECT 1 FROM workflows WHERE id = $1 AND status = 'running' AND attempts = $2)`

func (s *sqlStore) SetStepState(ctx context.Context, id string, attempt, index int, state StepState, msg string) error {
	const op = "set step state of"
	tries := 0
	switch state {
	case StepRunning:
		tries, msg = 1, ""
	case StepFailed:
	default:
		return s.fail(op, id, fmt.Errorf("step state %q (want running or failed): %w", state, ErrInvalid))
	}
	err := s.write(ctx, func(tx DBTX) error {
		res, err := tx.ExecContext(ctx, setStepStateSQL, id, attempt, index, string(state), tries, msg, s.d.ts(s.clock()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		if err := attemptConflict(ctx, tx, id, op, attempt); !errors.Is(err, ErrStaleAttempt) || !current(ctx, tx, id, attempt) {
			return err
		}
		return fmt.Errorf("step %d is not released by attempt %d (finished, or waiting for the steps it needs): %w", index, attempt, ErrInvalid)
	})
	if err != nil {
		return s.fail(op, id, err)
	}
	return nil
}

// current reports whether attempt is workflow id's current attempt (attemptConflict says
// ErrStaleAttempt for any running workflow).
func current(ctx context.Context, tx DBTX, id string, attempt int) bool {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT attempts FROM workflows WHERE id = $1`, id).Scan(&n)
	return err == nil && n == attempt
}

func loadRuns(ctx context.Context, q DBTX, w *Workflow) error {
	rows, err := q.QueryContext(ctx, `SELECT step_index, name, attempt, state, tries, error, released_at, updated_at
		FROM workflow_step_runs WHERE workflow_id = $1 ORDER BY step_index`, w.ID)
	if err != nil {
		return fmt.Errorf("step runs: %w", err)
	}
	defer rows.Close()
	w.Runs = nil
	for rows.Next() {
		var r StepRun
		if err := rows.Scan(&r.Index, &r.Name, &r.Attempt, &r.State, &r.Tries, &r.Error,
			timeCol{&r.ReleasedAt}, timeCol{&r.UpdatedAt}); err != nil {
			return fmt.Errorf("step runs: %w", err)
		}
		w.Runs = append(w.Runs, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("step runs: %w", err)
	}
	return nil
}
