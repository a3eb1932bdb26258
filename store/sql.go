package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect holds what differs between SQLite and PostgreSQL. Queries are
// written once with $N placeholders, which both drivers accept.
type dialect struct {
	name                  string
	ts                    func(time.Time) any // time argument in the column's representation
	migrateLock           []string            // statements serializing Migrate
	createMigrationsTable string
}

// migrationLockKey is the PostgreSQL advisory lock taken by Migrate.
const migrationLockKey = 0x646f6d696e // "domin"

func postgresDialect() dialect {
	return dialect{
		name:        "postgres",
		ts:          func(t time.Time) any { return t },
		migrateLock: []string{"SELECT pg_advisory_xact_lock(" + strconv.Itoa(migrationLockKey) + ")"},
		createMigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)`,
	}
}

func sqliteDialect() dialect {
	return dialect{
		name: "sqlite",
		// Times are INTEGER microseconds since the epoch: compact, exact, and
		// ordered correctly by plain comparisons.
		ts: func(t time.Time) any { return t.UnixMicro() },
		createMigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)`,
	}
}

// tsOrNull is d.ts(t), or NULL for the zero time.
func (d dialect) tsOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.ts(t)
}

// dbtx is what *sql.DB and *sql.Tx have in common.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlStore implements Store on database/sql for both dialects.
type sqlStore struct {
	db   *sql.DB
	d    dialect
	now  func() time.Time
	red  redactor
	desc string // redacted DSN
}

var _ Store = (*sqlStore)(nil)

func (s *sqlStore) Dialect() string { return s.d.name }

// String describes the store without secrets, e.g. "postgres postgres://u:xxxxx@h/db".
func (s *sqlStore) String() string { return s.d.name + " " + s.desc }

func (s *sqlStore) Close() error {
	if err := s.db.Close(); err != nil {
		return s.red.errorf("store: close: %w", err)
	}
	return nil
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.red.errorf("store: ping %s %s: %w", s.d.name, s.desc, err)
	}
	return nil
}

// clock is the current time as stored: UTC, microsecond precision.
func (s *sqlStore) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// fail wraps err with the operation and workflow id; it returns *StateError
// unchanged so callers see its own message.
func (s *sqlStore) fail(op, id string, err error) error {
	var se *StateError
	if errors.As(err, &se) {
		return err
	}
	if id == "" {
		return s.red.errorf("store: %s: %w", op, err)
	}
	return s.red.errorf("store: %s workflow %s: %w", op, id, err)
}

