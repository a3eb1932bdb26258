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

var (
	// keywordValue matches the start of libpq's keyword/value form ("host=db user=…").
	keywordValue = regexp.MustCompile(`^[A-Za-z_]+\s*=`)
	// urlPassword matches the password of a URL's user info in free text:
	// scheme://user:PASSWORD@host.
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@`)
)

// URL returns a connection string with its secrets replaced, for logs and errors: the
// password of a URL's user info (one host or several: host1:port1,host2:port2), the values
// of its password=, sslpassword= and sentinel_password= query parameters, and those keywords
// in libpq's "host=… password=…" form. A URL it cannot parse
// loses everything between its scheme and its last '@'; a string without a scheme loses
// everything before its last '@'. Anything else (a file path) is returned unchanged.
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
		// Unparsable URL: drop everything between the scheme and the last '@'.
		i := strings.Index(raw, "://") + len("://")
		if at := strings.LastIndex(raw, "@"); at >= i {
			return raw[:i] + Placeholder + raw[at:]
		}
		return raw
	}
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

// Text replaces the password of every URL written in s (scheme://user:password@host).
func Text(s string) string {
	return urlPassword.ReplaceAllString(s, "${1}"+Placeholder+"@")
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
	if err != nil {
		// Best effort for unparsable URLs: the text between the first ':' after the
		// scheme and the last '@'.
		rest := raw[strings.Index(raw, "://")+3:]
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
	urls    []string // connection strings, replaced whole by their URL form
	secrets []string // replaced wherever they appear
}

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
		if URL(u) != u {
			r.urls = append(r.urls, u)
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
		s = strings.ReplaceAll(s, u, URL(u))
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
