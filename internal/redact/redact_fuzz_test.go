package redact

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// pwMark is put in the middle of every fuzzed secret: wherever it shows, some of the secret
// does. The other parts of a fuzzed string never hold it, and the placeholder cannot make it.
const pwMark = "Qz9"

// fuzzSchemes are the schemes of the fuzzed URLs, by the number FuzzRedact is given.
var fuzzSchemes = []string{"postgres", "redis", "rediss", "redis-sentinel", "redis-cluster", "postgresql"}

// Forms of the connection strings FuzzRedact writes around a secret.
const (
	formUserinfo = iota // scheme://user:SECRET@hosts…
	formQuery           // scheme://hosts/db?password=SECRET&… (also sslpassword, sentinel_password)
	formKeywords        // host=db user=… password=SECRET …
	formNoScheme        // user:SECRET@hosts…
	numForms
)

// secretParams are the query parameters and keywords the package doc names.
var secretParams = []string{"password", "sslpassword", "sentinel_password", "PASSWORD"}

// FuzzRedact checks the promises of the package doc on connection strings of every form it
// names, their secret written escaped (quoted) or as typed, amid any text: URL and a
// Redactor of the string never show the secret, nor a Redactor the secret quoted alone
// (escaped forms, whose secret the string states plainly); Text hides a URL's escaped
// password and secret query parameters in any text; the Redactor keeps the error chain; and text that is no connection
// string comes out of URL unchanged.
func FuzzRedact(f *testing.F) {
	for _, s := range []struct {
		form, scheme               uint8
		user, pwHead, pwTail, host string
		rest, around               string
		escaped                    bool
	}{
		{formUserinfo, 0, "u", "p", "w", "h:5432", "/db?sslmode=disable", "dial ", true},
		{formUserinfo, 3, "", "p", "w", "h1:26379,h2", "/mymaster?db=2", "", true},
		{formUserinfo, 4, "default", "p@ss", "", "10.0.0.1:7000,10.0.0.2:7001", "", " failed", false},
		{formUserinfo, 1, "", "p@ss:w%rd", "", "host:6379", "/0", "", false},
		{formUserinfo, 0, "u", "pw", "", "[::1", "/db", "", false},
		{formQuery, 0, "", "pw", "", "h", "sslmode=disable", "", true},
		{formQuery, 3, "", "spw", "", "h1,h2:26379", "db=1", "", true},
		{formKeywords, 0, "u", "hun ter'", "2", "db", "sslmode=allow", "", true},
		{formKeywords, 0, "u", "hunter", "2", "db", "dbname=x", "", false},
		{formNoScheme, 0, "user", "hunter", "2", "host:6379", "", "", false},
		{formUserinfo, 0, "/var/lib/dominion", "", "", "dominion.db?_pragma=busy_timeout(100)", "", "", false},
	} {
		f.Add(s.form, s.scheme, s.user, s.pwHead, s.pwTail, s.host, s.rest, s.around, s.escaped)
	}
	f.Fuzz(func(t *testing.T, form, scheme uint8, user, pwHead, pwTail, host, rest, around string, escaped bool) {
		if strings.Contains(user+"\x00"+host+"\x00"+rest+"\x00"+around, pwMark) {
			t.Skip("the mark is the secret's alone")
		}
		checkUnchanged(t, around)
		secret := pwHead + pwMark + pwTail
		raw, ok := connString(form%numForms, fuzzSchemes[int(scheme)%len(fuzzSchemes)], user, secret, host, rest, escaped)
		if !ok {
			t.Skip("a secret the doc does not promise to find in this form")
		}
		// Escaped, the string states its secret plainly, unless a later '@' ends the user info
		// elsewhere (as in net/url): then the password is another.
		checkRedacted(t, raw, secret, around, escaped && !strings.Contains(host+rest, "@"))
		if f := form % numForms; escaped && (f == formUserinfo || f == formQuery) {
			if got := Text(around + raw + around); strings.Contains(got, pwMark) {
				t.Fatalf("Text(%q) = %q shows the password", around+raw+around, got)
			}
		}
	})
}

// connString writes a connection string of form with secret in it; ok is false for a typed
// secret the package does not promise to tell in that form.
func connString(form uint8, scheme, user, secret, host, rest string, escaped bool) (raw string, ok bool) {
	switch form {
	case formUserinfo:
		if escaped {
			return scheme + "://" + url.UserPassword(user, secret).String() + "@" + host + rest, true
		}
		return scheme + "://" + user + ":" + secret + "@" + host + rest, true
	case formQuery: // a '?' or '#' in the host would put the parameter in another query or the fragment
		param := secretParams[len(user)%len(secretParams)]
		return scheme + "://" + host + "/db?" + param + "=" + url.QueryEscape(secret) + "&" + rest,
			escaped && !strings.ContainsAny(host, "?#")
	case formKeywords: // the host a plain value, so that the password is the next keyword's
		host := "host=" + strings.Map(func(r rune) rune {
			if strings.ContainsRune(kvSpace+`'\=`, r) {
				return '_'
			}
			return r
		}, host) + "x"
		if escaped {
			q := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
			return host + " password='" + q.Replace(secret) + "' " + rest, true
		}
		// As typed, a value is libpq's when it has no space and opens no quote.
		typed := !strings.ContainsAny(secret, kvSpace) && !strings.HasPrefix(secret, "'")
		return host + " password=" + secret + " " + rest, typed
	}
	raw = user + ":" + secret + "@" + host + rest
	return raw, !escaped && !strings.Contains(raw, "://") && !keywordValue.MatchString(strings.TrimSpace(raw))
}

// checkRedacted checks URL and a Redactor on raw, which holds secret; plain says that raw
// states secret plainly (escaped), so that the Redactor must also hide it quoted alone.
func checkRedacted(t *testing.T, raw, secret, around string, plain bool) {
	t.Helper()
	if got := URL(raw); strings.Contains(got, pwMark) {
		t.Fatalf("URL(%q) = %q shows the secret", raw, got)
	}
	r := New([]string{raw})
	text := around + raw + around
	if plain {
		text += " " + secret + " " + url.QueryEscape(secret) + " " + url.PathEscape(secret)
	}
	if got := r.String(text); strings.Contains(got, pwMark) {
		t.Fatalf("New(%q).String(%q) = %q shows the secret", raw, text, got)
	}
	base := errors.New("boom")
	err := r.Errorf("dial %s: %w", text, base)
	if !errors.Is(err, base) || strings.Contains(err.Error(), pwMark) {
		t.Fatalf("New(%q).Errorf(%q) = %v: lost the chain or shows the secret", raw, text, err)
	}
}

// checkUnchanged checks that URL returns s as it is when s is no connection string: no
// scheme, no '@', not libpq's keyword/value form.
func checkUnchanged(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, "://") || strings.Contains(s, "@") || keywordValue.MatchString(strings.TrimSpace(s)) {
		return
	}
	if got := URL(s); got != s {
		t.Fatalf("URL(%q) = %q, want it unchanged", s, got)
	}
	if got := New([]string{s}).String("open " + s); got != "open "+s {
		t.Fatalf("New(%q).String = %q, want it unchanged", s, got)
	}
}
