package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/redact"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/store/storetest"
)

// pg is this package's PostgreSQL server: started by the first test that
// needs it, stopped by TestMain. Each test gets its own database.
var pg struct {
	once sync.Once
	srv  *testenv.Postgres
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.srv != nil {
		pg.srv.Close()
	}
	os.Exit(code)
}

func postgresServer(t *testing.T) *testenv.Postgres {
	t.Helper()
	pg.once.Do(func() { pg.srv, pg.err = testenv.NewPostgres() })
	if pg.err != nil {
		t.Fatal(pg.err)
	}
	return pg.srv
}

func open(t *testing.T, dsn string, opts ...store.Option) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sqliteDSN(t *testing.T) string { return filepath.Join(t.TempDir(), "dominion.db") }

func postgresDSN(t *testing.T) string { return postgresServer(t).NewDatabase(t) }

// backends runs fn once per backend, in parallel, with a function giving a
// DSN of a fresh database.
func backends(t *testing.T, fn func(t *testing.T, newDSN func(*testing.T) string)) {
	for name, newDSN := range map[string]func(*testing.T) string{"sqlite": sqliteDSN, "postgres": postgresDSN} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newDSN)
		})
	}
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(t.Context(), sqliteDSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(t.Context(), postgresDSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, newDSN func(*testing.T) string) {
		dsn := newDSN(t)
		s := open(t, dsn, store.WithoutMigrate())
		applied, err := s.Migrate(t.Context())
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if want := []store.Migration{{Version: 1, Name: "init"}, {Version: 2, Name: "attempt_metrics"}, {Version: 3, Name: "idempotency_keys"}, {Version: 4, Name: "step_runs"}}; !reflect.DeepEqual(applied, want) {
			t.Fatalf("Migrate applied %v, want %v", applied, want)
		}
		if applied, err = s.Migrate(t.Context()); err != nil || len(applied) != 0 {
			t.Fatalf("second Migrate applied %v, %v; want nothing", applied, err)
		}
		// A store opened later on the same database finds the schema current.
		s2 := open(t, dsn)
		if applied, err = s2.Migrate(t.Context()); err != nil || len(applied) != 0 {
			t.Fatalf("Migrate after reopen applied %v, %v", applied, err)
		}
	})
}

// TestUpgradeKeepsMetrics opens a database at schema version 1 (made with the first
// migration's own SQL, holding a workflow and its metric): Open applies the later migrations,
// the metric is kept, and the new metric statuses can be stored.
func TestUpgradeKeepsMetrics(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, newDSN func(*testing.T) string) {
		dsn := newDSN(t)
		dialect, driver, dbDSN := "sqlite", "sqlite", dsn
		var at any = time.Now().UnixMicro()
		timeType := "INTEGER"
		if strings.HasPrefix(dsn, "postgres") {
			dialect, driver, at, timeType = "postgres", "pgx", time.Now(), "TIMESTAMPTZ"
		}
		initSQL, err := os.ReadFile(filepath.Join("migrations", dialect, "0001_init.sql"))
		if err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open(driver, dbDSN)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			string(initSQL),
			`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at ` + timeType + ` NOT NULL)`,
			`INSERT INTO schema_migrations VALUES (1, 'init', $1)`,
			`INSERT INTO workflows (id, agent_id, type, status, attempts, created_at, updated_at, started_at, finished_at)
			VALUES ('old', 'a', 't', 'completed', 1, $1, $1, $1, $1)`,
			`INSERT INTO workflow_metrics (workflow_id, attempt, status, duration_ns, savings, recorded_at)
			VALUES ('old', 1, 'completed', 1500000000, 33.33, $1)`,
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{at}
			}
			if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
				t.Fatalf("version 1 database: %v\n%s", err, q)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		s := open(t, dsn)
		old, err := s.GetWorkflow(t.Context(), "old")
		if err != nil || len(old.Metrics) != 1 || old.Metrics[0].Status != store.StatusCompleted ||
			old.Metrics[0].Duration != 1500*time.Millisecond || old.Metrics[0].Savings != 33.33 {
			t.Fatalf("after the upgrade: %+v, %v", old, err)
		}
		w, err := s.CreateWorkflow(t.Context(), store.NewWorkflow{AgentID: "a", Type: "t"})
		if err == nil {
			_, err = s.StartAttempt(t.Context(), w.ID)
		}
		if err == nil {
			err = s.RecordRetriedAttempt(t.Context(), w.ID, store.Result{Attempt: 1, Status: store.StatusRetried, Error: "x"})
		}
		if err != nil {
			t.Fatalf("a retried metric after the upgrade: %v", err)
		}
		if g, err := s.GetWorkflow(t.Context(), w.ID); err != nil || len(g.Metrics) != 1 || g.Metrics[0].ID <= old.Metrics[0].ID {
			t.Fatalf("new metric after the upgrade: %+v, %v", g.Metrics, err)
		}
	})
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, newDSN func(*testing.T) string) {
		dsn := newDSN(t)
		const n = 6
		stores := make([]store.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = store.Open(t.Context(), dsn) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Open %d: %v", i, err)
			}
			t.Cleanup(func() { _ = stores[i].Close() })
		}
		if _, err := stores[0].CreateWorkflow(t.Context(), store.NewWorkflow{AgentID: "a", Type: "t"}); err != nil {
			t.Fatalf("CreateWorkflow: %v", err)
		}
	})
}

