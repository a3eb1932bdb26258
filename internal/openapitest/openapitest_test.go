package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/codex-dominion/dominion/internal/openapitest"
)

// recorder is a testing.TB that keeps what the transport reports instead of failing.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// A server that drifts from docs/openapi.json, in each way the transport must notice, and
// answers that match it, which it must let through; the test reads each answer as a client
// would, after the transport.
func TestTransportReportsDrift(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		body   string
	}
	answers := map[string]answer{
		// As documented.
		"GET /healthz":              {200, `{"status":"ok"}`},
		"POST /api/jobs":            {201, `{"jobs":[{"id":"j1","queue":"default","type":"t","enqueued":true,"state":"pending","status_url":"/api/jobs/j1"}],"enqueued":1,"duplicates":0}`},
		"GET /api/jobs/missing":     {404, `{"error":{"code":"not_found","message":"no job missing"}}`},
		"GET /api/nope":             {404, `{"error":{"code":"not_found","message":"no such route"}}`},
		"DELETE /api/queues":        {405, `{"error":{"code":"method_not_allowed","message":"use GET"}}`},
		"GET /api/workflow-types/x": {401, `{"error":{"code":"unauthorized","message":"missing bearer token"}}`},
		// Drifted.
		"GET /readyz":                      {200, `{"status":"ok"}`},                              // a required field missing
		"POST /api/workflows/w1/retry":     {200, `{"id":"w1"}`},                                  // 200 where 202 is documented
		"GET /api/jobs/j1":                 {200, `{"id":"j1","state":"pending","colour":"red"}`}, // an undocumented field
		"GET /api/undocumented":            {200, `{}`},                                           // a route the document lacks
		"GET /api/undocumented-error-body": {404, `not found`},                                    // not the Error shape
		"GET /api/workflow-types":          {409, `{"error":{"code":"conflict","message":"no"}}`}, // a status the operation does not list
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			a = answer{500, `{"error":{"code":"internal","message":"the test has no answer for this"}}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)

	rec := &recorder{TB: t}
	hc := &http.Client{Transport: openapitest.Transport(rec, nil)}
	send := func(method, path, body string) []string {
		t.Helper()
		before := len(rec.reported())
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := answers[method+" "+path].body; err != nil || string(got) != want {
			t.Errorf("%s %s: the test read %q (%v), the server sent %q", method, path, got, err, want)
		}
		return rec.reported()[before:]
	}

	for _, c := range []struct{ method, path, body string }{
		{"GET", "/healthz", ""},
		{"POST", "/api/jobs", `{"type":"t"}`},
		{"GET", "/api/jobs/missing", ""},
		{"GET", "/api/nope", ""},
		{"DELETE", "/api/queues", ""},
		{"GET", "/api/workflow-types/x", ""},
	} {
		if got := send(c.method, c.path, c.body); len(got) != 0 {
			t.Errorf("%s %s matches the document, yet the transport reported: %q", c.method, c.path, got)
		}
	}
	for _, c := range []struct{ method, path, body, want string }{
		{"GET", "/readyz", "", "checks"},
		{"POST", "/api/workflows/w1/retry", "", "200"},
		{"GET", "/api/jobs/j1", "", "colour"},
		{"GET", "/api/undocumented", "", "no such route"},
		{"GET", "/api/undocumented-error-body", "", "not the document's Error"},
		{"GET", "/api/workflow-types", "", "409"},
		{"POST", "/api/jobs", `{"type":"","colour":1}`, "the API accepted it"}, // 201 to a request the document refuses
	} {
		got := send(c.method, c.path, c.body)
		if len(got) != 1 || !strings.Contains(got[0], c.want) {
			t.Errorf("%s %s drifts from the document: reported %q, want one report naming %q", c.method, c.path, got, c.want)
		}
	}
}
