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
	case strings.Contains(s, "://"), schemelessURL(s):
		return "", fmt.Errorf("store: the DSN looks like a URL without a valid scheme; want %s: %w", SupportedDSNs, ErrInvalid)
	}
	return DialectSQLite, nil
}

// schemelessURL reports whether s starts as a URL that lost its scheme: [//]user:password@….
// The user holds no '/', '\', white space or '@'; the password anything but '@', even a '/'
// or a space (user:pa/ss@host was taken for a file path, which errors then quoted); a
// one-letter user before ":\" or ":/" is a Windows drive (C:\dir\a@b.db).
func schemelessURL(s string) bool {
	s = strings.TrimPrefix(s, "//")
	at := strings.IndexByte(s, '@')
	user, password, ok := strings.Cut(s[:max(at, 0)], ":")
	switch {
	case at < 0 || !ok || strings.ContainsAny(user, "/\\@ \t\r\n\v\f"):
		return false
	case len(user) == 1 && (strings.HasPrefix(password, "\\") || strings.HasPrefix(password, "/")):
		return false
	}
	return true
}

// postgresForm returns dsn, which ParseDSN gives to PostgreSQL, as pgx must read it: pgx
// knows a URL only by a lower-case postgres:// or postgresql:// at its very start, and would
// read " postgres://…" or "PostgreSQL://…" as a (malformed) keyword/value string.
func postgresForm(dsn string) string {
	s := strings.TrimSpace(dsn)
	if m := urlScheme.FindStringSubmatch(s); m != nil {
		return strings.ToLower(m[1]) + s[len(m[1]):]
	}
	return s
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
