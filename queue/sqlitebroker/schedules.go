package sqlitebroker

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Schedule state (queue.ScheduleStore) lives in its own table, created by the first write
// that needs it, so that the broker's numbered schema files stay as they are.

// createSchedules is run at the start of every schedule write; it costs nothing once the
// table exists.
const createSchedules = `CREATE TABLE IF NOT EXISTS schedules (
    name        TEXT PRIMARY KEY,
    enabled     INTEGER,                    -- NULL until set by SetScheduleEnabled
    last_run    INTEGER NOT NULL DEFAULT 0, -- latest tick enqueued, Unix nanoseconds
    last_job_id TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID`

// createManualRuns keeps the latest manual run of each schedule, apart from the ticks (a
// table of its own, so that a schedules table made before it needs no change).
const createManualRuns = `CREATE TABLE IF NOT EXISTS schedule_manual_runs (
    name   TEXT PRIMARY KEY,
    at     INTEGER NOT NULL, -- Unix nanoseconds
    job_id TEXT NOT NULL
) WITHOUT ROWID`

var _ queue.ScheduleStore = (*Broker)(nil)

// ScheduleStates returns the state of every schedule that has one, sorted by name.
func (b *Broker) ScheduleStates(ctx context.Context) ([]queue.ScheduleState, error) {
	rows, err := b.r.QueryContext(ctx, `SELECT name, enabled, last_run, last_job_id FROM schedules ORDER BY name`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return b.addManualRuns(ctx, nil) // no tick or flag written yet
		}
		return nil, fmt.Errorf("sqlitebroker: schedule states in %s: %w", b.path, err)
	}
	defer rows.Close()
	var out []queue.ScheduleState
	for rows.Next() {
		var (
			st      queue.ScheduleState
			enabled sql.NullBool
			lastRun int64
		)
		if err := rows.Scan(&st.Name, &enabled, &lastRun, &st.LastJobID); err != nil {
			return nil, fmt.Errorf("sqlitebroker: schedule states in %s: %w", b.path, err)
		}
		if enabled.Valid {
			st.Enabled = &enabled.Bool
		}
		st.LastRun = fromNanos(lastRun)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitebroker: schedule states in %s: %w", b.path, err)
	}
	return b.addManualRuns(ctx, out)
}

// addManualRuns sets the manual runs' fields of states, adding a state for a schedule that
// has only a manual run, and keeps them sorted by name.
func (b *Broker) addManualRuns(ctx context.Context, states []queue.ScheduleState) ([]queue.ScheduleState, error) {
	rows, err := b.r.QueryContext(ctx, `SELECT name, at, job_id FROM schedule_manual_runs`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return states, nil // no manual run recorded yet
		}
		return nil, fmt.Errorf("sqlitebroker: manual runs in %s: %w", b.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name, jobID string
			at          int64
		)
		if err := rows.Scan(&name, &at, &jobID); err != nil {
			return nil, fmt.Errorf("sqlitebroker: manual runs in %s: %w", b.path, err)
		}
		i, found := slices.BinarySearchFunc(states, name, func(s queue.ScheduleState, n string) int { return strings.Compare(s.Name, n) })
		if !found {
			states = slices.Insert(states, i, queue.ScheduleState{Name: name})
		}
		states[i].LastManualRun, states[i].LastManualJobID = fromNanos(at), jobID
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitebroker: manual runs in %s: %w", b.path, err)
	}
	return states, nil
}

// SetScheduleEnabled sets the schedule's enabled flag.
func (b *Broker) SetScheduleEnabled(ctx context.Context, name string, enabled bool) error {
	err := b.scheduleWrite(ctx, createSchedules, `INSERT INTO schedules (name, enabled) VALUES (?1, ?2)
			ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled`, name, enabled)
	if err != nil {
		return fmt.Errorf("sqlitebroker: set schedule %s enabled=%t in %s: %w", name, enabled, b.path, err)
	}
	return nil
}

// RecordScheduleRun records the tick's job unless a later tick is recorded already.
func (b *Broker) RecordScheduleRun(ctx context.Context, name string, tick time.Time, jobID string) error {
	err := b.scheduleWrite(ctx, createSchedules, `INSERT INTO schedules (name, last_run, last_job_id) VALUES (?1, ?2, ?3)
			ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run, last_job_id = excluded.last_job_id
			WHERE excluded.last_run > schedules.last_run`, name, nanos(tick), jobID)
	if err != nil {
		return fmt.Errorf("sqlitebroker: record run of schedule %s in %s: %w", name, b.path, err)
	}
	return nil
}

// RecordManualRun records the manual run's job unless a later one is recorded already.
func (b *Broker) RecordManualRun(ctx context.Context, name string, at time.Time, jobID string) error {
	err := b.scheduleWrite(ctx, createManualRuns, `INSERT INTO schedule_manual_runs (name, at, job_id) VALUES (?1, ?2, ?3)
			ON CONFLICT (name) DO UPDATE SET at = excluded.at, job_id = excluded.job_id
			WHERE excluded.at > schedule_manual_runs.at`, name, nanos(at), jobID)
	if err != nil {
		return fmt.Errorf("sqlitebroker: record manual run of schedule %s in %s: %w", name, b.path, err)
	}
	return nil
}

// scheduleWrite runs stmt with args in one write transaction, after create (the table it
// writes is made by the first write that needs it).
func (b *Broker) scheduleWrite(ctx context.Context, create, stmt string, args ...any) error {
	return b.write(ctx, func(tx *wtx) error {
		if _, err := tx.tx.ExecContext(ctx, create); err != nil {
			return err
		}
		_, err := tx.tx.ExecContext(ctx, stmt, args...)
		return err
	})
}
