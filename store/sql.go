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
	"sync"
	"time"

	"github.com/codex-dominion/dominion/internal/redact"
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

// DBTX is what *sql.DB and *sql.Tx have in common: what the store's statements run on. A
// Writer's transaction (WithWriter) must have it too.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlStore implements Store on database/sql for both dialects.
//
// Writes: on SQLite every write goes through one goroutine owning the one writer connection
// (SQLite has one writer per file; serializing in Go beats sleeping in SQLite's busy
// handler), which runs the writes waiting at the moment in one transaction (group commit,
// see batch.go). On PostgreSQL writes run concurrently on the pool, except the API's hot
// path, CreateWorkflow and MarkEnqueued, which are grouped into multi-row statements.
type sqlStore struct {
	db   *sql.DB // reads; on PostgreSQL, writes too
	wdb  *sql.DB // the writer: on SQLite one connection (db itself for :memory:), else db
	d    dialect
	now  func() time.Time
	red  redact.Redactor
	desc string // redacted DSN

	// prepare makes queries run as statements prepared once per connection and kept
	// (SQLite, where parsing a statement costs more than running it; pgx already caches
	// its prepared statements itself).
	prepare   bool
	stmts     sync.Map // stmtKey → *sql.Stmt
	toPrepare sync.Map // query → true: to prepare on the writer, between transactions

	link *link // PostgreSQL: the connection state; nil on SQLite

	writer  *batcher[txFunc, struct{}]    // SQLite: every write, unless ext takes them
	ext     Writer                        // SQLite: the writer of another owner (WithWriter)
	creates *batcher[createReq, Workflow] // CreateWorkflow: one multi-row INSERT per group
	marks   *batcher[markReq, struct{}]   // PostgreSQL: MarkEnqueued
	closeMu sync.Mutex
	closed  bool
}

// txFunc is one write operation, run in a transaction.
type txFunc func(tx DBTX) error

// start starts the store's write goroutines.
func (s *sqlStore) start() {
	if s.d.name == "sqlite" {
		if s.ext == nil {
			s.writer = newBatcher(s.runWrites)
		}
	} else {
		s.marks = newBatcher(s.runMarks)
	}
	s.creates = newBatcher(s.runCreates)
}

var _ Store = (*sqlStore)(nil)

func (s *sqlStore) Dialect() string { return s.d.name }

// String describes the store without secrets, e.g. "postgres postgres://u:xxxxx@h/db".
func (s *sqlStore) String() string { return s.d.name + " " + s.desc }

func (s *sqlStore) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.link != nil {
		s.link.close() // first: its goroutine uses the pool
	}
	if s.creates != nil { // started
		s.creates.close() // first: it writes through the writer
		if s.marks != nil {
			s.marks.close()
		}
		if s.writer != nil {
			s.writer.close()
		}
	}
	var err error
	if s.wdb != nil && s.wdb != s.db {
		err = s.wdb.Close()
	}
	if e := s.db.Close(); err == nil {
		err = e
	}
	if err != nil {
		return s.red.Errorf("store: close: %w", err)
	}
	return nil
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		s.wentDown(err)
		return s.red.Errorf("store: ping %s %s: %w", s.d.name, s.desc, err)
	}
	return nil
}

// clock is the current time as stored: UTC, microsecond precision.
func (s *sqlStore) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// fail wraps err with the operation and workflow id; it returns *StateError
// unchanged so callers see its own message.
func (s *sqlStore) fail(op, id string, err error) error {
	s.wentDown(err)
	var se *StateError
	if errors.As(err, &se) {
		return err
	}
	if id == "" {
		return s.red.Errorf("store: %s: %w", op, err)
	}
	return s.red.Errorf("store: %s workflow %s: %w", op, id, err)
}

// inTx runs fn in a transaction (IMMEDIATE on SQLite) on the writer and commits it. It does
// not go through the SQLite writer goroutine: use write for the store's own writes.
func (s *sqlStore) inTx(ctx context.Context, fn func(tx DBTX) error) error {
	return s.runTx(ctx, false, fn)
}

