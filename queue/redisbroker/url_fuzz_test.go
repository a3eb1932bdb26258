package redisbroker

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// pwMark is put in the middle of every fuzzed password: wherever it shows, some of the
// password does. The other parts of a fuzzed URL never hold it.
const pwMark = "Qz9"

// fuzzSchemes are the schemes FuzzParseURL writes, by the number it is given.
var fuzzSchemes = []string{"redis", "rediss", "unix", "redis-sentinel", "redis-cluster", "REDIS-Sentinel", "http", ""}

// FuzzParseURL checks parseURL on URLs of every form, their password written escaped (as
// url.UserPassword writes it) or as typed (unescaped): it never panics; an accepted URL names
// only valid host:port addresses (a unix socket: a path), and its password lands in the
// password field alone, whole when escaped; a refused URL's error, Open's error and
// RedactURL never show any of the password. With the high bit of scheme set, the URL lacks
// its '@' (redis://user:password,host2/…): then only parseURL's error is checked, as the
// rest cannot tell such a password from a host; and not when the user or password also
// holds a '/', '?' or '#', as nothing tells such a password from the path or options that
// go-redis quotes (redis://user:12?ss: option "ss").
func FuzzParseURL(f *testing.F) {
	for _, s := range []struct {
		scheme               uint8
		user, pwHead, pwTail string
		hosts, tail          string
		escaped              bool
	}{
		{0, "", "", "", "127.0.0.1:6379", "/0", true},
		{1, "default", "s3", "cret", "example.com:6380", "?dial_timeout=3s", true},
		{2, "", "pw", "", "", "/var/run/redis.sock?db=2", true},
		{3, "", "pw", "", "10.0.0.1:26379,10.0.0.2:26380,10.0.0.3", "/mymaster?db=1&sentinel_password=spw", true},
		{4, "app", "p@ss", "/w", "10.0.0.1:7000,10.0.0.2,[::1]:7002", "", true},
		{5, "app", "p@ss", "/w", "[::1]:5000,[::2]", "/queue%20master?sentinel_username=sen", true},
		{3, "user", "pw", "", "h1,,h3:x", "/m", false},
		{3, "", "pw", "", "h1:1:2", "/m?db=x", false},
		{4, "", "pw", "", "h1:7000,h2:7001", "/0", false},
		{6, "", "pw", "", "host", "", true},
		{0x83, "user", "pw", "", ",h2", "/m", false}, // the '@' forgotten
		{0x80, "user", "", "", "", "/0", false},
		{4, "", "pw", "", "h1:+1,h2", "", true}, // a port with a sign
	} {
		f.Add(s.scheme, s.user, s.pwHead, s.pwTail, s.hosts, s.tail, s.escaped)
	}
	f.Fuzz(func(t *testing.T, scheme uint8, user, pwHead, pwTail, hosts, tail string, escaped bool) {
		if strings.Contains(user+"\x00"+hosts+"\x00"+tail, pwMark) {
			t.Skip("the mark is the password's alone")
		}
		password := pwHead + pwMark + pwTail
		userinfo := user + ":" + password
		if escaped {
			userinfo = url.UserPassword(user, password).String()
		}
		if scheme&0x80 != 0 {
			if strings.ContainsAny(user+password, "/?#") {
				t.Skip("no '@', and a password that reads as a path or options")
			}
			if strings.Contains(user+password, "@") {
				t.Skip("an '@' of the user or password ends the user info: what follows is the host")
			}
			raw := fuzzSchemes[int(scheme&0x7f)%len(fuzzSchemes)] + "://" + userinfo + hosts + tail
			if _, err := parseURL(raw); err != nil && strings.Contains(err.Error(), pwMark) {
				t.Fatalf("parseURL(%q): the error shows the password: %v", raw, err)
			} else if err != nil {
				// Open names the URL it cannot parse: not this one, whose password it cannot tell.
				if _, err := Open(context.Background(), raw, Options{}); err == nil || strings.Contains(err.Error(), pwMark) {
					t.Fatalf("Open(%q) = %v; want an error without the password", raw, err)
				}
			}
			return
		}
		raw := fuzzSchemes[int(scheme)%len(fuzzSchemes)] + "://" + userinfo + "@" + hosts + tail
		// A later '@' ends the user info (as in net/url): the password is then another.
		checkParsedURL(t, raw, user, password, escaped && !strings.Contains(hosts+tail, "@"))
	})
}

// checkParsedURL checks what parseURL makes of raw, whose password holds pwMark; exact says
// that raw's user info is user and password, escaped: an accepted raw must give them back.
func checkParsedURL(t *testing.T, raw, user, password string, exact bool) {
	t.Helper()
	if red := RedactURL(raw); strings.Contains(red, pwMark) {
		t.Fatalf("RedactURL(%q) = %q shows the password", raw, red)
	}
	tg, err := parseURL(raw)
	if err != nil {
		if strings.Contains(err.Error(), pwMark) {
			t.Fatalf("parseURL(%q): the error shows the password: %v", raw, err)
		}
		// Open fails the same way, before dialing anything.
		if _, err := Open(context.Background(), raw, Options{}); err == nil || strings.Contains(err.Error(), pwMark) {
			t.Fatalf("Open(%q) = %v; want an error without the password", raw, err)
		}
		return
	}
	addrs, others, pw, gotUser := tg.fields()
	for _, a := range addrs {
		if !validAddr(a) {
			t.Errorf("parseURL(%q): address %q is not host:port with a port from 1 to 65535", raw, a)
		}
	}
	for _, s := range append(others, addrs...) {
		if strings.Contains(s, pwMark) {
			t.Errorf("parseURL(%q): the password landed in %q, not the password field", raw, s)
		}
	}
	if exact && (pw != password || gotUser != user) {
		t.Errorf("parseURL(%q): user %q, password %q; want %q, %q", raw, gotUser, pw, user, password)
	}
}

// fields returns what t names: its addresses (host:port; none for a unix socket), its other
// non-secret strings, and the password and user of its server(s).
func (t target) fields() (addrs, others []string, password, user string) {
	switch {
	case t.single != nil:
		o := t.single
		others = []string{o.Username, o.ClientName}
		if o.TLSConfig != nil {
			others = append(others, o.TLSConfig.ServerName)
		}
		if o.Network == "unix" {
			return nil, append(others, o.Addr), o.Password, o.Username
		}
		return []string{o.Addr}, others, o.Password, o.Username
	case t.failover != nil:
		o := t.failover
		return o.SentinelAddrs, []string{o.MasterName, o.Username, o.SentinelUsername, o.SentinelPassword}, o.Password, o.Username
	case t.cluster != nil:
		return t.cluster.Addrs, []string{t.cluster.Username}, t.cluster.Password, t.cluster.Username
	}
	return nil, nil, "", ""
}

// validAddr reports whether addr is a host:port address a dialer takes: a non-empty host and
// a port of 1 to 65535 written in decimal digits.
func validAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || strings.Trim(port, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}
