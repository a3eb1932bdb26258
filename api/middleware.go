package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

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