// runTx runs fn in a transaction on the writer, with prepared statements if prep.
func (s *sqlStore) runTx(ctx context.Context, prep bool, fn func(tx DBTX) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var q DBTX = tx
	if prep {
		q = s.inTxQ(tx)
	}
	if err := fn(q); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// write runs fn as one transaction: on SQLite in the writer's next group, on PostgreSQL
// at once. It returns once that transaction is committed (nil) or fn's changes are undone.
func (s *sqlStore) write(ctx context.Context, fn txFunc) error {
	switch {
	case s.ext != nil:
		return s.ext(ctx, fn)
	case s.writer == nil:
		return s.inTx(ctx, fn)
	}
	_, err := s.writer.do(ctx, fn)
	return err
}

// serial reports whether writes go through one writer, one transaction at a time (SQLite).
func (s *sqlStore) serial() bool { return s.writer != nil || s.ext != nil }

// runWrites runs a group of writes in one transaction. If one of them fails, the group is
// rolled back and each write runs again in its own transaction, so that a write's failure
// undoes only its own changes (failures are rare: conflicts and bad states).
func (s *sqlStore) runWrites(calls []*call[txFunc, struct{}]) {
	defer s.prepareWanted()
	if len(calls) > 1 {
		ok := func() bool {
			tx, err := s.wdb.BeginTx(context.Background(), nil)
			if err != nil {
				return false
			}
			q := s.inTxQ(tx)
			for _, c := range calls {
				if err := c.req(q); err != nil {
					_ = tx.Rollback()
					return false
				}
			}
			return tx.Commit() == nil
		}()
		if ok {
			return
		}
	}
	for _, c := range calls {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			continue
		}
		c.err = s.runTx(c.ctx, true, c.req)
	}
}

// ---- prepared statements ----

type stmtKey struct {
	db    *sql.DB
	query string
}

