package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/redact"

	"github.com/codex-dominion/dominion/store"
)

func TestParseDSN(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]string{
		"postgres://u:pw@db:5432/x":                     store.DialectPostgres,
		"PostgreSQL://db/x":                             store.DialectPostgres,
		"host=db port=5432 user=u password=pw dbname=x": store.DialectPostgres,
		"  dbname = x host=db":                          store.DialectPostgres,
		"data/dominion.db":                              store.DialectSQLite,
		"/var/lib/dominion/dominion.db?_pragma=foo(1)":  store.DialectSQLite,
		`C:\dominion\data\dominion.db`:                  store.DialectSQLite,
		"sqlite:data/x.db":                              store.DialectSQLite,
		"sqlite:///tmp/x.db":                            store.DialectSQLite,
		"file:data/x.db?mode=ro":                        store.DialectSQLite,
		"./a=b.db":                                      store.DialectSQLite,
		"mysql://root:hunter2@db/x":                     "",
		"redis://:hunter2@localhost:6379/0":             "",
		"root:hunter2@db:5432/x":                        "",
		"//root:hunter2@db/x":                           "",
		"data/x.db\x00":                                 "",
		"":                                              "",
		"1nvalid-scheme://root:hunter2@db/x":            "",
	} {
		got, err := store.ParseDSN(dsn)
		if want == "" {
			if err == nil || !errors.Is(err, store.ErrInvalid) {
				t.Errorf("ParseDSN(%q) = %q, %v; want ErrInvalid", dsn, got, err)
				continue
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("ParseDSN(%q) error shows the password: %v", dsn, err)
			}
			if named := strings.Contains(err.Error(), "postgres://") && strings.Contains(err.Error(), "sqlite:"); !named && !strings.ContainsRune(dsn, 0) {
				t.Errorf("ParseDSN(%q) error does not name the supported forms: %v", dsn, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseDSN(%q) = %q, %v; want %q", dsn, got, err, want)
		}
	}
}

// TestOpenNeverMakesAFileOfAConnectionString: a DSN that is a connection string of an
// unsupported kind is refused without creating anything in the working directory, and the
// error names no password.
func TestOpenNeverMakesAFileOfAConnectionString(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, dsn := range []string{
		"mysql://root:hunter2@127.0.0.1:1/x",
		"root:hunter2@127.0.0.1:1/x",
		"host=127.0.0.1 port=1 user=u password=hunter2 dbname=x connect_timeout=2 sslmode=disable",
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		s, err := store.Open(ctx, dsn)
		cancel()
		if err == nil {
			_ = s.Close()
			t.Fatalf("Open(%s) succeeded", redact.URL(dsn))
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open error shows the password: %v", err)
		}
		t.Logf("%s: %v", redact.URL(dsn), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("Open created %q in the working directory", e.Name())
	}
}

// TestOpenKeywordValuePostgres: libpq's keyword/value form opens PostgreSQL.
func TestOpenKeywordValuePostgres(t *testing.T) {
	t.Parallel()
	srv := postgresServer(t)
	u, err := url.Parse(srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	dsn := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=%s sslmode=disable",
		u.Hostname(), u.Port(), u.User.Username(), pw, strings.TrimPrefix(u.Path, "/"))
	s := open(t, dsn)
	if s.Dialect() != store.DialectPostgres {
		t.Fatalf("dialect %q, want postgres", s.Dialect())
	}
	if desc := fmt.Sprint(s); strings.Contains(desc, pw) {
		t.Fatalf("store prints as %q", desc)
	}
}

// TestOpenFileURI: a file: URI opens SQLite at that path.
func TestOpenFileURI(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "uri.db")
	s := open(t, "file:"+path)
	if s.Dialect() != store.DialectSQLite {
		t.Fatalf("dialect %q", s.Dialect())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file: URI did not create %s: %v", path, err)
	}
}