// inTx runs fn in a transaction (IMMEDIATE on SQLite) and commits it.
func (s *sqlStore) inTx(ctx context.Context, fn func(tx dbtx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ---- scanning ----

const workflowColumns = `id, agent_id, type, mode, inputs, status, current_step, total_steps,
	attempts, error, job_id, weekly_hours_saved, weekly_savings,
	created_at, updated_at, enqueued_at, started_at, finished_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanWorkflow(r rowScanner) (Workflow, error) {
	var w Workflow
	err := r.Scan(&w.ID, &w.AgentID, &w.Type, &w.Mode, jsonCol{&w.Inputs}, &w.Status,
		&w.CurrentStep, &w.TotalSteps, &w.Attempts, &w.Error, &w.JobID,
		&w.WeeklyHoursSaved, &w.WeeklySavings,
		timeCol{&w.CreatedAt}, timeCol{&w.UpdatedAt}, timeCol{&w.EnqueuedAt},
		timeCol{&w.StartedAt}, timeCol{&w.FinishedAt})
	return w, err
}

// timeCol scans a time column of either dialect (timestamptz or integer
// microseconds); NULL becomes the zero time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	case time.Time:
		*c.t = x.UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// jsonCol scans a JSON column (jsonb or TEXT); NULL becomes nil.
type jsonCol struct{ j *json.RawMessage }

func (c jsonCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.j = nil
	case []byte:
		*c.j = append(json.RawMessage(nil), x...)
	case string:
		*c.j = json.RawMessage(x)
	default:
		return fmt.Errorf("json column: unexpected %T", v)
	}
	return nil
}

// jsonArg is a JSON document as a query argument (nil for empty).
func jsonArg(j json.RawMessage) any {
	if len(j) == 0 {
		return nil
	}
	return string(j)
}

// classify explains why a guarded UPDATE of workflow id matched no row.
func classify(ctx context.Context, q dbtx, id, op string) error {
	var st Status
	err := q.QueryRowContext(ctx, `SELECT status FROM workflows WHERE id = $1`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	return &StateError{ID: id, Op: op, Status: st}
}

// ---- workflows ----

const insertWorkflowSQL = `INSERT INTO workflows
	(id, agent_id, type, mode, inputs, status, total_steps,
	 weekly_hours_saved, weekly_savings, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $9)
ON CONFLICT (id) DO NOTHING
RETURNING ` + workflowColumns

func (s *sqlStore) CreateWorkflow(ctx context.Context, nw NewWorkflow) (Workflow, error) {
	const op = "create"
	if nw.ID == "" {
		id, err := newID()
		if err != nil {
			return Workflow{}, s.fail(op, "", err)
		}
		nw.ID = id
	}
	switch {
	case strings.TrimSpace(nw.AgentID) == "":
		return Workflow{}, s.fail(op, nw.ID, fmt.Errorf("agent id is required: %w", ErrInvalid))
	case strings.TrimSpace(nw.Type) == "":
		return Workflow{}, s.fail(op, nw.ID, fmt.Errorf("type is required: %w", ErrInvalid))
	case nw.TotalSteps < 0:
		return Workflow{}, s.fail(op, nw.ID, fmt.Errorf("negative total steps: %w", ErrInvalid))
	}
	inputs := nw.Inputs
	if len(inputs) == 0 {
		inputs = json.RawMessage("{}")
	}
	if !json.Valid(inputs) {
		return Workflow{}, s.fail(op, nw.ID, fmt.Errorf("inputs are not valid JSON: %w", ErrInvalid))
	}
	now := s.clock()
	w, err := scanWorkflow(s.db.QueryRowContext(ctx, insertWorkflowSQL,
		nw.ID, nw.AgentID, nw.Type, nw.Mode, string(inputs), nw.TotalSteps,
		nw.WeeklyHoursSaved, nw.WeeklySavings, s.d.ts(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, s.fail(op, nw.ID, ErrExists)
	}
	if err != nil {
		return Workflow{}, s.fail(op, nw.ID, err)
	}
	return w, nil
}

func (s *sqlStore) GetWorkflow(ctx context.Context, id string) (Workflow, error) {
	const op = "get"
	w, err := scanWorkflow(s.db.QueryRowContext(ctx,
		`SELECT `+workflowColumns+` FROM workflows WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, s.fail(op, id, ErrNotFound)
	}
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	if err := loadSteps(ctx, s.db, &w); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	if err := loadMetrics(ctx, s.db, &w); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}

func loadSteps(ctx context.Context, q dbtx, w *Workflow) error {
	rows, err := q.QueryContext(ctx, `SELECT step_index, name, attempt, output, finished_at
		FROM workflow_steps WHERE workflow_id = $1 ORDER BY step_index`, w.ID)
	if err != nil {
		return fmt.Errorf("steps: %w", err)
	}
	defer rows.Close()
	w.Steps = []Step{}
	for rows.Next() {
		var st Step
		if err := rows.Scan(&st.Index, &st.Name, &st.Attempt, jsonCol{&st.Output}, timeCol{&st.FinishedAt}); err != nil {
			return fmt.Errorf("steps: %w", err)
		}
		w.Steps = append(w.Steps, st)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("steps: %w", err)
	}
	return nil
}

