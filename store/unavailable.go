package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err says that the database could not be reached or could not
// serve the request for now, rather than that the request was wrong: a connection refused,
// reset or closed, a server shutting down, restarting or out of connections, a connection
// attempt that failed, a store opened with Lazy whose database has not answered yet, a SQLite
// file locked by another process beyond the busy timeout. The same call is expected to
// succeed once the database is back, so callers wait and try again (the execute_workflow job
// then uses none of its attempts; the API answers 503).
//
// A canceled context is not unavailability.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, errNotConnected) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true // whatever the reason (down, starting up, refused credentials)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return unavailableState(pe.Code)
	}
	if sqliteBusy(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// unavailableState reports whether a PostgreSQL SQLSTATE says the server cannot serve now:
// class 08 (connection exception), 57P01–57P03 (admin or crash shutdown, cannot connect
// now: starting up or shutting down), 53000 and 53300 (insufficient resources, too many
// connections).
func unavailableState(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53000", "53300":
		return true
	}
	return strings.HasPrefix(code, "08")
}
