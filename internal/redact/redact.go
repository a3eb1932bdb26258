package redact

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// Placeholder replaces every secret.
const Placeholder = "xxxxx"

// minSecret is the length under which a free-standing secret (a token, an SMTP password)
// is not replaced outside its URL: a very short one would garble the text wherever it
// appears by chance.
const minSecret = 4

// secretParamName matches the start of a secret query parameter of a URL, '?' or '&' and its
// name and '=' (password=, sslpassword=, sentinel_password=: isSecretParam's names).
const secretParamName = `(?i)([?&](?:ssl|sentinel_)?password=)`

// urlEnd are the bytes that end a URL written in free text: white space and quotes.
const urlEnd = " \t\r\n\f\"'`<>"

var (
	// keywordValue matches the start of libpq's keyword/value form ("host=db user=…").
	keywordValue = regexp.MustCompile(`^[A-Za-z_]+\s*=`)
	// secretQueryParam matches a secret query parameter (password=, sslpassword=,
	// sentinel_password=) and its value in a URL net/url cannot parse.
	secretQueryParam = regexp.MustCompile(secretParamName + `([^&#]*)`)
	// textSecretParam matches, in free text, a secret query parameter and its value, which
	// ends where the URL does: at a space or a quote.
	textSecretParam = regexp.MustCompile(secretParamName + `([^&#` + regexp.QuoteMeta(urlEnd) + `]*)`)
	// urlPassword matches, in free text, a URL's scheme and user with its ':' (group 1) and
	// what follows up to the first '@' (group 2): the password of scheme://user:PASSWORD@host,
	// or the port and path of scheme://host:port/path@… (told apart by isPortAndPath).
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s]+)@`)
	// portOrIPv6 matches what precedes the first '/' of group 2 of urlPassword when the URL
	// names a host and port, not a user and password: digits (or none), or the end of an IPv6
	// address and its port ("1]:8080").
	portOrIPv6 = regexp.MustCompile(`^([0-9]*|[0-9A-Fa-f:.]*\](:[0-9]*)?)$`)
)

// URL returns a connection string with its secrets replaced, for logs and errors: the
// password of a URL's user info (one host or several: host1:port1,host2:port2), the values
// of its password=, sslpassword= and sentinel_password= query parameters, and those keywords
// in libpq's "host=… password=…" form. A URL it cannot parse, or whose last '@' comes after
// its host with a ':' before it (a password holding an unescaped '/', '?' or '#':
// redis://u:pa/ss@host), loses everything between its scheme and its last '@'; a string
// without a scheme loses everything before its last '@'. Anything else (a file path) is
// returned unchanged.
func URL(raw string) string {
	if !strings.Contains(raw, "://") {
		switch {
		case keywordValue.MatchString(strings.TrimSpace(raw)):
			return redactKeywordValues(raw)
		case strings.Contains(raw, "@"):
			return Placeholder + raw[strings.LastIndex(raw, "@"):]
		}
		return raw
	}
	u, err := parseURL(raw)
	if err != nil {
		return dropCredentials(raw)
	}
	out := redactParsed(u)
	if StrandedPassword(out) {
		// After the parsed secrets are gone, so that a query's password=a@b hides its "b".
		return dropCredentials(out)
	}
	return out
}

// dropCredentials returns the URL raw, which net/url cannot parse (or misreads), without
// everything between its scheme and its last '@' and without the values of its secret query
// parameters.
func dropCredentials(raw string) string {
	i := strings.Index(raw, "://") + len("://")
	if at := strings.LastIndex(raw, "@"); at >= i {
		raw = raw[:i] + Placeholder + raw[at:]
	}
	// A query net/url refuses (a control character) still has its password= values.
	return secretQueryParam.ReplaceAllString(raw, "${1}"+Placeholder)
}

// redactParsed returns u written with its password and secret parameters replaced.
func redactParsed(u *url.URL) string {
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Placeholder)
		}
	}
	q := u.Query()
	changed := false
	for k := range q {
		if isSecretParam(k) {
			q.Set(k, Placeholder)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Text replaces the secrets of every URL written in s: the password of its user info
// (scheme://user:password@host), also one holding a '/' or an '@' as typed
// (scheme://user:pa/ss@host, scheme://user:p@ss@host), unless what precedes that '/' reads
// as a port: digits, as in scheme://host:8080/path@… (so a password such as "123/abc",
// written unescaped, stays); and the values of its password=, sslpassword= and
// sentinel_password= query parameters, up to the next '&', '#', space or quote.
func Text(s string) string {
	// Every log line comes here (Redactor.Writer), and few hold a URL: the regular
	// expressions, which try a match at each byte, cost a request to the API a tenth of
	// its CPU. Every secret here comes after a "://".
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	if strings.IndexByte(s[i:], '@') >= 0 {
		s = textPasswords(s)
	}
	if hasPasswordParam(s[i:]) {
		s = textSecretParam.ReplaceAllString(s, "${1}"+Placeholder)
	}
	return s
}

// hasPasswordParam reports whether s holds "password=", in any case, without the copy that
// strings.ToLower would make of every line holding a URL.
func hasPasswordParam(s string) bool {
	const name = "password"
	for {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return false
		}
		if eq >= len(name) && strings.EqualFold(s[eq-len(name):eq], name) {
			return true
		}
		s = s[eq+1:]
	}
}

// textPasswords replaces the password of the user info of every URL written in s (Text).
func textPasswords(s string) string {
	var b strings.Builder
	done := 0
	for _, g := range urlPassword.FindAllStringSubmatchIndex(s, -1) {
		if g[0] < done { // within the user info of the URL before, which had an '@' in it
			continue
		}
		b.WriteString(s[done:g[3]]) // up to the user's ':'
		if after := s[g[4]:g[5]]; isPortAndPath(after) {
			b.WriteString(Text(s[g[3]:g[1]])) // a URL written in the path
			done = g[1]
			continue
		}
		b.WriteString(Placeholder + "@")
		done = g[1] + lastAtInHost(s[g[1]:])
	}
	b.WriteString(s[done:])
	return b.String()
}

// lastAtInHost returns the length of what rest, the text after a URL's first '@', holds up to
// its last '@' before the URL's path, query, fragment or end (a space or a quote): a host has
// no '@', so the user info, as net/url reads it, ends there (scheme://u:p@ss@host). 0 when
// there is none.
func lastAtInHost(rest string) int {
	if end := strings.IndexAny(rest, "/?#"+urlEnd); end >= 0 {
		rest = rest[:end]
	}
	return strings.LastIndexByte(rest, '@') + 1
}

// isPortAndPath reports whether after, what follows a URL's "scheme://x:" up to the first
// '@', is a host's port and path rather than a password: what precedes its first '/' reads as
// a port (portOrIPv6).
func isPortAndPath(after string) bool {
	slash := strings.IndexByte(after, '/')
	return slash >= 0 && portOrIPv6.MatchString(after[:slash])
}

// Secrets returns the secrets a connection string holds, as written and decoded: the
// password of a URL, the values of password=, sslpassword= and sentinel_password= (URL query
// parameters or libpq keywords). A file path has none.
func Secrets(raw string) []string {
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
	s := strings.TrimSpace(raw)
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
	case strings.Contains(s, "@"):
		userinfo := s[:strings.LastIndex(s, "@")]
		if _, pw, ok := strings.Cut(userinfo, ":"); ok {
			add(pw)
		}
	}
	return out
}

// urlSecrets passes the secrets of a URL to add.
func urlSecrets(raw string, add func(string)) {
	u, err := parseURL(raw)
	if err != nil || StrandedPassword(raw) {
		// Best effort for unparsable URLs: the text between the first ':' after the
		// scheme and the last '@'.
		rest := raw[strings.Index(raw, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				add(rest[c+1 : at])
				if pw, err := url.PathUnescape(rest[c+1 : at]); err == nil { // decoded too (p%20w)
					add(pw)
				}
			}
		}
		for _, m := range secretQueryParam.FindAllStringSubmatch(raw, -1) {
			add(m[2])
			if v, err := url.QueryUnescape(m[2]); err == nil {
				add(v)
			}
		}
	}
	if err != nil {
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

// quoted matches a string quoted with %q or `…`.
var quoted = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")

// ElideQuotes returns msg, a library's error message that may quote what it was given (part
// of a connection string, which may be a password), with each quoted string of two
// characters or more replaced by "…" (a lone character, as in missing "=", tells little and
// helps reading).
func ElideQuotes(msg string) string {
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if len(q) <= len(`"x"`) {
			return q
		}
		return `"…"`
	})
}

// StrandedPassword reports whether the URL raw (scheme://…) has its last '@' after its host
// (in its path, query or fragment) and a ':' before it: a password with an unescaped '/', '?'
// or '#' (redis://u:pa#ss@host), which net/url reads as a host and port followed by the rest
// of the password. A URL without that ':' holds no password.
func StrandedPassword(raw string) bool {
	rest := raw[strings.Index(raw, "://")+len("://"):]
	at := strings.LastIndex(rest, "@")
	end := strings.IndexAny(rest, "/?#")
	return end >= 0 && at > end && strings.Contains(rest[:at], ":")
}

func isSecretParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword" || k == "sentinel_password"
}

// parseURL is url.Parse, which also reads the host lists of Sentinel and Cluster URLs
// (scheme://user:password@host1:port1,host2/…): net/url refuses such a list when its last
// host has no port, so the list is parsed as one placeholder host and put back as written.
func parseURL(raw string) (*url.URL, error) {
	start := strings.Index(raw, "://") + len("://")
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	if at := strings.LastIndex(raw[start:end], "@"); at >= 0 {
		start += at + 1
	}
	hosts := raw[start:end]
	if !strings.Contains(hosts, ",") {
		return url.Parse(raw)
	}
	u, err := url.Parse(raw[:start] + "hosts" + raw[end:])
	if err != nil {
		return nil, err
	}
	u.Host = hosts
	return u, nil
}

// Redactor removes a configuration's secrets from text and errors. The zero value removes
// only the passwords of URLs written in the text (Text).
type Redactor struct {
	urls    []urlForm // connection strings, replaced whole by their URL form
	secrets []string  // replaced wherever they appear
}

// urlForm is a connection string as written and in its URL form (URL).
type urlForm struct{ raw, redacted string }

// New returns the Redactor of the connection strings urls (each replaced whole by its URL
// form, and its secrets wherever they appear) and of the free-standing secrets (tokens,
// passwords; those shorter than 4 bytes are left alone outside their URL). Empty values
// are ignored.
func New(urls []string, secrets ...string) Redactor {
	var r Redactor
	for _, u := range urls {
		if u == "" {
			continue
		}
		if red := URL(u); red != u {
			r.urls = append(r.urls, urlForm{raw: u, redacted: red})
		}
		r.secrets = append(r.secrets, Secrets(u)...)
	}
	for _, s := range secrets {
		if len(s) >= minSecret {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// String returns s with the secrets removed.
func (r Redactor) String(s string) string {
	if s == "" {
		return s
	}
	for _, u := range r.urls {
		s = strings.ReplaceAll(s, u.raw, u.redacted)
	}
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, Placeholder)
	}
	return Text(s)
}

// Error returns err with the secrets removed from its message, still wrapping err (so
// errors.Is and errors.As see through it); err itself when its message holds none.
func (r Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.String(msg)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// Errorf is fmt.Errorf followed by Error.
func (r Redactor) Errorf(format string, args ...any) error {
	return r.Error(fmt.Errorf(format, args...))
}

// Writer returns a writer that removes the secrets from each write before passing it to w.
// slog writes one record per Write call, so a secret is never split between two writes.
func (r Redactor) Writer(w io.Writer) io.Writer { return writer{w: w, r: r} }

type writer struct {
	w io.Writer
	r Redactor
}

func (w writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// redactedError is an error whose message had secrets removed; it wraps the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// kvPair is one "key=value" of libpq's keyword/value form; raw is the value as
// written (quoted or not).
type kvPair struct{ key, value, raw string }

// redactKeywordValues rewrites libpq's keyword/value form with its secrets replaced.
func redactKeywordValues(dsn string) string {
	pairs := keywordValues(dsn)
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		v := p.raw
		if isSecretParam(p.key) {
			v = Placeholder
		}
		parts[i] = p.key + "=" + v
	}
	return strings.Join(parts, " ")
}

// kvSpace is the white space between libpq's keywords and values.
const kvSpace = " \t\r\n\v\f"

// keywordValues splits libpq's keyword/value form leniently (values may be 'quoted'; quoted
// or not, a backslash escapes the next byte); it is used to find secrets, pgx parses the
// string for real.
func keywordValues(s string) []kvPair {
	var out []kvPair
	for {
		s = strings.TrimLeft(s, kvSpace)
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return out
		}
		p := kvPair{key: strings.TrimSpace(s[:eq])}
		s = strings.TrimLeft(s[eq+1:], kvSpace)
		value, end, quoted := quotedValue(s)
		switch {
		case quoted:
			p.value = value
		case keywordValue.MatchString(s) && !isSecretParam(p.key):
			// An empty value left unquoted (user= password=pw): libpq and pgx would read
			// "password=pw" as the user, and quote it in errors; read it as the next pair.
			// (A secret's value is read whole: password=a=b.)
		default:
			p.value, end = unquotedValue(s)
		}
		p.raw = s[:end]
		out = append(out, p)
		s = s[end:]
	}
}

// quotedValue reads the 'quoted' value s starts with (a backslash escapes the next byte) and
// returns it and its length in s; ok is false when s starts with no quote, or one never closed
// (user=' password=pw: libpq refuses it, pgx quotes it whole), then read unquoted.
func quotedValue(s string) (value string, n int, ok bool) {
	if !strings.HasPrefix(s, "'") {
		return "", 0, false
	}
	var b strings.Builder
	for end := 1; end < len(s); end++ {
		switch s[end] {
		case '\\':
			if end++; end == len(s) {
				return "", 0, false
			}
		case '\'':
			return b.String(), end + 1, true
		}
		b.WriteByte(s[end])
	}
	return "", 0, false
}

// unquotedValue reads the unquoted value s starts with and returns it and its length in s. A
// backslash escapes the next byte, even a space, as in libpq (a trailing one is dropped).
// Words after the value that do not start the next keyword=value (password=pass word
// host=db) are taken as part of it: libpq refuses them, and pgx quotes them in its error.
func unquotedValue(s string) (string, int) {
	var b strings.Builder
	end := 0
	for end < len(s) {
		if strings.ContainsRune(kvSpace, rune(s[end])) {
			next := strings.TrimLeft(s[end:], kvSpace)
			if next == "" || keywordValue.MatchString(next) {
				break
			}
			b.WriteString(s[end : len(s)-len(next)])
			end = len(s) - len(next)
			continue
		}
		if s[end] == '\\' {
			if end++; end == len(s) {
				break
			}
		}
		b.WriteByte(s[end])
		end++
	}
	return b.String(), end
}
