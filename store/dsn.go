package store

import (
	"fmt"
	"regexp"
	"strings"
)

// Dialects a DSN selects.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// SupportedDSNs names the forms ParseDSN accepts, for error messages and help texts.
const SupportedDSNs = "postgres://… or postgresql://… (a PostgreSQL URL), libpq's " +
	"\"host=… dbname=… user=…\" form, or a SQLite file: a path, sqlite:PATH or file:PATH"

var (
	// urlScheme matches the scheme of a URL ("mysql" in "mysql://…").
	urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)
	// keywordValue matches the start of libpq's keyword/value form ("host=db user=…").
	keywordValue = regexp.MustCompile(`^[A-Za-z_]+\s*=`)
	// schemelessURL matches "user:password@host…", a URL that lost its scheme.
	schemelessURL = regexp.MustCompile(`^(//)?[^/\\\s@]*:[^/\\\s@]*@`)
)

// ParseDSN says which store dsn selects: DialectPostgres for a postgres:// or postgresql://
// URL or libpq's keyword/value form ("host=db user=dominion password=… dbname=dominion"),
// DialectSQLite for a file path, optionally written sqlite:PATH, sqlite://PATH or file:PATH.
//
// Anything else is refused, so that a connection string is never taken for a file name:
// another URL scheme (mysql://…), a URL without its scheme (user:pw@host/db), and a path
// holding a NUL byte. Errors name the supported forms and never quote dsn, which may hold a
// password; they wrap ErrInvalid.
func ParseDSN(dsn string) (dialect string, err error) {
	s := strings.TrimSpace(dsn)
	switch {
	case s == "":
		return "", fmt.Errorf("store: empty DSN; want %s: %w", SupportedDSNs, ErrInvalid)
	case strings.ContainsRune(s, 0):
		return "", fmt.Errorf("store: the DSN holds a NUL byte: %w", ErrInvalid)
	}
	if m := urlScheme.FindStringSubmatch(s); m != nil {
		switch strings.ToLower(m[1]) {
		case "postgres", "postgresql":
			return DialectPostgres, nil
		case "sqlite", "sqlite3", "file":
			return DialectSQLite, nil
		}
		return "", fmt.Errorf("store: unsupported DSN scheme %q; want %s: %w", clipScheme(m[1]), SupportedDSNs, ErrInvalid)
	}
	switch {
	case hasPrefixFold(s, "sqlite:"), hasPrefixFold(s, "sqlite3:"), hasPrefixFold(s, "file:"):
		return DialectSQLite, nil
	case keywordValue.MatchString(s):
		return DialectPostgres, nil
	case strings.Contains(s, "://"), schemelessURL.MatchString(s):
		return "", fmt.Errorf("store: the DSN looks like a URL without a valid scheme; want %s: %w", SupportedDSNs, ErrInvalid)
	}
	return DialectSQLite, nil
}

func clipScheme(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// IsPostgresDSN reports whether dsn selects the PostgreSQL backend (see ParseDSN).
func IsPostgresDSN(dsn string) bool {
	d, err := ParseDSN(dsn)
	return err == nil && d == DialectPostgres
}
