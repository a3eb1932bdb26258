//go:build nosqlite

package store

import "fmt"

// SQLite reports whether this build has the SQLite backend: false, this build has the
// nosqlite tag (as the container image has), and opens PostgreSQL only.
const SQLite = false

func openSQLite(dsn string, _ options) (*sqlStore, error) {
	return nil, fmt.Errorf("store: open %s: %w", dsn, ErrNoSQLite)
}

func sqliteBusy(error) bool { return false }
