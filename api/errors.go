package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// Error codes of the API. Every error response is
//
//	{"error":{"code":"…","message":"…","field":"…"}}
//
// with field present when one input field is to blame: a dotted path into the request body
// such as "context.calculator_inputs.hourly_wage", or a query parameter's name.
//
// Input errors found by the workflow engine keep the engine's codes (workflow.Code*):
// "required", "invalid", "out_of_range", "unknown_mode", "unknown_workflow_type", all 400.
// The codes below are the API's own.
const (
	CodeMalformedJSON        = "malformed_json"         // 400: the body is not one JSON value
	CodeInvalidType          = "invalid_type"           // 400: a field has the wrong JSON type
	CodeUnknownField         = "unknown_field"          // 400: a field that is not accepted
	CodeInvalidParameter     = "invalid_parameter"      // 400: a query parameter is malformed
	CodeInvalidHeader        = "invalid_header"         // 400: a header is malformed (Idempotency-Key)
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeUnauthorized         = "unauthorized"           // 401
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeConflict             = "conflict"               // 409: the workflow's or job's state does not allow the action
	CodeDuplicateID          = "duplicate_id"           // 409 (per job in a list): a job with this id exists
	CodeDuplicateUnique      = "duplicate_unique"       // 409 (per job in a list): a live job holds the unique key
	CodeParentNotFound       = "parent_not_found"       // 422 (per job in a list): a job of depends_on does not exist
	CodeUnsupported          = "unsupported"            // 422 (per job in a list): the broker cannot do this (on Redis Cluster, a parent on another queue)
	CodeNotReady             = "not_ready"              // 503: /readyz, a dependency is unreachable
	CodeStoreUnavailable     = "store_unavailable"      // 503 with Retry-After: the store is unreachable, nothing changed
	CodeInternal             = "internal"               // 500
)

// Error is an API error: an HTTP status and the JSON error object.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func badRequest(code, field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Error *Error `json:"error"`
}

// writeError writes e as the JSON error response.
func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dominion"`)
	}
	writeJSON(w, e.Status, errorBody{Error: e})
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // messages quote <token> and the like; the answer is JSON, not HTML
	err := enc.Encode(v)
	b := buf.Bytes()
	if err != nil {
		// Only our own response types are marshaled; this is a programming error.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error: could not encode the response"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// internalError logs err (it may name internals, never secrets: the store and the brokers
// redact their URLs) and answers 500 without its text.
func (a *API) internalError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	writeError(w, &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: "internal error; the server log has the details"})
}