// stmt returns query prepared on db, preparing it on first use.
func (s *sqlStore) stmt(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{db, query}
	if st, ok := s.stmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(k, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// read is what reads run on.
func (s *sqlStore) read() DBTX {
	if !s.prepare {
		return s.db
	}
	return prepared{s: s, db: s.db}
}

// inTxQ is what the statements of transaction tx (on the writer) run on.
func (s *sqlStore) inTxQ(tx *sql.Tx) DBTX {
	if !s.prepare {
		return tx
	}
	return prepared{s: s, db: s.wdb, tx: tx}
}

// prepared runs queries as prepared statements of db, in tx when set. A query that cannot
// be prepared runs unprepared, to report its error.
type prepared struct {
	s  *sqlStore
	db *sql.DB
	tx *sql.Tx
}

func (p prepared) get(ctx context.Context, query string) *sql.Stmt {
	if p.tx != nil {
		// Preparing on the writer would wait for the connection the transaction holds:
		// use the statement if it is prepared already, else ask the writer to prepare it
		// after this transaction.
		st, ok := p.s.stmts.Load(stmtKey{p.db, query})
		if !ok {
			p.s.toPrepare.Store(query, true)
			return nil
		}
		return p.tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	st, err := p.s.stmt(ctx, p.db, query)
	if err != nil {
		return nil
	}
	return st
}

// prepareWanted prepares on the writer the statements its transactions ran unprepared. The
// writer goroutine calls it between transactions.
func (s *sqlStore) prepareWanted() {
	s.toPrepare.Range(func(k, _ any) bool {
		s.toPrepare.Delete(k)
		_, _ = s.stmt(context.Background(), s.wdb, k.(string))
		return true
	})
}

func (p prepared) plain() DBTX {
	if p.tx != nil {
		return p.tx
	}
	return p.db
}

func (p prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.get(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.plain().ExecContext(ctx, query, args...)
}

func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.plain().QueryContext(ctx, query, args...)
}

func (p prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.plain().QueryRowContext(ctx, query, args...)
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
func classify(ctx context.Context, q DBTX, id, op string) error {
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
	 weekly_hours_saved, weekly_savings, created_at, updated_at, job_id, enqueued_at)
VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $9, $10, $11)
ON CONFLICT (id) DO NOTHING
RETURNING ` + workflowColumns

func (s *sqlStore) CreateWorkflow(ctx context.Context, nw NewWorkflow) (Workflow, error) {
	const op = "create"
	if nw.ID == "" {
		id, err := NewID()
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
	case len(nw.IdempotencyKey) > MaxIdempotencyKey:
		return Workflow{}, s.fail(op, nw.ID, fmt.Errorf("idempotency key longer than %d bytes: %w", MaxIdempotencyKey, ErrInvalid))
	}
	inputs := nw.Inputs
	if len(inputs) == 0 {
		inputs = json.RawMessage("{}")
	}
	if !json.Valid(inputs) {
		return Workflow{}, s.fail(op, nw.ID, fmt.Errorf("inputs are not valid JSON: %w", ErrInvalid))
	}
	nw.Inputs = inputs
	if (nw.JobID != "" || nw.Also != nil) && !s.serial() {
		return Workflow{}, s.fail(op, nw.ID, fmt.Errorf("a job id or Also needs a SQLite store: %w", ErrInvalid))
	}
	req := createReq{nw: nw, at: s.clock()}
	if nw.IdempotencyKey != "" {
		return s.createKeyed(ctx, req)
	}
	w, err := s.creates.do(ctx, req)
	if err != nil {
		return Workflow{}, s.fail(op, nw.ID, err)
	}
	return w, nil
}

// createReq is one CreateWorkflow, validated, with its id and creation time.
type createReq struct {
	nw NewWorkflow
	at time.Time
}

// also runs the request's NewWorkflow.Also, if any, in tx.
func (r createReq) also(tx DBTX) error {
	if r.nw.Also == nil {
		return nil
	}
	return r.nw.Also(tx)
}

// enqueuedAt is the enqueued_at stored with the new workflow: its creation time when its job
// is enqueued in the same transaction, else NULL.
func (r createReq) enqueuedAt(d dialect) any {
	if r.nw.JobID == "" {
		return nil
	}
	return d.ts(r.at)
}

// jobID is the job_id stored with the new workflow (empty for none).
func (r createReq) jobID() string { return r.nw.JobID }

// insertWorkflow inserts one workflow (ErrExists when its id is taken) and reads it back
// (PostgreSQL, which normalizes the inputs' jsonb).
func insertWorkflow(ctx context.Context, d dialect, q DBTX, r createReq) (Workflow, error) {
	nw := r.nw
	w, err := scanWorkflow(q.QueryRowContext(ctx, insertWorkflowSQL,
		nw.ID, nw.AgentID, nw.Type, nw.Mode, string(nw.Inputs), nw.TotalSteps,
		nw.WeeklyHoursSaved, nw.WeeklySavings, d.ts(r.at), r.jobID(), r.enqueuedAt(d)))
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, ErrExists
	}
	return w, err
}

// insertWorkflowsSQL inserts many workflows in one statement (PostgreSQL).
const insertWorkflowsSQL = `INSERT INTO workflows
	(id, agent_id, type, mode, inputs, status, total_steps,
	 weekly_hours_saved, weekly_savings, created_at, updated_at)
SELECT v.id, v.agent_id, v.type, v.mode, v.inputs::jsonb, 'queued', v.total_steps,
	v.weekly_hours_saved, v.weekly_savings, v.created_at, v.created_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
	$7::float8[], $8::float8[], $9::timestamptz[])
	AS v(id, agent_id, type, mode, inputs, total_steps, weekly_hours_saved, weekly_savings, created_at)
ON CONFLICT (id) DO NOTHING
RETURNING ` + workflowColumns

// insertWorkflowsSQLite returns the statement that inserts n workflows on SQLite (one
// statement instead of one per row saves, besides the statements, the statement journal's
// copy of every page each row touches), with sqliteInsertArgs bound values per row (binding
// costs less than the JSON document SQLite took apart before). It returns only the ids of the
// rows inserted (the others' ids were taken): an inserted row reads back as
// createReq.inserted says, so the writer goroutine, the embedded API's critical path, reads
// no row back. Each n is one statement, prepared once and kept (n ≤ maxBatch).
func insertWorkflowsSQLite(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO workflows
	(id, agent_id, type, mode, inputs, status, total_steps,
	 weekly_hours_saved, weekly_savings, created_at, updated_at, job_id, enqueued_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString("\nON CONFLICT (id) DO NOTHING\nRETURNING id")
	return b.String()
}

// sqliteInsertArgs is the number of values insertWorkflowsSQLite binds per row.
const sqliteInsertArgs = 12

// sqliteInsert is one insertWorkflowsSQLite statement: the requests and its arguments,
// made before the writer goroutine runs it.
type sqliteInsert struct {
	reqs  []createReq
	query string
	args  []any
}

func newSQLiteInsert(reqs []createReq) sqliteInsert {
	args := make([]any, 0, len(reqs)*sqliteInsertArgs)
	for _, r := range reqs {
		nw, at := r.nw, r.at.UnixMicro()
		var enqueuedAt any // NULL: in the outbox
		if nw.JobID != "" {
			enqueuedAt = at
		}
		args = append(args, nw.ID, nw.AgentID, nw.Type, nw.Mode, string(nw.Inputs), nw.TotalSteps,
			nw.WeeklyHoursSaved, nw.WeeklySavings, at, at, nw.JobID, enqueuedAt)
	}
	return sqliteInsert{reqs: reqs, query: insertWorkflowsSQLite(len(reqs)), args: args}
}

// run runs the statement in tx and returns the workflows it inserted (the others' ids were
// taken).
func (in sqliteInsert) run(ctx context.Context, tx DBTX) ([]Workflow, error) {
	ids := make(map[string]bool, len(in.reqs))
	if err := addIDs(ctx, tx, ids, in.query, in.args...); err != nil {
		return nil, err
	}
	ws := make([]Workflow, 0, len(ids))
	for _, r := range in.reqs {
		if ids[r.nw.ID] {
			ws = append(ws, r.inserted())
		}
	}
	return ws, nil
}

// one runs the statement of one workflow in tx and returns it (ErrExists when its id is taken).
func (in sqliteInsert) one(ctx context.Context, tx DBTX) (Workflow, error) {
	ws, err := in.run(ctx, tx)
	switch {
	case err != nil:
		return Workflow{}, err
	case len(ws) == 0:
		return Workflow{}, ErrExists
	}
	return ws[0], nil
}

// inserted is the workflow of r as its row reads back just after it was inserted.
func (r createReq) inserted() Workflow {
	nw := r.nw
	w := Workflow{ID: nw.ID, AgentID: nw.AgentID, Type: nw.Type, Mode: nw.Mode,
		Inputs: append(json.RawMessage(nil), nw.Inputs...), Status: StatusQueued,
		TotalSteps: nw.TotalSteps, JobID: nw.JobID, WeeklyHoursSaved: nw.WeeklyHoursSaved,
		WeeklySavings: nw.WeeklySavings, CreatedAt: r.at, UpdatedAt: r.at}
	if nw.JobID != "" {
		w.EnqueuedAt = r.at
	}
	return w
}

// alsoInserted runs, in tx, the Also of each call of batch whose workflow is among those
// inserted (ws).
func alsoInserted(tx DBTX, batch []*call[createReq, Workflow], ws []Workflow) error {
	inserted := make(map[string]bool, len(ws))
	for _, w := range ws {
		inserted[w.ID] = true
	}
	for _, c := range batch {
		if inserted[c.req.nw.ID] {
			if err := c.req.also(tx); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertIn inserts one workflow in tx (ErrExists when its id is taken): on SQLite with the
// statement of insertWorkflowsSQLite, which reads no row back, as every SQLite insert does.
func (s *sqlStore) insertIn(ctx context.Context, tx DBTX, r createReq) (Workflow, error) {
	if !s.serial() {
		return insertWorkflow(ctx, s.d, tx, r)
	}
	return newSQLiteInsert([]createReq{r}).one(ctx, tx)
}

// createOne inserts one workflow in its own statement.
func (s *sqlStore) createOne(ctx context.Context, r createReq) (Workflow, error) {
	if !s.serial() {
		return insertWorkflow(ctx, s.d, s.db, r)
	}
	in := newSQLiteInsert([]createReq{r})
	var w Workflow
	err := s.write(ctx, func(tx DBTX) error {
		var err error
		if w, err = in.one(ctx, tx); err != nil {
			return err
		}
		return r.also(tx)
	})
	return w, err
}

// insertMany inserts workflows (of distinct ids) with one statement and returns those it
// inserted (the others' ids were taken).
func (s *sqlStore) insertMany(batch []*call[createReq, Workflow]) ([]Workflow, error) {
	ctx := context.Background()
	n := len(batch)
	if s.serial() {
		reqs := make([]createReq, n)
		for i, c := range batch {
			reqs[i] = c.req
		}
		in := newSQLiteInsert(reqs)
		var ws []Workflow
		err := s.write(ctx, func(tx DBTX) error {
			var err error
			if ws, err = in.run(ctx, tx); err != nil {
				return err
			}
			return alsoInserted(tx, batch, ws)
		})
		return ws, err
	}
	var (
		ids, agents, types, modes, inputs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		steps                             = make([]int32, n)
		hours, savings                    = make([]float64, n), make([]float64, n)
		ats                               = make([]time.Time, n)
	)
	for i, c := range batch {
		nw := c.req.nw
		ids[i], agents[i], types[i], modes[i], inputs[i] = nw.ID, nw.AgentID, nw.Type, nw.Mode, string(nw.Inputs)
		steps[i], hours[i], savings[i], ats[i] = int32(nw.TotalSteps), nw.WeeklyHoursSaved, nw.WeeklySavings, c.req.at
	}
	return queryWorkflows(ctx, s.db, insertWorkflowsSQL,
		ids, agents, types, modes, inputs, steps, hours, savings, ats)
}

// runCreates inserts a group of workflows with one statement. A call whose id repeats one
// of the group waits for the next statement; if the statement fails, each workflow is
// inserted alone, so that each call gets its own answer.
func (s *sqlStore) runCreates(calls []*call[createReq, Workflow]) {
	if len(calls) == 1 {
		c := calls[0]
		c.res, c.err = s.createOne(c.ctx, c.req)
		return
	}
	var (
		batch, later []*call[createReq, Workflow]
		seen         = make(map[string]bool, len(calls))
	)
	for _, c := range calls {
		if seen[c.req.nw.ID] {
			later = append(later, c)
			continue
		}
		seen[c.req.nw.ID] = true
		batch = append(batch, c)
	}
	ws, err := s.insertMany(batch)
	inserted := make(map[string]Workflow, len(ws))
	for _, w := range ws {
		inserted[w.ID] = w
	}
	for _, c := range batch {
		switch w, ok := inserted[c.req.nw.ID]; {
		case err != nil:
			c.res, c.err = s.createOne(c.ctx, c.req)
		case ok:
			c.res = w
		default:
			c.err = ErrExists
		}
	}
	if len(later) > 0 {
		s.runCreates(later)
	}
}

func (s *sqlStore) GetWorkflow(ctx context.Context, id string) (Workflow, error) {
	const op = "get"
	w, err := scanWorkflow(s.read().QueryRowContext(ctx,
		`SELECT `+workflowColumns+` FROM workflows WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, s.fail(op, id, ErrNotFound)
	}
	if err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	if err := loadSteps(ctx, s.read(), &w); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	if err := loadMetrics(ctx, s.read(), &w); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	if err := loadRuns(ctx, s.read(), &w); err != nil {
		return Workflow{}, s.fail(op, id, err)
	}
	return w, nil
}