func TestWithClock(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, newDSN func(*testing.T) string) {
		at := time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.FixedZone("X", 3600))
		s := open(t, newDSN(t), store.WithClock(func() time.Time { return at }))
		w, err := s.CreateWorkflow(t.Context(), store.NewWorkflow{AgentID: "a", Type: "t"})
		if err != nil {
			t.Fatal(err)
		}
		want := at.UTC().Truncate(time.Microsecond)
		if !w.CreatedAt.Equal(want) || w.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt = %v, want %v", w.CreatedAt, want)
		}
		c, err := s.CountsSince(t.Context(), want)
		if err != nil || c.Accepted != 1 {
			t.Fatalf("CountsSince = %+v, %v", c, err)
		}
	})
}

func TestOpenSQLiteForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, form := range []string{"%s", "sqlite:%s", "sqlite://%s", "%s?_pragma=cache_size(-4000)"} {
		path := filepath.Join(dir, fmt.Sprintf("db%d.sqlite", i))
		s := open(t, fmt.Sprintf(form, path))
		if s.Dialect() != "sqlite" {
			t.Fatalf("%s: dialect %s", form, s.Dialect())
		}
		if _, err := s.CreateWorkflow(t.Context(), store.NewWorkflow{AgentID: "a", Type: "t"}); err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: database file not at %s: %v", form, path, err)
		}
		// WAL mode: the write-ahead log sits next to the database while it is open.
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Fatalf("%s: no WAL file: %v", form, err)
		}
	}
	for _, bad := range []string{"", "sqlite:", "  "} {
		_, err := store.Open(t.Context(), bad)
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Open(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	_, err := store.Open(t.Context(), filepath.Join(dir, "no", "such", "dir", "db.sqlite"))
	if err == nil {
		t.Fatalf("Open in a missing directory succeeded")
	}
}

func TestPostgresErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	srv := postgresServer(t)
	dsn := srv.NewDatabase(t)
	const secret = "s3cret-Pa55w0rd"

	withPassword := strings.Replace(dsn, ":"+srv.Password()+"@", ":"+secret+"@", 1)
	if withPassword == dsn {
		t.Fatalf("DSN %s does not hold the password", redact.URL(dsn))
	}
	closedPort := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", secret)
	cases := map[string]string{
		"wrong password":            withPassword,
		"password in query":         strings.Replace(dsn, "postgres:"+srv.Password()+"@", "postgres@", 1) + "&password=" + secret,
		"unreachable server":        closedPort,
		"malformed port":            "postgres://postgres:" + secret + "@127.0.0.1:notaport/db",
		"malformed url":             "postgresql://postgres:" + secret + "@[::1/db",
		"escaped password":          strings.Replace(withPassword, secret, "s3cret%2FPa55", 1),
		"unknown sslmode, password": "postgres://u:" + secret + "@127.0.0.1/db?sslmode=bogus",
	}
	for name, d := range cases {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		s, err := store.Open(ctx, d)
		cancel()
		if err == nil {
			_ = s.Close()
			t.Fatalf("%s: Open succeeded", name)
		}
		msg := err.Error()
		for _, leak := range []string{secret, "s3cret/Pa55", "s3cret%2FPa55", srv.Password()} {
			if strings.Contains(msg, leak) {
				t.Fatalf("%s: error shows the password: %s", name, msg)
			}
		}
		if !strings.Contains(msg, "store:") {
			t.Fatalf("%s: error lacks context: %s", name, msg)
		}
		t.Logf("%s: %s", name, msg)
	}

	// The store's description is redacted too.
	s := open(t, dsn)
	if desc := fmt.Sprint(s); strings.Contains(desc, srv.Password()) || !strings.Contains(desc, "xxxxx") {
		t.Fatalf("store prints as %q", desc)
	}
}
