package redisbroker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/internal/redact"
)

// The URLs Open takes (docs/redis.md says the same for operators):
//
//	redis://[[user]:password@]host[:port][/db][?option=value…]   one server (go-redis's ParseURL)
//	rediss://…                                                   one server over TLS
//	unix://[[user]:password@]/path/to/redis.sock[?db=N]          one server on a local socket
//	redis-sentinel://[[user]:password@]host1[:port1][,host2[:port2]…]/master-name[?db=N&sentinel_username=…&sentinel_password=…]
//	redis-cluster://[[user]:password@]host1[:port1][,host2[:port2]…]
//
// In a Sentinel URL the hosts are the sentinels (port 26379 unless given), the path is the
// name of the master they watch, and the user and password are the master's (and its
// replicas'); sentinels that require a password of their own get it from sentinel_password
// (and sentinel_username). In a Cluster URL the hosts are some of the cluster's nodes (any
// that answer; the client learns the others from them), and the user and password are every
// node's.

// Default ports of the hosts of a Sentinel or Cluster URL that name none.
const (
	defaultSentinelPort = "26379"
	defaultClusterPort  = "6379"
)

// CheckURL returns the error Open would return for rawURL before connecting: nil for a URL
// of one of the forms above. Its errors never quote the URL, which
// may hold a password.
func CheckURL(rawURL string) error {
	_, err := parseURL(rawURL)
	return err
}

// malformedWhere is how an error names the URL raw that could not be parsed: where (raw
// redacted) when an '@' ends its user information, else only its scheme, since a password
// written without its '@' (redis-sentinel://user:pw,h2/m) looks like a host and a port, which
// redaction leaves.
func malformedWhere(raw, where string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	switch {
	case !ok || len(scheme) > 20:
		return "(not a URL)"
	case strings.Contains(rest, "@"):
		return where
	}
	return scheme + "://…"
}

// target is what a URL names: one server, a master found through sentinels, or a cluster.
type target struct {
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

func parseURL(raw string) (target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return target{}, errors.New("not a URL; want redis://[[user]:password@]host:port[/db], " +
			"rediss://…, unix://…, redis-sentinel://host1:port1,host2:port2/master-name or redis-cluster://host1:port1,host2:port2")
	}
	// A password with an unescaped '/', '?' or '#' (redis://u:pa/ss@host) would be read, and
	// quoted in errors, as a host and port followed by a path or query.
	if redact.StrandedPassword(raw) {
		return target{}, errors.New("an '@' after the host: escape '/', '?', '#' and '@' in the user and password as %2F, %3F, %23 and %40")
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return target{}, withoutURL(err)
		}
		if o.Network == "tcp" { // go-redis takes any digits as the port (redis://h:0)
			host, port, _ := net.SplitHostPort(o.Addr)
			if port, err = portNumber(port); err != nil {
				return target{}, err
			}
			o.Addr = net.JoinHostPort(host, port)
		}
		return target{single: o}, nil
	case "redis-sentinel":
		f, err := parseSentinel(rest)
		return target{failover: f}, err
	case "redis-cluster":
		m, err := parseMultiHost(rest, defaultClusterPort)
		switch {
		case err != nil:
			return target{}, err
		case m.path != "":
			return target{}, errors.New("a Redis Cluster URL has no path (a cluster has only database 0)")
		}
		if err := m.onlyParams(); err != nil {
			return target{}, err
		}
		return target{cluster: &redis.ClusterOptions{Addrs: m.hosts, Username: m.user, Password: m.password}}, nil
	}
	return target{}, fmt.Errorf("unsupported scheme %q; want redis, rediss, unix, redis-sentinel or redis-cluster", scheme)
}

