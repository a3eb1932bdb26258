package store

import (
	"fmt"
	"net/url"
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

// Secrets returns the secrets dsn holds, as written and decoded: the password of a URL, the
// values of password= and sslpassword= (URL query parameters or libpq keywords). A SQLite
// path has none.
func Secrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if esc := url.QueryEscape(s); esc != s {
			out = append(out, esc)
		}
		if esc := url.PathEscape(s); esc != s {
			out = append(out, esc)
		}
	}
	s := strings.TrimSpace(dsn)
	switch {
	case strings.Contains(s, "://"):
		urlSecrets(s, add)
	case keywordValue.MatchString(s):
		for _, kv := range keywordValues(s) {
			if isSecretParam(kv.key) {
				add(kv.value)
				add(kv.raw)
			}
		}
	}
	return out
}

// urlSecrets passes the secrets of a URL DSN to add.
func urlSecrets(dsn string, add func(string)) {
	u, err := url.Parse(dsn)
	if err != nil {
		// Best effort for unparsable URLs: the text between the first ':' after the
		// scheme and the last '@'.
		rest := dsn[strings.Index(dsn, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				add(rest[c+1 : at])
			}
		}
		return
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
			if _, written, ok := strings.Cut(u.User.String(), ":"); ok && written != pw {
				add(written)
			}
		}
	}
	for k, vs := range u.Query() {
		if isSecretParam(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
}

// kvPair is one "key=value" of libpq's keyword/value form; raw is the value as
// written (quoted or not).
type kvPair struct{ key, value, raw string }

// keywordValues splits libpq's keyword/value form leniently (values may be 'quoted', with
// \' and \\ escapes); it is used to find secrets, pgx parses the string for real.
func keywordValues(s string) []kvPair {
	var out []kvPair
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return out
		}
		p := kvPair{key: strings.TrimSpace(s[:eq])}
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		end := 0
		if strings.HasPrefix(s, "'") {
			var b strings.Builder
			end = 1
			for end < len(s) && s[end] != '\'' {
				if s[end] == '\\' && end+1 < len(s) {
					end++
				}
				b.WriteByte(s[end])
				end++
			}
			p.value = b.String()
			end = min(end+1, len(s))
		} else {
			for end < len(s) && !strings.ContainsRune(" \t\r\n", rune(s[end])) {
				end++
			}
			p.value = s[:end]
		}
		p.raw = s[:end]
		out = append(out, p)
		s = s[end:]
	}
}