func loadMetrics(ctx context.Context, q dbtx, w *Workflow) error {
	rows, err := q.QueryContext(ctx, `SELECT id, workflow_id, attempt, status, duration_ns, savings, recorded_at
		FROM workflow_metrics WHERE workflow_id = $1 ORDER BY id`, w.ID)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer rows.Close()
	w.Metrics = []Metric{}
	for rows.Next() {
		var m Metric
		var ns int64
		if err := rows.Scan(&m.ID, &m.WorkflowID, &m.Attempt, &m.Status, &ns, &m.Savings, timeCol{&m.RecordedAt}); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		m.Duration = time.Duration(ns)
		w.Metrics = append(w.Metrics, m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (s *sqlStore) ListWorkflows(ctx context.Context, f ListFilter) (Page, error) {
	const op = "list workflows"
	if f.Status != "" && !f.Status.Valid() {
		return Page{}, s.fail(op, "", fmt.Errorf("unknown status %q: %w", f.Status, ErrInvalid))
	}
	limit := f.Limit
	switch {
	case limit < 0:
		return Page{}, s.fail(op, "", fmt.Errorf("negative limit: %w", ErrInvalid))
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		conds = append(conds, "status = "+arg(string(f.Status)))
	}
	if f.Type != "" {
		conds = append(conds, "type = "+arg(f.Type))
	}
	if f.AgentID != "" {
		conds = append(conds, "agent_id = "+arg(f.AgentID))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, s.fail(op, "", err)
		}
		c, i := arg(s.d.ts(at)), arg(id)
		conds = append(conds, "(created_at < "+c+" OR (created_at = "+c+" AND id < "+i+"))")
	}
	q := `SELECT ` + workflowColumns + ` FROM workflows`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT " + arg(limit+1)

	ws, err := queryWorkflows(ctx, s.db, q, args...)
	if err != nil {
		return Page{}, s.fail(op, "", err)
	}
	p := Page{Workflows: ws}
	if len(ws) > limit {
		p.Workflows = ws[:limit]
		last := p.Workflows[limit-1]
		p.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	return p, nil
}

func queryWorkflows(ctx context.Context, q dbtx, query string, args ...any) ([]Workflow, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ws := []Workflow{}
	for rows.Next() {
		w, err := scanWorkflow(rows)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, rows.Err()
}

// A cursor is the (created_at, id) of the last row of a page.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	bad := fmt.Errorf("malformed cursor: %w", ErrInvalid)
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	us, id, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(n).UTC(), id, nil
}

// ---- outbox ----

// DefaultPendingLimit is PendingEnqueue's limit when given 0 or less.
const DefaultPendingLimit = 100

func (s *sqlStore) PendingEnqueue(ctx context.Context, limit int) ([]Workflow, error) {
	if limit <= 0 {
		limit = DefaultPendingLimit
	}
	ws, err := queryWorkflows(ctx, s.db, `SELECT `+workflowColumns+` FROM workflows
		WHERE status = 'queued' AND enqueued_at IS NULL
		ORDER BY created_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, s.fail("list pending enqueue", "", err)
	}
	return ws, nil
}

func (s *sqlStore) MarkEnqueued(ctx context.Context, id, jobID string) error {
	const op = "mark enqueued"
	if jobID == "" {
		return s.fail(op, id, fmt.Errorf("empty job id: %w", ErrInvalid))
	}
	now := s.d.ts(s.clock())
	res, err := s.db.ExecContext(ctx, `UPDATE workflows SET job_id = $2, enqueued_at = $3, updated_at = $3
		WHERE id = $1 AND enqueued_at IS NULL`, id, jobID, now)
	if err != nil {
		return s.fail(op, id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(op, id, err)
	} else if n == 1 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, `SELECT 1 FROM workflows WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return s.fail(op, id, ErrNotFound)
	}
	if err != nil {
		return s.fail(op, id, err)
	}
	return nil // already marked
}

// ---- lifecycle ----

const startAttemptSQL = `UPDATE workflows
	SET status = 'running', attempts = attempts + 1, started_at = $2, updated_at = $2,
	    enqueued_at = COALESCE(enqueued_at, $2)
	WHERE id = $1 AND status IN ('queued', 'running')
	RETURNING ` + workflowColumns

func (s *sqlStore) StartAttempt(ctx context.Context, id string) (Workflow, error) {
	const op = "start"
	var w Workflow
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, startAttemptSQL, id, s.d.ts(s.clock())))
		if errors.Is(err, sql.ErrNoRows) {
			return classify(ctx, tx, id, op)
		}
		if err != nil {
			return err
		}
		return loadSteps(ctx, tx, &w)
	})
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}