// parseSentinel reads what follows redis-sentinel://.
func parseSentinel(rest string) (*redis.FailoverOptions, error) {
	m, err := parseMultiHost(rest, defaultSentinelPort)
	if err != nil {
		return nil, err
	}
	switch {
	case m.path == "":
		return nil, errors.New("a Sentinel URL needs the master's name as its path: redis-sentinel://host1:26379,host2:26379/mymaster")
	case strings.Contains(m.path, "/"):
		return nil, errors.New("a Sentinel URL's path is the master's name alone (the database is ?db=N)")
	}
	f := &redis.FailoverOptions{
		MasterName: m.path, SentinelAddrs: m.hosts, Username: m.user, Password: m.password,
		SentinelUsername: m.params.Get("sentinel_username"), SentinelPassword: m.params.Get("sentinel_password"),
	}
	if s := m.params.Get("db"); s != "" {
		if f.DB, err = strconv.Atoi(s); err != nil || f.DB < 0 {
			return nil, fmt.Errorf("db=%q is not a database number", s)
		}
	}
	return f, m.onlyParams("db", "sentinel_username", "sentinel_password")
}

// multiHost is a URL of several hosts, split by hand: net/url refuses a host list whose
// last host has no port.
type multiHost struct {
	user, password string
	hosts          []string // host:port each
	path           string   // unescaped, without its leading '/'
	params         url.Values
}

// parseMultiHost reads [[user]:password@]host1[:port1][,host2[:port2]…][/path][?query], the
// part of a URL after its scheme; a host without a port gets defaultPort.
func parseMultiHost(rest, defaultPort string) (multiHost, error) {
	var m multiHost
	if strings.Contains(rest, "#") {
		return m, errors.New("a URL fragment (#…) is not allowed")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, rawPath, _ := strings.Cut(rest, "/")
	var err error
	if m.params, err = url.ParseQuery(rawQuery); err != nil {
		return m, errors.New("malformed query string")
	}
	if m.path, err = url.PathUnescape(rawPath); err != nil {
		return m, errors.New("malformed path")
	}
	hosts := authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		hosts = authority[at+1:]
		user, password, _ := strings.Cut(authority[:at], ":")
		m.user, err = url.PathUnescape(user)
		if err == nil {
			m.password, err = url.PathUnescape(password)
		}
		if err != nil {
			return m, errors.New("malformed user or password (escape reserved characters as %XX)")
		}
	}
	list := strings.Split(hosts, ",")
	for i, h := range list {
		addr, err := hostPort(h, defaultPort)
		if err != nil {
			// The host is not quoted: a URL missing its '@' has its password here.
			return m, fmt.Errorf("host %d of %d: %w", i+1, len(list), err)
		}
		m.hosts = append(m.hosts, addr)
	}
	return m, nil
}

// hostPort checks one host[:port] of a host list and returns it as host:port.
func hostPort(h, defaultPort string) (string, error) {
	bad := fmt.Errorf("want host:port, e.g. 10.0.0.1:%s, hosts separated by commas", defaultPort)
	host, port, err := net.SplitHostPort(h)
	if err != nil { // no port: a host name, an IPv4 address or an [IPv6] one
		host, port = h, defaultPort
		if v6, ok := strings.CutPrefix(h, "["); ok {
			host = strings.TrimSuffix(v6, "]")
		} else if strings.Contains(h, ":") {
			return "", bad
		}
	}
	port, err = portNumber(port)
	if err != nil {
		return "", err
	}
	if host == "" || strings.ContainsAny(host, "[]@/ ") {
		return "", bad
	}
	return net.JoinHostPort(host, port), nil
}

// portNumber checks a port: decimal digits (no sign: h:+1 is no address) making 1 to 65535,
// returned without leading zeros.
func portNumber(s string) (string, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || strings.Trim(s, "0123456789") != "" {
		return "", errors.New("the port is not a number from 1 to 65535")
	}
	return strconv.Itoa(n), nil
}

// onlyParams refuses the query parameters not in allowed.
func (m multiHost) onlyParams(allowed ...string) error {
	for k := range m.params {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("unknown parameter %q: this URL takes none", k)
			}
			return fmt.Errorf("unknown parameter %q; want one of %s", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// withoutURL drops the URL that net/url's errors quote (it may hold a password), keeping the
// reason without what it quotes: `invalid port ":pw" after host` is a password written
// without its '@' (redis://user:pw), so the reason is not wrapped.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("malformed URL: %s", redact.ElideQuotes(ue.Err.Error()))
	}
	return err
}
