package dashboard

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// maxEntries bounds the session store and the login limiter: when full, expired entries go
// first, then the oldest.
const maxEntries = 10_000

// sessions is the server-side list of live logins: a session cookie names an id in it (sealed
// with the key derived from the token), so that logging out ends a session for good, a new
// token invalidates every cookie, and a restart ends every session.
type sessions struct {
	mu  sync.Mutex
	exp map[string]time.Time // id → expiry
}

func (s *sessions) add(id string, exp, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exp == nil {
		s.exp = make(map[string]time.Time)
	}
	if len(s.exp) >= maxEntries {
		evict(s.exp, now, func(t time.Time) time.Time { return t })
	}
	s.exp[id] = exp
}

func (s *sessions) valid(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.exp[id]
	if ok && !now.Before(exp) {
		delete(s.exp, id)
		return false
	}
	return ok
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.exp, id)
}

// evict makes room in m: it deletes the entries whose time (by at) has passed, or, when none
// has, the one with the earliest.
func evict[V any](m map[string]V, now time.Time, at func(V) time.Time) {
	oldest, first := "", time.Time{}
	for k, v := range m {
		t := at(v)
		if !now.Before(t) {
			delete(m, k)
			continue
		}
		if oldest == "" || t.Before(first) {
			oldest, first = k, t
		}
	}
	if len(m) >= maxEntries {
		delete(m, oldest)
	}
}

// loginLimiter slows down guessing per client: after loginMaxFailures failed logins from one
// client within loginWindow, that client's logins are refused until the window ends; other
// clients (the real user) are not affected.
type loginLimiter struct {
	mu      sync.Mutex
	clients map[string]*loginWindowState
}

type loginWindowState struct {
	end      time.Time
	failures int
}

const (
	loginWindow      = time.Minute
	loginMaxFailures = 10
)

// clientKey names the client of r for the limiter: its IP address, an IPv6 one by its /64
// (one host usually holds a whole /64). Behind a reverse proxy every client shares the
// proxy's address.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

func (l *loginLimiter) allowed(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.clients[client]
	return !ok || !now.Before(st.end) || st.failures < loginMaxFailures
}

func (l *loginLimiter) failed(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = make(map[string]*loginWindowState)
	}
	st, ok := l.clients[client]
	if !ok || !now.Before(st.end) {
		if !ok && len(l.clients) >= maxEntries {
			evict(l.clients, now, func(s *loginWindowState) time.Time { return s.end })
		}
		st = &loginWindowState{end: now.Add(loginWindow)}
		l.clients[client] = st
	}
	st.failures++
}
