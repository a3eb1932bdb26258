package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/redact"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Option configures Open.
type Option func(*options)

type options struct {
	now     func() time.Time
	migrate bool
	lazy    bool
	log     *slog.Logger
	writer  Writer
}

// Writer runs fn in a write transaction of the caller's and returns once that transaction
// has committed (nil) or fn's changes are undone.
type Writer func(ctx context.Context, fn func(tx DBTX) error) error

// WithWriter makes a SQLite store run every write (migrations aside) through w instead of
// its own writer goroutine: for a store that shares its file with another owner of a
// single writer (the embedded queue: sqlitebroker.Broker.InTx), so that the file has one
// writer, and the store's rows and the other owner's can commit in one transaction
// (NewWorkflow.Also). A PostgreSQL store ignores it.
func WithWriter(w Writer) Option {
	return func(o *options) { o.writer = w }
}

// WithClock makes the store read the time from now instead of time.Now
// (for tests of time-dependent callers).
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithoutMigrate makes Open skip applying migrations; call Store.Migrate
// yourself (the `dominion migrate` command does, to print what it applied).
func WithoutMigrate() Option {
	return func(o *options) { o.migrate = false }
}

// Lazy makes Open of a PostgreSQL store succeed while the database cannot be reached, for
// the processes that must start and keep running while it is down (serve, worker,
// dashboard): until the database has answered and the migrations are applied, every call
// fails at once with an error IsUnavailable reports, without touching the database, so
// nothing is half-written. Meanwhile the store tries to reach it with capped exponential
// backoff and jitter (100 ms doubling up to 5 s), applies the migrations when it first
// answers, and logs the outage and the return (WithLogger). A SQLite store ignores Lazy.
func Lazy() Option {
	return func(o *options) { o.lazy = true }
}

// WithLogger makes a PostgreSQL store log one line when its database becomes unreachable and
// one when it is back (default: nothing is logged).
func WithLogger(log *slog.Logger) Option {
	return func(o *options) {
		if log != nil {
			o.log = log
		}
	}
}

// The PostgreSQL pool's size.
const postgresMaxConns = 16

// Open opens the store dsn names and applies pending migrations (with Lazy, when PostgreSQL
// first answers).
//
// ParseDSN says which backend dsn selects and refuses what is neither: a
// postgres:// or postgresql:// URL or libpq's keyword/value form selects
// PostgreSQL; a file path SQLite (an optional "sqlite:" or "sqlite://" prefix is
// removed; a "file:" URI and query parameters are passed to the
// modernc.org/sqlite driver).
// SQLite runs in WAL mode with a busy timeout, foreign keys on and
// write-locking (IMMEDIATE) transactions.
//
// Errors never contain the DSN's password.
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	o := options{now: time.Now, migrate: true, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	var s *sqlStore
	dialect, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if dialect == DialectPostgres {
		s, err = openPostgres(dsn, o)
	} else {
		s, err = openSQLite(dsn, o)
		if err == nil {
			s.ext = o.writer
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.open(ctx, o); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.start()
	return s, nil
}

// open reaches the database and applies the migrations; a Lazy PostgreSQL store that cannot
// reach it starts waiting for it instead (the first failure starts the wait: wentDown).
func (s *sqlStore) open(ctx context.Context, o options) error {
	if s.link != nil {
		if err := s.connect(ctx); err != nil && !(o.lazy && IsUnavailable(err)) {
			return err
		}
		return nil
	}
	if err := s.Ping(ctx); err != nil {
		return err
	}
	if o.migrate {
		if _, err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	return nil
}

func openPostgres(dsn string, o options) (*sqlStore, error) {
	dsn = postgresForm(dsn)
	red := redact.New([]string{dsn})
	cfg, err := parsePostgres(dsn, red)
	if err != nil {
		return nil, err
	}
	l := newLink(o)
	db := sql.OpenDB(gate{Connector: stdlib.GetConnector(*cfg), ready: &l.ready})
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &sqlStore{db: db, wdb: db, d: postgresDialect(), now: o.now, red: red, desc: redact.URL(dsn), link: l}, nil
}

// parsePostgres reads dsn, which ParseDSN gives to PostgreSQL, in postgresForm, with pgx;
// its error shows none of dsn's secrets (red is dsn's redactor).
func parsePostgres(dsn string, red redact.Redactor) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, red.Error(&dsnError{where: redact.URL(dsn), err: err})
	}
	return cfg, nil
}

// dsnError is pgx's error about a DSN it cannot parse, less what pgx quotes of the DSN: its
// copy of the whole DSN (pgx redacts it only as far as it can tell the password in a
// malformed one: password=pass word) and what its reason quotes (a port, a value, the URL
// net/url could not parse). It wraps pgx's error.
type dsnError struct {
	where string // the DSN, redacted
	err   error
}

func (e *dsnError) Error() string {
	return "store: parse postgres dsn " + e.where + ": " + redact.ElideQuotes(pgxReason(e.err))
}

func (e *dsnError) Unwrap() error { return e.err }

// pgxReason returns pgx's error without the DSN that pgx's ParseConfigError starts with
// ("cannot parse `dsn`: reason (cause)").
func pgxReason(err error) string {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return err.Error()
	}
	msg, cause := pce.Error(), ""
	if inner := pce.Unwrap(); inner != nil {
		cause = " (" + inner.Error() + ")"
		msg = strings.TrimSuffix(msg, cause)
	}
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		msg = msg[i+len("`: "):]
	}
	return msg + cause
}
