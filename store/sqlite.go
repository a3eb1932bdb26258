//go:build !nosqlite

package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/codex-dominion/dominion/internal/redact"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite reports whether this build has the SQLite backend: true unless built with the
// nosqlite tag (as the container image is), which leaves out the pure-Go driver.
const SQLite = true

// SQLite settings.
const (
	sqliteMaxConns = 8
	sqliteParams   = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
)

func openSQLite(dsn string, o options) (*sqlStore, error) {
	path := strings.TrimSpace(dsn)
	for _, p := range []string{"sqlite://", "sqlite3://", "sqlite:", "sqlite3:"} {
		if len(path) >= len(p) && strings.EqualFold(path[:len(p)], p) {
			path = path[len(p):]
			break
		}
	}
	if path == "" || strings.HasPrefix(path, "?") {
		return nil, fmt.Errorf("store: open sqlite: empty database path: %w", ErrInvalid)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	db, err := sql.Open("sqlite", path+sep+sqliteParams)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	s := &sqlStore{db: db, wdb: db, d: sqliteDialect(), now: o.now, red: redact.Redactor{}, desc: path, prepare: true}
	if strings.Contains(path, ":memory:") || strings.Contains(path, "mode=memory") {
		// Every connection would otherwise get its own database.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		return s, nil
	}
	// Readers: a pool (WAL readers never wait for the writer). The writer: one connection,
	// so that writes queue in Go instead of sleeping in SQLite's busy handler.
	db.SetMaxOpenConns(sqliteMaxConns)
	db.SetMaxIdleConns(sqliteMaxConns)
	db.SetConnMaxIdleTime(0)
	// Statement journals (one per statement of a transaction) in memory, not in a file.
	w, err := sql.Open("sqlite", path+sep+sqliteParams+"&_pragma=temp_store(memory)")
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	s.wdb = w
	return s, nil
}

// sqliteBusy reports whether err is SQLite's "database is locked" beyond the busy timeout.
func sqliteBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
