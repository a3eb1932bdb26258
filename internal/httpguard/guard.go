package httpguard

import (
	"encoding/json"
	"fmt"
	"github.com/codex-dominion/dominion/internal/httpx"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error codes of the refusals (the API's error format).
const (
	CodeHostNotAllowed   = "host_not_allowed" // 403: the Host header is not an allowed host
	CodeCrossOrigin      = "cross_origin"     // 403: a browser sent a state-changing request from another site
	CodeInvalidParameter = "invalid_parameter"
	CodeInvalidPath      = "invalid_path"
)

// AnyHost in Config.AllowedHosts turns the host check off.
const AnyHost = "*"

// Config configures the guard.
type Config struct {
	// AllowedHosts are the host names (without port; IP addresses as written) that
	// requests may name in their Host header; AnyHost allows every one. Empty: Hosts("").
	AllowedHosts []string
	// Logger receives one line per refusal (default slog.Default()).
	Logger *slog.Logger
}

// Guard is the middleware. Create it with New.
type Guard struct {
	hosts  []string
	any    bool
	cop    *http.CrossOriginProtection
	log    *slog.Logger
	next   http.Handler
	exempt []string
}

// New returns next behind the guard.
func New(cfg Config, next http.Handler) *Guard {
	g := &Guard{cop: http.NewCrossOriginProtection(), log: cfg.Logger, next: next,
		exempt: []string{"/healthz", "/readyz", "/metrics"}}
	if g.log == nil {
		g.log = slog.Default()
	}
	hosts := cfg.AllowedHosts
	if len(hosts) == 0 {
		hosts = Hosts("", nil)
	}
	for _, h := range hosts {
		if h == AnyHost {
			g.any = true
		}
		g.hosts = append(g.hosts, normalizeHost(h))
	}
	return g
}

// Hosts is the default list of allowed hosts for a server listening on listenAddr: the
// loopback names, the listen host, and extra. A server listening on every interface (":8080",
// "0.0.0.0:8080") also answers to this machine's host name and interface addresses.
func Hosts(listenAddr string, extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		host = listenAddr
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip != nil && ip.IsUnspecified():
		if name, err := os.Hostname(); err == nil {
			hosts = append(hosts, name)
		}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					hosts = append(hosts, n.IP.String())
				}
			}
		}
	default:
		hosts = append(hosts, host)
	}
	return append(hosts, extra...)
}

// normalizeHost lowercases a host name and removes its port, brackets and final dot.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(h, ".")
}

// ServeHTTP implements http.Handler.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := g.check(r); p != nil {
		g.log.LogAttrs(r.Context(), slog.LevelWarn, "request refused",
			slog.String("code", p.Code), slog.String("method", r.Method),
			slog.String("path", httpx.Clip(r.URL.EscapedPath())), slog.String("remote", r.RemoteAddr),
			slog.String("reason", p.Message))
		p.write(w, r)
		return
	}
	g.next.ServeHTTP(w, r)
}

// Problem is a refusal.
type Problem struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (g *Guard) check(r *http.Request) *Problem {
	if !slices.Contains(g.exempt, r.URL.Path) && !g.hostAllowed(r.Host) {
		return &Problem{Status: http.StatusForbidden, Code: CodeHostNotAllowed, Message: fmt.Sprintf(
			"this server does not answer to the host %q; add it to DOMINION_ALLOWED_HOSTS", httpx.Clip(r.Host))}
	}
	if err := g.cop.Check(r); err != nil {
		return &Problem{Status: http.StatusForbidden, Code: CodeCrossOrigin, Message: "cross-site " + r.Method +
			" refused: state-changing requests must come from this server's own pages or from a non-browser client"}
	}
	if p := CheckQuery(r.URL.RawQuery); p != nil {
		return p
	}
	return checkPath(r.URL.Path)
}

func (g *Guard) hostAllowed(hostport string) bool {
	return g.any || slices.Contains(g.hosts, normalizeHost(hostport))
}

// CheckQuery checks a raw query string: '&'-separated key=value pairs, %-escapes well
// formed, keys and values clean text (CheckText). The problem names the parameter.
func CheckQuery(raw string) *Problem {
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		field := rawKey
		if k, err := url.QueryUnescape(rawKey); err == nil {
			field = k
		}
		if !utf8.ValidString(field) || strings.ContainsFunc(field, unicode.IsControl) {
			field = "" // cannot be named as it is
		}
		bad := func(format string, args ...any) *Problem {
			return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Field: httpx.Clip(field),
				Message: fmt.Sprintf(format, args...)}
		}
		if strings.Contains(pair, ";") {
			return bad("query parameter %q holds a ';': separate parameters with '&' and escape ';' as %%3B", httpx.Clip(field))
		}
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return bad("a query parameter's name has a malformed %%-escape")
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return bad("query parameter %q has a malformed %%-escape", httpx.Clip(field))
		}
		if why := CheckText(key); why != "" {
			return bad("a query parameter's name %s", why)
		}
		if why := CheckText(value); why != "" {
			return bad("query parameter %q %s", httpx.Clip(key), why)
		}
	}
	return nil
}

func checkPath(path string) *Problem {
	if why := CheckText(path); why != "" {
		return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidPath, Field: "path",
			Message: "the URL path " + why + " (ids and names are UTF-8 text without control characters)"}
	}
	return nil
}

// CheckText says what is wrong with s as text that a store can keep: "" when it is valid
// UTF-8 without NUL bytes or other control characters (tab and newline excepted), else why
// not ("holds a NUL byte", …).
func CheckText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte"
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' }):
		return "holds a control character"
	}
	return ""
}

// write answers with the problem: JSON for API paths and JSON clients, plain text otherwise.
func (p *Problem) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" ||
		strings.Contains(r.Header.Get("Accept"), "application/json") {
		b, _ := json.Marshal(struct {
			Error *Problem `json:"error"`
		}{p})
		h.Set("Content-Type", "application/json")
		w.WriteHeader(p.Status)
		_, _ = w.Write(append(b, '\n'))
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(p.Status)
	_, _ = fmt.Fprintln(w, p.Message)
}