func loadSteps(ctx context.Context, q DBTX, w *Workflow) error {
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

func loadMetrics(ctx context.Context, q DBTX, w *Workflow) error {
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
	q, args, err := s.listQuery(f, limit+1)
	if err != nil {
		return Page{}, s.fail(op, "", err)
	}
	ws, err := queryWorkflows(ctx, s.read(), q, args...)
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

// listQuery returns the query of the newest limit workflows of f (status, agent, type, and
// the cursor of the page before), newest first. Each form reads its rows in list order
// through an index and stops after limit rows, however large the table (TestSQLitePlansSearch).
func (s *sqlStore) listQuery(f ListFilter, limit int) (string, []any, error) {
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
			return "", nil, err
		}
		c, i := arg(s.d.ts(at)), arg(id)
		conds = append(conds, "(created_at < "+c+" OR (created_at = "+c+" AND id < "+i+"))")
	}
	q := `SELECT ` + workflowColumns + ` FROM workflows`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " ORDER BY created_at DESC, id DESC LIMIT " + arg(limit), args, nil
}

func queryWorkflows(ctx context.Context, q DBTX, query string, args ...any) ([]Workflow, error) {
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

// addIDs runs query, which returns one id per row, and adds the ids to set.
func addIDs(ctx context.Context, q DBTX, set map[string]bool, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		set[id] = true
	}
	return rows.Err()
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
	ws, err := queryWorkflows(ctx, s.read(), `SELECT `+workflowColumns+` FROM workflows
		WHERE status = 'queued' AND enqueued_at IS NULL
		ORDER BY created_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, s.fail("list pending enqueue", "", err)
	}
	return ws, nil
}

func (s *sqlStore) CountPendingEnqueue(ctx context.Context) (int64, error) {
	var n int64
	err := s.read().QueryRowContext(ctx, `SELECT COUNT(*) FROM workflows
		WHERE status = 'queued' AND enqueued_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, s.fail("count pending enqueue", "", err)
	}
	return n, nil
}

