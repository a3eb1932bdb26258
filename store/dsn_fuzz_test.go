package store

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/internal/redact"
)

// dsnMark is put in the middle of every fuzzed password: wherever it shows, some of the
// password does. The other parts of a fuzzed DSN never hold it.
const dsnMark = "Qz9"

// dsnForm is one way FuzzParseDSN writes a DSN around a user and a password.
type dsnForm struct {
	prefix, suffix string
	postgres       bool // a form ParseDSN must give to PostgreSQL
	keywords       bool // libpq's keyword/value form, not a URL
}

// dsnForms are the forms FuzzParseDSN writes, by the number it is given.
var dsnForms = []dsnForm{
	{prefix: "postgres://", postgres: true},
	{prefix: "PostgreSQL://", postgres: true},
	{prefix: ""},   // a URL without its scheme: user:password@host/db
	{prefix: "//"}, // the same with its "//"
	{prefix: "mysql://"},
	{prefix: "host=db ", postgres: true, keywords: true},
	{prefix: "  postgresql://", suffix: "\n", postgres: true}, // read from a file
}

// FuzzParseDSN checks ParseDSN on DSNs of every form holding a user and a password, written
// escaped or as typed: it never panics; a refused DSN's error wraps ErrInvalid and shows none
// of the password; a URL that lost its scheme (user:password@host…) is never taken for a
// SQLite file; a PostgreSQL URL or keyword/value DSN goes to PostgreSQL, pgx reads it in
// that form, and its parse error (as Open returns it) shows none of the password.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []struct {
		form                 uint8
		user, pwHead, pwTail string
		rest                 string
		escaped              bool
	}{
		{0, "u", "p", "w", "db:5432/x?sslmode=disable", true},
		{1, "", "", "", "db/x", true},
		{2, "root", "hunter", "2", "db:5432/x", false},
		{3, "root", "hunter", "2", "db/x", false},
		{4, "root", "hunter", "2", "db/x", false},
		{5, "u", "pw", "", "port=5432 dbname=x", true},
		{5, "u", "hun ter'", "2", "sslmode=allow", true},
		{6, "u", "p@ss", "", "h/db", true},
		{0, "u", "pw", "", "[::1/db", false},
	} {
		f.Add(s.form, s.user, s.pwHead, s.pwTail, s.rest, s.escaped)
	}
	f.Fuzz(func(t *testing.T, form uint8, user, pwHead, pwTail, rest string, escaped bool) {
		if strings.Contains(user+"\x00"+rest, dsnMark) {
			t.Skip("the mark is the password's alone")
		}
		fm := dsnForms[int(form)%len(dsnForms)]
		if fm.keywords && !escaped && strings.ContainsAny(user, " \t\r\n\v\f'\\") {
			t.Skip("a user that needs quotes: libpq reads what follows as part of it (user=\\ password=…)")
		}
		password := pwHead + dsnMark + pwTail
		dsn := fm.prefix + credentials(fm, user, password, escaped) + rest + fm.suffix
		checkDSN(t, dsn, fm, user, password)
	})
}

// credentials writes user and password as form fm does, escaped (quoted) or as typed.
func credentials(fm dsnForm, user, password string, escaped bool) string {
	switch {
	case fm.keywords && escaped:
		q := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
		return "user='" + q.Replace(user) + "' password='" + q.Replace(password) + "' "
	case fm.keywords:
		return "user=" + user + " password=" + password + " "
	case escaped:
		return url.UserPassword(user, password).String() + "@"
	}
	return user + ":" + password + "@"
}

// checkDSN checks what ParseDSN, and pgx for PostgreSQL, make of dsn, written in form fm
// with user and password (which holds dsnMark).
func checkDSN(t *testing.T, dsn string, fm dsnForm, user, password string) {
	t.Helper()
	dialect, err := ParseDSN(dsn)
	if err != nil {
		if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), dsnMark) {
			t.Fatalf("ParseDSN(%q) = %v; want ErrInvalid and no password", dsn, err)
		}
		return
	}
	if dialect == DialectSQLite && !fm.postgres && !fm.keywords && loginLike(user, password) {
		t.Fatalf("ParseDSN(%q) = sqlite: a URL without its scheme taken for a file", dsn)
	}
	if fm.postgres && dialect != DialectPostgres {
		t.Fatalf("ParseDSN(%q) = %q, want %q", dsn, dialect, DialectPostgres)
	}
	if dialect != DialectPostgres || readsFiles(dsn) {
		return
	}
	dsn = postgresForm(dsn) // as openPostgres reads it
	_, err = parsePostgres(dsn, redact.New([]string{dsn}))
	switch {
	case err == nil:
	case strings.Contains(err.Error(), dsnMark):
		t.Fatalf("parsePostgres(%q): the error shows the password: %v", dsn, err)
	case !fm.keywords && strings.Contains(err.Error(), "keyword/value"):
		t.Fatalf("parsePostgres(%q): pgx did not read the URL as one: %v", dsn, err)
	}
}

// loginLike reports whether user:password@ is a URL's login rather than the start of a file
// path: a user that holds nothing a path would ('/', '\', '?', a space) and is not a drive
// letter before a Windows path (C:\dir\a@b.db).
func loginLike(user, password string) bool {
	if strings.ContainsAny(user, `/\@:? `+"\t\r\n\v\f\x00") || strings.ContainsRune(password, 0) {
		return false
	}
	return len(user) != 1 || !strings.HasPrefix(password, `\`) && !strings.HasPrefix(password, "/")
}

// readsFiles reports whether pgx would read a file, or wait on a device, for dsn: a service
// or password file, a certificate.
func readsFiles(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.Contains(l, "file") || strings.Contains(l, "service") || strings.Contains(l, "/dev/") ||
		strings.Contains(l, "sslrootcert") || strings.Contains(l, "sslcert") || strings.Contains(l, "sslkey")
}
