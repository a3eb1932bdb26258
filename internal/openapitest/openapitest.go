// Package openapitest checks, in tests, that the HTTP API answers as docs/openapi.json says:
// Transport wraps an http.Client's transport so that every request a test sends to an /api/
// route or a health probe, and every response it receives, is validated against the document
// by a validator library (pb33f/libopenapi-validator, OpenAPI 3.1), and a mismatch fails the
// test. The document cannot drift from the code without a test noticing:
//
//   - a response (status, headers, body) the document does not describe for that operation
//     fails the test;
//   - a request the document says is invalid must be refused (4xx): an API that accepts it
//     is more lenient than its document, and that fails the test too;
//   - a path or method the document does not have must be answered 404 or 405 (or 401 when a
//     token is configured and the request lacks it: the API does not reveal its routes to an
//     unauthenticated client), with the document's Error body.
//
// It is imported by tests only, so the validator is not linked into the binary.
package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"github.com/codex-dominion/dominion/docs"
)

// Validator checks requests and responses against docs/openapi.json.
type Validator struct {
	mu      sync.Mutex // the validator is not documented as safe for concurrent use
	v       validator.Validator
	errBody *base.Schema // components.schemas.Error
	schemas schema_validation.SchemaValidator
}

// NewValidator parses docs/openapi.json, failing t when it is not a valid OpenAPI 3.1
// document.
func NewValidator(t testing.TB) *Validator {
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
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	errProxy := model.Model.Components.Schemas.GetOrZero("Error")
	if errProxy == nil {
		t.Fatal("docs/openapi.json has no components.schemas.Error")
	}
	return &Validator{v: v, errBody: errProxy.Schema(),
		schemas: schema_validation.NewSchemaValidatorWithLogger(slog.New(slog.DiscardHandler))}
}

// Transport returns a RoundTripper that sends requests with base (nil: http.DefaultTransport)
// and validates each request and its response against the document before the test sees
// the response; a mismatch is reported with t.Errorf. Other paths (the dashboard) and HEAD
// requests are not checked.
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base, v: NewValidator(t)}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper
	v    *Validator
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !checked(req) {
		return tr.base.RoundTrip(req)
	}
	reqBody, err := drain(req.Body)
	if err != nil {
		return nil, fmt.Errorf("openapitest: read the body of %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp, err := tr.base.RoundTrip(withBody(req, reqBody))
	if err != nil {
		return resp, err
	}
	respBody, err := drain(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("openapitest: read the answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if problem := tr.v.Check(withBody(req, reqBody), resp, respBody); problem != "" {
		tr.t.Errorf("openapitest: %s %s answered %d %s, not as docs/openapi.json says: %s",
			req.Method, req.URL.Path, resp.StatusCode, clip(respBody), problem)
	}
	return resp, nil
}

// Check validates a request (whose body, if any, is unread) and the response to it, whose
// body is respBody; it returns what does not match the document, or "" when all does.
func (v *Validator) Check(req *http.Request, resp *http.Response, respBody []byte) string {
	reqBody, err := drain(req.Body)
	if err != nil {
		return "reading the request body: " + err.Error()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	reqOK, reqErrs := v.v.ValidateHttpRequest(withBody(req, reqBody))
	copied := *resp
	copied.Body = io.NopCloser(bytes.NewReader(respBody))
	respOK, respErrs := v.v.ValidateHttpResponse(withBody(req, reqBody), &copied)
	switch {
	case !respOK && undocumentedRoute(respErrs):
		return v.checkUndocumented(resp.StatusCode, respBody)
	case !respOK:
		return describe(respErrs)
	case !reqOK && resp.StatusCode < 400:
		return "the request is invalid by the document, yet the API accepted it:" + describe(reqErrs)
	}
	return ""
}

// checkUndocumented checks the answer to a path or method the document does not have.
func (v *Validator) checkUndocumented(status int, body []byte) string {
	switch status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized:
	default:
		return fmt.Sprintf("the document has no such route, and the API answered %d, not 404, 405 or 401", status)
	}
	if ok, errs := v.schemas.ValidateSchemaBytes(v.errBody, body); !ok {
		return "the body is not the document's Error:" + describe(errs)
	}
	return ""
}

// checked says whether the request is one the document describes.
func checked(req *http.Request) bool {
	p := req.URL.Path
	return req.Method != http.MethodHead && (strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz")
}

// undocumentedRoute says the validator found no such path or method in the document.
func undocumentedRoute(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if !e.IsPathMissingError() && !e.IsOperationMissingError() {
			return false
		}
	}
	return len(errs) > 0
}

// drain reads and closes body (nil: none).
func drain(body io.ReadCloser) ([]byte, error) {
	if body == nil || body == http.NoBody {
		return nil, nil
	}
	defer body.Close()
	return io.ReadAll(body)
}

// withBody is a copy of req whose body reads b.
func withBody(req *http.Request, b []byte) *http.Request {
	r := req.Clone(req.Context())
	if b == nil {
		r.Body, r.GetBody = http.NoBody, nil
		return r
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	return r
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
