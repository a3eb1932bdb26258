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
func StartPostgres(t testing.TB, _ ...PostgresOption) *Postgres {
	t.Helper()
	t.Skip(errPostgresLinuxOnly)
	return nil
}

// NewPostgres returns an error: see Postgres.
func NewPostgres(...PostgresOption) (*Postgres, error) { return nil, errPostgresLinuxOnly }

// PostgresOption configures StartPostgres and NewPostgres.
type PostgresOption func(*Postgres)

// Durable: see the Linux version.
func Durable() PostgresOption { return func(*Postgres) {} }

func (p *Postgres) Password() string { return "" }
func (p *Postgres) DSN() string      { return "" }
func (p *Postgres) Stop()            {}
func (p *Postgres) StopImmediate()   {}
func (p *Postgres) Start() error     { return errPostgresLinuxOnly }
func (p *Postgres) Close()           {}

// NewDatabase skips the test: see Postgres.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	t.Skip(errPostgresLinuxOnly)
	return ""
}
