package dashboard_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestPageParametersBounded: a page number that overflows an int, or is not a number, is a
// 400 naming the bounds, never a negative offset; one past the end shows the last page.
func TestPageParametersBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for range 3 {
		e.enqueue("noop", nil)
	}
	h := e.httpClient()
	for _, q := range []string{"page=99999999999999999999", "page=-1", "page=0", "page=abc", "page=1e3",
		"q=noop&from=-5", "q=noop&from=99999999999999999999"} {
		r := h.get("/jobs?queue=default&state=pending&" + q)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "whole number") {
			t.Errorf("/jobs?%s: status %d, want 400 naming the bounds", q, r.status)
		}
	}
	r := h.get("/jobs?queue=default&state=pending&page=7")
	if r.status != http.StatusOK || !strings.Contains(r.body, "noop") {
		t.Errorf("a page past the end: status %d, want the last page with its jobs", r.status)
	}
}

// TestSourceErrorsAreGeneric: a database error (its SQL state, the bytes it choked on) is
// never shown on a page; the page says something failed, and the log has the detail.
func TestSourceErrorsAreGeneric(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const detail = `ERROR: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)`
	var logs testenv.LogBuffer
	failing := &failingSource{countingSource: e.src, err: errors.New(detail)}
	d, err := dashboard.New(dashboard.Config{Queues: failing, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, p := range []string{"/dashboard/queues", "/dashboard/jobs", "/dashboard/workers"} {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		body := rec.Body.String()
		if strings.Contains(body, "SQLSTATE") || strings.Contains(body, "invalid byte sequence") {
			t.Errorf("%s shows the database error: %s", p, body)
		}
		if rec.Code != http.StatusBadGateway || !strings.Contains(body, "server log") {
			t.Errorf("%s: status %d, want 502 pointing to the server log", p, rec.Code)
		}
	}
	if !strings.Contains(logs.String(), "SQLSTATE 22021") {
		t.Errorf("the log lacks the detail:\n%s", logs.String())
	}
}