const (
	advanceStepSQL = `UPDATE workflows SET current_step = current_step + 1, updated_at = $3
	WHERE id = $1 AND status = 'running' AND attempts = $2 AND current_step = $4`
	insertStepSQL = `INSERT INTO workflow_steps (workflow_id, step_index, name, attempt, output, finished_at)
	VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (workflow_id, step_index) DO UPDATE SET
	    name = excluded.name, attempt = excluded.attempt,
	    output = excluded.output, finished_at = excluded.finished_at`
)

func (s *sqlStore) RecordStep(ctx context.Context, id string, st Step) error {
	const op = "record step of"
	switch {
	case st.Index < 0:
		return s.fail(op, id, fmt.Errorf("negative step index: %w", ErrInvalid))
	case st.Attempt < 1:
		return s.fail(op, id, fmt.Errorf("attempt must be >= 1: %w", ErrInvalid))
	case len(st.Output) > 0 && !json.Valid(st.Output):
		return s.fail(op, id, fmt.Errorf("step output is not valid JSON: %w", ErrInvalid))
	}
	now := s.d.ts(s.clock())
	err := s.inTx(ctx, func(tx dbtx) error {
		res, err := tx.ExecContext(ctx, advanceStepSQL, id, st.Attempt, now, st.Index)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			_, err := tx.ExecContext(ctx, insertStepSQL, id, st.Index, st.Name, st.Attempt, jsonArg(st.Output), now)
			return err
		}
		var (
			status            Status
			attempts, current int
		)
		err = tx.QueryRowContext(ctx, `SELECT status, attempts, current_step FROM workflows WHERE id = $1`, id).
			Scan(&status, &attempts, &current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case status != StatusRunning:
			return &StateError{ID: id, Op: "record step of", Status: status}
		case attempts != st.Attempt:
			return fmt.Errorf("attempt %d, current is %d: %w", st.Attempt, attempts, ErrStaleAttempt)
		case st.Index < current:
			return nil // already recorded
		default:
			return fmt.Errorf("step %d skips ahead of current step %d: %w", st.Index, current, ErrInvalid)
		}
	})
	if err != nil {
		return s.fail(op, id, err)
	}
	return nil
}

const (
	finishSQL = `UPDATE workflows SET status = $2, error = $3, finished_at = $4, updated_at = $4
	WHERE id = $1 AND status = 'running' AND attempts = $5
	RETURNING ` + workflowColumns
	insertMetricSQL = `INSERT INTO workflow_metrics (workflow_id, attempt, status, duration_ns, savings, recorded_at)
	VALUES ($1, $2, $3, $4, $5, $6)`
)

