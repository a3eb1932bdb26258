package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"github.com/codex-dominion/dominion/internal/httpx"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// logRequests logs one line per request: method, route (the pattern that matched), path
// (without the query), status, size, duration and request id. The request id is the
// request's X-Request-ID when it is a sane token, else a new one; it is returned in the
// response's X-Request-ID. Nothing else from the headers is logged, so a bearer token never
// reaches the log. Health probes are logged at debug level, everything else at info (4xx)
// or warn (5xx).
func (a *API) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := requestID(r.Header.Get(headerRequestID))
		w.Header().Set(headerRequestID, reqID)
		rec := httpx.NewRecorder(w)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("request_id", reqID),
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				if rec.Status == 0 {
					writeError(rec, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"})
				}
			}
			level := slog.LevelInfo
			switch {
			case rec.Status == http.StatusServiceUnavailable:
				// A dependency is down: expected, and logged once where it is noticed.
			case rec.Status >= 500:
				level = slog.LevelWarn
			case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
				level = slog.LevelDebug
			}
			if !a.log.Enabled(r.Context(), level) {
				return
			}
			a.log.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("route", r.Pattern),
				slog.String("path", r.URL.Path),
				slog.String("request_id", reqID),
				slog.Int("status", rec.Status),
				slog.Int("bytes", rec.Bytes),
				slog.Duration("took", time.Since(start)),
				slog.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(rec, r)
	})
}

// requireToken answers 401 unless the request carries "Authorization: Bearer <token>".
// The comparison is constant-time and does not reveal the token's length (both sides are
// hashed first).
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, cred, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			msg := "missing bearer token: send Authorization: Bearer <token>"
			if h != "" {
				msg = "the Authorization header must be Bearer <token>"
			}
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg})
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireJSONBody refuses with 415 a request to an /api/ route that carries a body, or a
// Content-Type, other than application/json: a browser can send a form or text/plain
// cross-site without asking, never application/json. A bodyless POST (cancel, retry) with
// no Content-Type passes.
func requireJSONBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			ct := r.Header.Get("Content-Type")
			if ct != "" || r.ContentLength != 0 {
				if e := checkJSONContentType(ct); e != nil {
					writeError(w, e)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

const headerRequestID = "X-Request-ID"

// requestID returns the client's request id when it is 1 to 128 letters, digits, '-', '_',
// '.' or ':' (anything else could forge log lines), or a new random one.
func requestID(given string) string {
	if len(given) > 0 && len(given) <= 128 && strings.IndexFunc(given, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':')
	}) < 0 {
		return given
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
