package sqlitebroker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codex-dominion/dominion/queue"

	"modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options tune a Broker. The zero value is usable.
type Options struct {
	// MaxDead caps the dead jobs kept per queue; the oldest go first. Default 100000.
	MaxDead int
	// PollInterval is how often a waiting Fetch checks whether another process wrote to the
	// file (PRAGMA data_version, a cheap read). Default 25ms.
	PollInterval time.Duration
	// BusyTimeout is how long a statement waits for a lock held by another process before
	// failing with "database is locked". Default 5s.
	BusyTimeout time.Duration
	// Logger receives the broker's warnings (recovered leases, wake-up errors). Default
	// slog.Default().
	Logger *slog.Logger
}

const (
	defaultMaxDead      = 100000
	defaultPollInterval = 25 * time.Millisecond
	defaultBusyTimeout  = 5 * time.Second
	defaultLease        = 30 * time.Second
	// housekeepingBatch bounds the rows one Fetch promotes, recovers or deletes per kind, so
	// that a backlog of expired results never makes one transaction long.
	housekeepingBatch = 1000
	// readers is the size of the read-only connection pool.
	readers = 4
)

func (o Options) withDefaults() Options {
	if o.MaxDead <= 0 {
		o.MaxDead = defaultMaxDead
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = defaultBusyTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Broker is a queue.Broker on one SQLite file. It is safe for concurrent use, and several
// Brokers (in one process or several) may share a file.
type Broker struct {
	path string
	opts Options
	log  *slog.Logger

	w     *sql.DB // the one writer connection: every write goes through it, in turn
	r     *sql.DB // read-only connections
	wstmt map[string]*sql.Stmt
	rstmt map[string]*sql.Stmt
	// callerStmts are the statements of InTx callers, prepared on w after their first use.
	callerStmts callerStmts

	ops     chan *writeOp // write operations, to the writer goroutine
	wake    signal        // closed and replaced when a job may have become available
	waiters atomic.Int64  // Fetch calls waiting on wake
	// written is closed and replaced after a commit, or a write of another process, while
	// eventWaiters (event streams waiting on it) is not zero.
	written      signal
	eventWaiters atomic.Int64
	done         chan struct{}
	bg           sync.WaitGroup
	closeMu      sync.Mutex
	closed       bool
}

var _ queue.Broker = (*Broker)(nil)

// errClosed is returned by calls made after Close.
var errClosed = errors.New("sqlitebroker: broker is closed")

// Open opens (creating it if needed) the queue database at path and brings its schema up to
// date. A file that is not a SQLite database, that another process keeps locked beyond
// BusyTimeout, or that cannot be written gives an error naming the file.
func Open(ctx context.Context, path string, opts Options) (*Broker, error) {
	opts = opts.withDefaults()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: open %s: %w", path, err)
	}
	b := &Broker{path: abs, opts: opts, log: opts.Logger, done: make(chan struct{}), ops: make(chan *writeOp)}
	b.wake.init()
	b.written.init()
	if err := b.open(ctx); err != nil {
		_ = b.closeDBs()
		return nil, fmt.Errorf("sqlitebroker: open %s: %w", abs, explain(err, opts.BusyTimeout))
	}
	b.bg.Add(1)
	go b.writeLoop()
	return b, nil
}

// open connects the writer, migrates the schema, connects the readers and prepares every
// query.
func (b *Broker) open(ctx context.Context) error {
	busy := b.opts.BusyTimeout.Milliseconds()
	w, err := sql.Open("sqlite", dsn(b.path,
		fmt.Sprintf("_pragma=busy_timeout(%d)", busy),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=cache_size(-16000)",
		"_pragma=temp_store(memory)",
		"_pragma=recursive_triggers(1)", // dependents canceled in cascade (schema_011.sql)
		// The queue's tables have no foreign keys; the tables of InTx callers may (the
		// workflow store's cascade on delete).
		"_pragma=foreign_keys(1)",
		"_txlock=immediate"))
	if err != nil {
		return err
	}
	b.w = w
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := checkWAL(ctx, w); err != nil {
		return err
	}
	// From here on the writer waits for other processes in begin, not in SQLite's busy
	// handler: see begin.
	if _, err := w.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		return err
	}
	if err := migrate(ctx, w, b.begin); err != nil {
		return err
	}
	r, err := sql.Open("sqlite", dsn(b.path,
		fmt.Sprintf("_pragma=busy_timeout(%d)", busy),
		"_pragma=query_only(1)",
		"_pragma=cache_size(-8000)"))
	if err != nil {
		return err
	}
	b.r = r
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxIdleTime(0)
	return b.prepare(ctx)
}

// explain adds to a driver error what it most likely means for the queue file.
func explain(err error, busyTimeout time.Duration) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	var hint string
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		hint = "the file is not a SQLite database or is damaged: restore it from a backup, or move it away to start with an empty queue"
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		hint = fmt.Sprintf("another process kept the file locked for longer than the busy timeout (%s)", busyTimeout)
	case sqlite3.SQLITE_CANTOPEN:
		hint = "cannot open or create the file: check that its directory exists and is writable"
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
		hint = "the file or its directory cannot be written"
	case sqlite3.SQLITE_FULL:
		hint = "the disk is full"
	default:
		return err
	}
	return fmt.Errorf("%w: %s", err, hint)
}

