package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/prometheus/client_golang/prometheus"
)

type httpKey struct {
	route, method string
	status        int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// HTTP counts and times the requests next answers, by route pattern (the ServeMux pattern
// that matched, so /api/workflows/{id} and never an id; "" when none did), method and status.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := httpx.NewRecorder(w)
		next.ServeHTTP(rec, r)
		status := rec.Status
		if status == 0 {
			status = http.StatusOK
		}
		s := m.httpSeries(route(r.Pattern), method(r.Method), status)
		s.requests.Inc()
		s.duration.Observe(time.Since(start).Seconds())
	})
}

// route is a ServeMux pattern without its method and host: "POST /api/chat" → "/api/chat".
func route(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		return pattern[i:]
	}
	return pattern
}

// method keeps the label bounded: a method outside the standard ones is "other".
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func (m *Metrics) httpSeries(route, method string, status int) *httpSeries {
	k := httpKey{route, method, status}
	m.mu.RLock()
	s, ok := m.http[k]
	m.mu.RUnlock()
	if ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.http[k]; ok {
		return s
	}
	s = &httpSeries{
		requests: m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)),
		duration: m.httpDuration.WithLabelValues(route, method, strconv.Itoa(status)),
	}
	m.http[k] = s
	return s
}