func (s *sqlStore) MarkEnqueued(ctx context.Context, id, jobID string) error {
	const op = "mark enqueued"
	if jobID == "" {
		return s.fail(op, id, fmt.Errorf("empty job id: %w", ErrInvalid))
	}
	var err error
	if s.marks != nil {
		_, err = s.marks.do(ctx, markReq{id: id, jobID: jobID})
	} else {
		now := s.d.ts(s.clock())
		err = s.write(ctx, func(tx DBTX) error { return markEnqueued(ctx, tx, id, jobID, now) })
	}
	if err != nil {
		return s.fail(op, id, err)
	}
	return nil
}

// markReq is one MarkEnqueued.
type markReq struct{ id, jobID string }

const markEnqueuedSQL = `UPDATE workflows SET job_id = $2, enqueued_at = $3, updated_at = $3
	WHERE id = $1 AND enqueued_at IS NULL`

// markEnqueued marks one workflow enqueued; one already marked is left as it is.
func markEnqueued(ctx context.Context, q DBTX, id, jobID string, now any) error {
	res, err := q.ExecContext(ctx, markEnqueuedSQL, id, jobID, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 1 {
		return nil
	}
	var one int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM workflows WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err // nil: already marked
}

// markManySQL marks many workflows enqueued in one statement (PostgreSQL).
const markManySQL = `UPDATE workflows AS w SET job_id = v.job_id, enqueued_at = $3, updated_at = $3
FROM unnest($1::text[], $2::text[]) AS v(id, job_id)
WHERE w.id = v.id AND w.enqueued_at IS NULL
RETURNING w.id`

// runMarks marks a group of workflows enqueued with one statement (PostgreSQL); the ids it
// did not change are either marked already or missing (ErrNotFound). If the statement
// fails, each is marked alone.
func (s *sqlStore) runMarks(calls []*call[markReq, struct{}]) {
	ctx := context.Background()
	now := s.d.ts(s.clock())
	if len(calls) == 1 {
		c := calls[0]
		c.err = markEnqueued(c.ctx, s.db, c.req.id, c.req.jobID, now)
		return
	}
	ids, jobs := make([]string, len(calls)), make([]string, len(calls))
	for i, c := range calls {
		ids[i], jobs[i] = c.req.id, c.req.jobID
	}
	found, err := func() (map[string]bool, error) {
		m := make(map[string]bool, len(calls))
		if err := addIDs(ctx, s.db, m, markManySQL, ids, jobs, now); err != nil {
			return nil, err
		}
		if len(m) < len(calls) {
			var rest []string
			for _, id := range ids {
				if !m[id] {
					rest = append(rest, id)
				}
			}
			if err := addIDs(ctx, s.db, m, `SELECT id FROM workflows WHERE id = ANY($1::text[])`, rest); err != nil {
				return nil, err
			}
		}
		return m, nil
	}()
	for _, c := range calls {
		switch {
		case err != nil:
			c.err = markEnqueued(c.ctx, s.db, c.req.id, c.req.jobID, now)
		case !found[c.req.id]:
			c.err = ErrNotFound
		}
	}
}

// ---- lifecycle ----

const startAttemptSQL = `UPDATE workflows
	SET status = 'running', attempts = attempts + 1, started_at = $2, updated_at = $2,
	    enqueued_at = COALESCE(enqueued_at, $2)
	WHERE id = $1 AND status IN ('queued', 'running')
	RETURNING ` + workflowColumns

func (s *sqlStore) StartAttempt(ctx context.Context, id string) (Workflow, error) {
	return s.transition(ctx, "start", startAttemptSQL, id)
}

// transition runs query, an UPDATE of workflow id taking ($1 id, $2 now) and returning the
// workflow's columns, and loads the workflow's steps, in one transaction. When the UPDATE
// matches nothing, the error says why (not found, or the status that forbids op).
func (s *sqlStore) transition(ctx context.Context, op, query, id string) (Workflow, error) {
	var w Workflow
	err := s.write(ctx, func(tx DBTX) error {
		var err error
		w, err = scanWorkflow(tx.QueryRowContext(ctx, query, id, s.d.ts(s.clock())))
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
	err := s.write(ctx, func(tx DBTX) error {
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

const retrySQL = `UPDATE workflows
	SET status = 'queued', error = '', job_id = '', enqueued_at = NULL, finished_at = NULL, updated_at = $2
	WHERE id = $1 AND status IN ('failed', 'canceled')
	RETURNING ` + workflowColumns

func (s *sqlStore) RetryWorkflow(ctx context.Context, id string) (Workflow, error) {
	return s.transition(ctx, "retry", retrySQL, id)
}

func (s *sqlStore) DeleteFinishedBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx DBTX) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM workflows
		WHERE status IN ('completed', 'failed', 'canceled') AND finished_at < $1`, s.d.ts(t.UTC()))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
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
	err := s.read().QueryRowContext(ctx, summarizeSQL, s.d.ts(from), s.d.ts(to)).
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
	err := s.write(ctx, func(tx DBTX) error {
		_, err := tx.ExecContext(ctx, saveReportSQL, r.Week, s.d.ts(sm.From), s.d.ts(sm.To),
			sm.Total, sm.Completed, sm.Failed, sm.Canceled, sm.CompletionRate, sm.TotalSavings,
			int64(sm.AvgDuration), s.d.ts(r.GeneratedAt))
		return err
	})
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
	rep, err := scanReport(s.read().QueryRowContext(ctx,
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
	rep, err := scanReport(s.read().QueryRowContext(ctx, `SELECT `+reportColumns+` FROM weekly_reports
		ORDER BY period_end DESC, generated_at DESC, week DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return WeeklyReport{}, s.fail(op, "", ErrNotFound)
	}
	if err != nil {
		return WeeklyReport{}, s.fail(op, "", err)
	}
	return rep, nil
}

// countsSQL counts the workflows finished since $1 in one range of the index by finish time:
// a condition on their status as well would make SQLite read every completed workflow there
// ever was through the status index instead.
const countsSQL = `SELECT
	(SELECT COUNT(*) FROM workflows WHERE created_at >= $1),
	COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 'canceled' THEN 1 ELSE 0 END), 0),
	(SELECT COUNT(*) FROM workflows WHERE status = 'queued'),
	(SELECT COUNT(*) FROM workflows WHERE status = 'running')
FROM workflows WHERE finished_at >= $1`

func (s *sqlStore) CountsSince(ctx context.Context, t time.Time) (Counts, error) {
	c := Counts{Since: t.UTC().Truncate(time.Microsecond)}
	err := s.read().QueryRowContext(ctx, countsSQL, s.d.ts(c.Since)).
		Scan(&c.Accepted, &c.Completed, &c.Failed, &c.Canceled, &c.Queued, &c.Running)
	if err != nil {
		return Counts{}, s.fail("count workflows", "", err)
	}
	return c, nil
}