// dsn builds the driver's data source name for the file at abs with the given parameters.
func dsn(abs string, params ...string) string {
	u := url.URL{Path: abs}
	s := "file:" + u.EscapedPath() + "?"
	for i, p := range params {
		if i > 0 {
			s += "&"
		}
		s += p
	}
	return s
}

// checkWAL opens the writer connection (which reads the file header: a file that is not a
// database fails here) and checks that the journal is in WAL mode.
func checkWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal (is the file on a file system without shared memory?)", mode)
	}
	// A read of the schema fails on a corrupt header that journal_mode tolerated.
	var n int
	return db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
}

// writeQueries are prepared on the writer connection.
func writeQueries() []string {
	return []string{
		"ensure-queue", "job-exists", "insert-job", "insert-jobs", "hold-unique", "min-due", "promote-due",
		"recover-expired", "expire-deadlines", "delete-expired", "take", "finish", "add-count", "add-counters",
		"trim-dead", "front-of-queue", "requeue", "upsert-worker", "extend-leases",
		"delete-stale-workers", "delete-worker", "job-state", "cancel-now", "cancel-all", "cancel-request",
		"retry-job", "retry-all", "delete-job", "delete-all", "set-paused", "queue-exists",
		"remove-queue-jobs", "remove-queue-uniques", "remove-queue-counts", "remove-queue",
		"record-sample", "trim-history", "set-progress", "subscribe", "unsubscribe", "last-event",
		"events-idle", "events-on-insert", "events-on-update", "events-on-trim",
		"events-off-insert", "events-off-update", "events-off-trim",
		"queue-limits", "set-limits", "set-queue-tat", "running-by-key", "key-tats", "set-key-tat",
		"trim-key-tats", "pending-candidates", "take-rows", "remove-queue-rate-keys",
		"insert-graph-job", "parent-state", "add-child", "mark-parent", "batch-sealed", "open-batch",
		"trim-batches", "seal-batch", "savepoint", "rollback-to-savepoint", "release-savepoint",
		"cascade-last", "cascade-cancel", "cascade-trim",
	}
}

// readQueries are prepared on the read-only pool.
func readQueries() []string {
	return []string{
		"get-job", "list-jobs", "list-pending", "list-queues", "list-counts", "oldest-pending", "list-workers",
		"list-samples", "read-events", "get-limits", "get-batch",
	}
}

func (b *Broker) prepare(ctx context.Context) error {
	queries, err := parseQueries()
	if err != nil {
		return err
	}
	b.wstmt = make(map[string]*sql.Stmt)
	b.rstmt = make(map[string]*sql.Stmt)
	for _, set := range []struct {
		db    *sql.DB
		names []string
		into  map[string]*sql.Stmt
	}{{b.w, writeQueries(), b.wstmt}, {b.r, readQueries(), b.rstmt}} {
		for _, name := range set.names {
			q, ok := queries[name]
			if !ok {
				return fmt.Errorf("query %q missing from queries.sql", name)
			}
			st, err := set.db.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare %s: %w", name, err)
			}
			set.into[name] = st
		}
	}
	return nil
}

// Path returns the absolute path of the database file.
func (b *Broker) Path() string { return b.path }

// Ping checks that the database answers.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitebroker: ping %s: %w", b.path, err)
	}
	var one int
	if err := b.r.QueryRowContext(ctx, "SELECT 1 FROM sqlite_schema LIMIT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlitebroker: ping %s: %w", b.path, err)
	}
	return nil
}

// Close stops the broker's background work and closes its connections. Fetch calls waiting
// at that moment return an error.
func (b *Broker) Close() error {
	b.closeMu.Lock()
	if b.closed {
		b.closeMu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	b.closeMu.Unlock()
	b.bg.Wait()
	if err := b.closeDBs(); err != nil {
		return fmt.Errorf("sqlitebroker: close %s: %w", b.path, err)
	}
	return nil
}

func (b *Broker) closeDBs() error {
	var errs []error
	for _, st := range b.wstmt {
		errs = append(errs, st.Close())
	}
	errs = append(errs, b.closeCallerStmts()...)
	for _, st := range b.rstmt {
		errs = append(errs, st.Close())
	}
	if b.r != nil {
		errs = append(errs, b.r.Close())
	}
	if b.w != nil {
		errs = append(errs, b.w.Close())
	}
	return errors.Join(errs...)
}

// wtx is one write operation's view of the write transaction, with the prepared statements.
// Its statements run to completion whatever the operation's context: interrupting one would
// roll back the whole transaction, which other operations share.
type wtx struct {
	ctx context.Context
	tx  *sql.Tx
	b   *Broker
}

func (t *wtx) stmt(name string) *sql.Stmt {
	return t.tx.StmtContext(t.ctx, t.b.wstmt[name])
}

func (t *wtx) exec(name string, args ...any) (int64, error) {
	res, err := t.stmt(name).ExecContext(t.ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

func (t *wtx) query(name string, args ...any) (*sql.Rows, error) {
	rows, err := t.stmt(name).QueryContext(t.ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows, nil
}

// queryRow scans the single row of a query; found is false when there is none.
func (t *wtx) queryRow(name string, args []any, dest ...any) (found bool, err error) {
	err = t.stmt(name).QueryRowContext(t.ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	return true, nil
}