func (s *sqlStore) FinishWorkflow(ctx context.Context, id string, r Result) (Workflow, error) {
	const op = "finish"
	switch {
	case r.Status != StatusCompleted && r.Status != StatusFailed:
		return Workflow{}, s.fail(op, id, fmt.Errorf("result status must be completed or failed, not %q: %w", r.Status, ErrInvalid))
	case r.Attempt < 1:
		return Workflow{}, s.fail(op, id, fmt.Errorf("attempt must be >= 1: %w", ErrInvalid))
	case r.Duration < 0:
		return Workflow{}, s.fail(op, id, fmt.Errorf("negative duration: %w", ErrInvalid))
	}
	errMsg := r.Error
	if r.Status == StatusCompleted {
		errMsg = ""
	}
	now := s.d.ts(s.clock())
	var w Workflow
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, finishSQL, id, string(r.Status), errMsg, now, r.Attempt))
		if errors.Is(err, sql.ErrNoRows) {
			var (
				status   Status
				attempts int
			)
			err := tx.QueryRowContext(ctx, `SELECT status, attempts FROM workflows WHERE id = $1`, id).Scan(&status, &attempts)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return ErrNotFound
			case err != nil:
				return err
			case status != StatusRunning:
				return &StateError{ID: id, Op: op, Status: status}
			default:
				return fmt.Errorf("attempt %d, current is %d: %w", r.Attempt, attempts, ErrStaleAttempt)
			}
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insertMetricSQL,
			id, r.Attempt, string(r.Status), int64(r.Duration), r.Savings, now); err != nil {
			return fmt.Errorf("insert metric: %w", err)
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

func (s *sqlStore) CancelWorkflow(ctx context.Context, id string) (Status, error) {
	const op = "cancel"
	var status Status
	err := s.inTx(ctx, func(tx dbtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE workflows SET status = 'canceled', finished_at = $2, updated_at = $2
			WHERE id = $1 AND status IN ('queued', 'running')`, id, s.d.ts(s.clock()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			status = StatusCanceled
			return nil
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

const retrySQL = `UPDATE workflows
	SET status = 'queued', error = '', job_id = '', enqueued_at = NULL, finished_at = NULL, updated_at = $2
	WHERE id = $1 AND status IN ('failed', 'canceled')
	RETURNING ` + workflowColumns

func (s *sqlStore) RetryWorkflow(ctx context.Context, id string) (Workflow, error) {
	const op = "retry"
	var w Workflow
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, retrySQL, id, s.d.ts(s.clock())))
		if errors.Is(err, sql.ErrNoRows) {
			return classify(ctx, tx, id, op)
		}
		if err != nil {
			return err
		}
		return loadSteps(ctx, tx, &w)
	})
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}

func (s *sqlStore) DeleteFinishedBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM workflows
		WHERE status IN ('completed', 'failed', 'canceled') AND finished_at < $1`, s.d.ts(t.UTC()))
	if err != nil {
		return 0, s.fail("delete finished workflows", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("delete finished workflows", "", err)
	}
	return n, nil
}

// ---- reports ----

const summarizeSQL = `SELECT
	COUNT(*),
	COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 'canceled' THEN 1 ELSE 0 END), 0),
	(SELECT CAST(COALESCE(SUM(m.savings), 0) AS DOUBLE PRECISION)
	   FROM workflow_metrics m JOIN workflows w ON w.id = m.workflow_id
	  WHERE m.status = 'completed' AND w.created_at >= $1 AND w.created_at < $2),
	(SELECT CAST(COALESCE(AVG(m.duration_ns), 0) AS DOUBLE PRECISION)
	   FROM workflow_metrics m JOIN workflows w ON w.id = m.workflow_id
	  WHERE m.status = 'completed' AND w.created_at >= $1 AND w.created_at < $2)
FROM workflows WHERE created_at >= $1 AND created_at < $2`

func (s *sqlStore) Summarize(ctx context.Context, from, to time.Time) (Summary, error) {
	const op = "summarize"
	from, to = from.UTC().Truncate(time.Microsecond), to.UTC().Truncate(time.Microsecond)
	if !from.Before(to) {
		return Summary{}, s.fail(op, "", fmt.Errorf("period start %s is not before end %s: %w", from, to, ErrInvalid))
	}
	sum := Summary{From: from, To: to}
	var avg float64
	err := s.db.QueryRowContext(ctx, summarizeSQL, s.d.ts(from), s.d.ts(to)).
		Scan(&sum.Total, &sum.Completed, &sum.Failed, &sum.Canceled, &sum.TotalSavings, &avg)
	if err != nil {
		return Summary{}, s.fail(op, "", err)
	}
	sum.AvgDuration = time.Duration(avg + 0.5)
	if sum.Total > 0 {
		sum.CompletionRate = float64(sum.Completed) / float64(sum.Total)
	}
	return sum, nil
}

const (
	reportColumns = `week, period_start, period_end, total, completed, failed, canceled,
	completion_rate, total_savings, avg_duration_ns, generated_at`
	saveReportSQL = `INSERT INTO weekly_reports (` + reportColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (week) DO UPDATE SET
	    period_start = excluded.period_start, period_end = excluded.period_end,
	    total = excluded.total, completed = excluded.completed, failed = excluded.failed,
	    canceled = excluded.canceled, completion_rate = excluded.completion_rate,
	    total_savings = excluded.total_savings, avg_duration_ns = excluded.avg_duration_ns,
	    generated_at = excluded.generated_at`
)

func (s *sqlStore) SaveReport(ctx context.Context, r WeeklyReport) (WeeklyReport, error) {
	const op = "save report"
	if _, err := ParseISOWeek(r.Week); err != nil {
		return WeeklyReport{}, s.fail(op, "", err)
	}
	if r.GeneratedAt.IsZero() {
		r.GeneratedAt = s.clock()
	}
	r.GeneratedAt = r.GeneratedAt.UTC().Truncate(time.Microsecond)
	r.Summary.From = r.Summary.From.UTC().Truncate(time.Microsecond)
	r.Summary.To = r.Summary.To.UTC().Truncate(time.Microsecond)
	sm := r.Summary
	_, err := s.db.ExecContext(ctx, saveReportSQL, r.Week, s.d.ts(sm.From), s.d.ts(sm.To),
		sm.Total, sm.Completed, sm.Failed, sm.Canceled, sm.CompletionRate, sm.TotalSavings,
		int64(sm.AvgDuration), s.d.ts(r.GeneratedAt))
	if err != nil {
		return WeeklyReport{}, s.fail(op, "", fmt.Errorf("week %s: %w", r.Week, err))
	}
	return r, nil
}

func scanReport(r rowScanner) (WeeklyReport, error) {
	var (
		rep WeeklyReport
		ns  int64
	)
	sm := &rep.Summary
	err := r.Scan(&rep.Week, timeCol{&sm.From}, timeCol{&sm.To}, &sm.Total, &sm.Completed,
		&sm.Failed, &sm.Canceled, &sm.CompletionRate, &sm.TotalSavings, &ns, timeCol{&rep.GeneratedAt})
	sm.AvgDuration = time.Duration(ns)
	return rep, err
}

func (s *sqlStore) Report(ctx context.Context, week string) (WeeklyReport, error) {
	const op = "get report"
	if _, err := ParseISOWeek(week); err != nil {
		return WeeklyReport{}, s.fail(op, "", err)
	}
	rep, err := scanReport(s.db.QueryRowContext(ctx,
		`SELECT `+reportColumns+` FROM weekly_reports WHERE week = $1`, week))
	if errors.Is(err, sql.ErrNoRows) {
		return WeeklyReport{}, s.fail(op, "", fmt.Errorf("week %s: %w", week, ErrNotFound))
	}
	if err != nil {
		return WeeklyReport{}, s.fail(op, "", fmt.Errorf("week %s: %w", week, err))
	}
	return rep, nil
}

func (s *sqlStore) LatestReport(ctx context.Context) (WeeklyReport, error) {
	const op = "get latest report"
	rep, err := scanReport(s.db.QueryRowContext(ctx, `SELECT `+reportColumns+` FROM weekly_reports
		ORDER BY period_end DESC, generated_at DESC, week DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return WeeklyReport{}, s.fail(op, "", ErrNotFound)
	}
	if err != nil {
		return WeeklyReport{}, s.fail(op, "", err)
	}
	return rep, nil
}

const countsSQL = `SELECT
	(SELECT COUNT(*) FROM workflows WHERE created_at >= $1),
	(SELECT COUNT(*) FROM workflows WHERE status = 'completed' AND finished_at >= $1),
	(SELECT COUNT(*) FROM workflows WHERE status = 'failed' AND finished_at >= $1),
	(SELECT COUNT(*) FROM workflows WHERE status = 'canceled' AND finished_at >= $1),
	(SELECT COUNT(*) FROM workflows WHERE status = 'queued'),
	(SELECT COUNT(*) FROM workflows WHERE status = 'running')`

func (s *sqlStore) CountsSince(ctx context.Context, t time.Time) (Counts, error) {
	c := Counts{Since: t.UTC().Truncate(time.Microsecond)}
	err := s.db.QueryRowContext(ctx, countsSQL, s.d.ts(c.Since)).
		Scan(&c.Accepted, &c.Completed, &c.Failed, &c.Canceled, &c.Queued, &c.Running)
	if err != nil {
		return Counts{}, s.fail("count workflows", "", err)
	}
	return c, nil
}
