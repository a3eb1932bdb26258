// Package openapitest checks, in tests, that the HTTP API answers as docs/openapi.json says:
// Transport wraps an http.Client's transport so that every response a test receives from an
// /api/ route or a health probe is validated against the document by a validator library
// (pb33f/libopenapi-validator, OpenAPI 3.1), and a mismatch fails the test. The document
// cannot drift from the code without a test noticing.
//
// It is imported by tests only, so the validator is not linked into the binary.
package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/codex-dominion/dominion/docs"
)

// NewValidator parses docs/openapi.json and returns a validator for it, failing t when the
// document is not a valid OpenAPI 3.1 document.
func NewValidator(t testing.TB) validator.Validator {
	t.Helper()
	doc, err := libopenapi.NewDocument([]byte(docs.OpenAPI))
	if err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("docs/openapi.json: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("docs/openapi.json is not a valid OpenAPI document: %s", describe(verrs))
	}
	return v
}

// Transport returns a RoundTripper that sends requests with base (nil: http.DefaultTransport)
// and validates each response against the document before the test sees it. Responses of
// other paths (the dashboard), of HEAD requests, and the 404 and 405 answers of routes the
// document does not have are not checked.
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base, v: NewValidator(t)}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper
	mu   sync.Mutex // the validator is not documented as safe for concurrent use
	v    validator.Validator
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(req)
	if err != nil || !checked(req) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: read the body of %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	copied := *resp
	copied.Body = io.NopCloser(bytes.NewReader(body))
	tr.mu.Lock()
	ok, errs := tr.v.ValidateHttpResponse(req, &copied)
	tr.mu.Unlock()
	if !ok && !undocumentedRoute(resp.StatusCode, errs) {
		tr.t.Errorf("openapitest: %s %s answered %d %s, not as docs/openapi.json says: %s",
			req.Method, req.URL.Path, resp.StatusCode, clip(body), describe(errs))
	}
	return resp, nil
}

// checked says whether the response to req is one the document describes.
func checked(req *http.Request) bool {
	p := req.URL.Path
	return req.Method != http.MethodHead && (strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz")
}

// undocumentedRoute says the request went to a route the document does not have and the API
// said so (404 or 405), as it should.
func undocumentedRoute(status int, errs []*verrors.ValidationError) bool {
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return false
	}
	for _, e := range errs {
		if !e.IsPathMissingError() && !e.IsOperationMissingError() {
			return false
		}
	}
	return len(errs) > 0
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    at %s: %s", f.FieldPath, f.Reason)
		}
	}
	return b.String()
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
