package logging

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/httpx"
)

// HeaderRequestID is the header that carries a request's id, in the request and the response.
const HeaderRequestID = "X-Request-ID"

// Requests returns next with one log line per request, as every Dominion listener (the API,
// the dashboard) logs them: method, route (the pattern that matched), path (without the
// query), status, size, duration and request id. The request id is the request's
// X-Request-ID when it is a sane token, else a new one; it is returned in the response's
// X-Request-ID. What the handlers add with Annotate (a workflow's id) follows. Nothing else
// from the headers is logged, so a bearer token or a session cookie never reaches the log.
// Health probes are logged at debug level, a 503 (a dependency is down: logged once where it
// is noticed) and other answers at info, other 5xx at warn.
//
// A panic in next is logged with its stack and, when nothing was written yet, answered by
// internalError (nil: a plain-text 500); http.ErrAbortHandler is passed on.
func Requests(log *slog.Logger, next http.Handler, internalError func(http.ResponseWriter)) http.Handler {
	if internalError == nil {
		internalError = func(w http.ResponseWriter) {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := requestID(r.Header.Get(HeaderRequestID))
		w.Header().Set(HeaderRequestID, reqID)
		rec := httpx.NewRecorder(w)
		ctx, note := withNote(r.Context())
		given := r
		r = r.WithContext(ctx)
		defer func() {
			// ServeMux sets the Pattern of the request it is given, which the middleware
			// around this one reads after it returns (the metrics' route, the span's name):
			// the pattern goes back to the request this handler was given.
			given.Pattern = r.Pattern
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("request_id", reqID),
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				if rec.Status == 0 {
					internalError(rec)
				}
			}
			logRequest(log, r, rec, reqID, start, note.take())
		}()
		next.ServeHTTP(rec, r)
	})
}

// logRequest writes the request's line, with the attributes its handlers annotated.
func logRequest(log *slog.Logger, r *http.Request, rec *httpx.Recorder, reqID string, start time.Time, notes []slog.Attr) {
	level := slog.LevelInfo
	switch {
	case rec.Status == http.StatusServiceUnavailable:
	case rec.Status >= 500:
		level = slog.LevelWarn
	case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
		level = slog.LevelDebug
	}
	if !log.Enabled(r.Context(), level) {
		return
	}
	var buf [12]slog.Attr
	attrs := append(buf[:0],
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.String("path", r.URL.Path),
		slog.String("request_id", reqID),
		slog.Int("status", rec.Status),
		slog.Int("bytes", rec.Bytes),
		slog.Duration("took", time.Since(start)),
		slog.String("remote", r.RemoteAddr))
	attrs = append(attrs, notes...)
	log.LogAttrs(r.Context(), level, "http request", attrs...)
}

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
