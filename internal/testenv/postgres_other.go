//go:build !linux

package testenv

import (
	"errors"
	"testing"
)

// Postgres is a private PostgreSQL server for tests. Starting one is supported on Linux only
// (it runs the server as the postgres user and ties its life to the test process); elsewhere
// the tests that need it are skipped with the reason.
type Postgres struct{}

var errPostgresLinuxOnly = errors.New("testenv: private PostgreSQL test servers are started on Linux only")

// StartPostgres skips the test: see Postgres.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	t.Skip(errPostgresLinuxOnly)
	return nil
}

// NewPostgres returns an error: see Postgres.
func NewPostgres() (*Postgres, error) { return nil, errPostgresLinuxOnly }

func (p *Postgres) Port() int        { return 0 }
func (p *Postgres) Password() string { return "" }
func (p *Postgres) DSN() string      { return "" }
func (p *Postgres) Stop()            {}
func (p *Postgres) Close()           {}

// NewDatabase skips the test: see Postgres.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	t.Skip(errPostgresLinuxOnly)
	return ""
}
