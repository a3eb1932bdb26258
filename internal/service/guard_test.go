package service_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// raw sends a request with the given Host header and headers (pairs) and returns the status
// and the body.
func (s *server) raw(method, host, path, body string, headers ...string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRebindingHostRefused: a request naming a host the server is not configured for (a
// DNS-rebound name pointing at 127.0.0.1) is refused on the API and the dashboard; loopback
// names pass, and the health probes answer whatever the Host.
func TestRebindingHostRefused(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withoutWorker())
	port := s.base[strings.LastIndex(s.base, ":")+1:]
	for _, path := range []string{"/api/workflows", "/dashboard/", "/dashboard/workflows"} {
		code, body := s.raw("GET", "attacker.example:"+port, path, "")
		if code != http.StatusForbidden || !strings.Contains(body, "DOMINION_ALLOWED_HOSTS") {
			t.Errorf("GET %s with a foreign Host: %d %s, want 403 naming DOMINION_ALLOWED_HOSTS", path, code, body)
		}
		if path == "/api/workflows" && !strings.Contains(body, `"code":"host_not_allowed"`) {
			t.Errorf("API refusal is not the JSON error: %s", body)
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "LOCALHOST.:" + port} {
		if code, body := s.raw("GET", host, "/api/workflows", ""); code != http.StatusOK {
			t.Errorf("GET /api/workflows with Host %s: %d %s", host, code, body)
		}
	}
	if code, body := s.raw("GET", "attacker.example", "/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz with a foreign Host: %d %s", code, body)
	}
}

// TestAllowedHostsConfigured: DOMINION_ALLOWED_HOSTS adds names; "*" allows any.
func TestAllowedHostsConfigured(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withoutWorker(), func(c *service.Config) { c.AllowedHosts = []string{"dominion.example.com"} })
	if code, body := s.raw("GET", "dominion.example.com", "/api/workflows", ""); code != http.StatusOK {
		t.Errorf("configured host: %d %s", code, body)
	}
	if code, _ := s.raw("GET", "other.example.com", "/api/workflows", ""); code != http.StatusForbidden {
		t.Errorf("unconfigured host: %d, want 403", code)
	}
	anyHost := start(t, backends[0], withoutWorker(), func(c *service.Config) { c.AllowedHosts = []string{"*"} })
	if code, body := anyHost.raw("GET", "other.example.com", "/api/workflows", ""); code != http.StatusOK {
		t.Errorf("with *: %d %s", code, body)
	}
}

// TestCrossSiteRequestsRefused: a state-changing request a browser sends for another site
// (foreign Origin, Sec-Fetch-Site: cross-site) and a form or text/plain body are refused on
// every API and dashboard action, and change nothing; the same request from a client that
// is not a browser, with no body or a JSON one, is accepted.
func TestCrossSiteRequestsRefused(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0], withTypes(t, fastTypes))
	wf := s.submit("a", "customer_followup")
	s.waitStatus(wf.WorkflowID, "completed", 20*time.Second)
	cancel := "/api/workflows/" + wf.WorkflowID + "/cancel"
	retry := "/api/workflows/" + wf.WorkflowID + "/retry"
	for _, tc := range []struct {
		path    string
		body    string
		headers []string
		code    int
		want    string
	}{
		{cancel, "", []string{"Origin", "http://attacker.example"}, 403, "cross_origin"},
		{retry, "", []string{"Origin", "http://attacker.example"}, 403, "cross_origin"},
		{retry, "", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"/api/chat", chatBody("a", "execute", "customer_followup"), []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"/dashboard/queues/workflows/pause", "csrf=x", []string{"Origin", "http://attacker.example", "Content-Type", "application/x-www-form-urlencoded"}, 403, "cross-site POST refused"},
		{"/dashboard/workflows/" + wf.WorkflowID + "/retry", "", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site POST refused"},
		{cancel, "x=1", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{cancel, "--b--", []string{"Content-Type", "multipart/form-data; boundary=b"}, 415, "unsupported_media_type"},
		{retry, "{}", []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{retry, "{}", nil, 415, "unsupported_media_type"},
	} {
		code, body := s.raw("POST", "", tc.path, tc.body, tc.headers...)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s %v: %d %s, want %d %s", tc.path, tc.headers, code, body, tc.code, tc.want)
		}
	}
	if got := s.get(wf.WorkflowID); got.Status != "completed" || got.Attempts != 1 {
		t.Errorf("a refused request changed the workflow: %s, %d attempts", got.Status, got.Attempts)
	}
	// The same origin, or not a browser (no Origin): past the guard, to the engine, which
	// says the completed workflow cannot be retried or canceled.
	port := s.base[strings.LastIndex(s.base, ":")+1:]
	if code, body := s.raw("POST", "localhost:"+port, retry, "", "Origin", "http://localhost:"+port); code != http.StatusConflict {
		t.Errorf("same-origin retry: %d %s", code, body)
	}
	if code, body := s.raw("POST", "", cancel, "{}", "Content-Type", "application/json; charset=utf-8"); code != http.StatusConflict {
		t.Errorf("JSON cancel: %d %s", code, body)
	}
}

// TestListenLoopbackWithoutToken: with no token the service refuses a non-loopback address
// unless the operator opts out, and it says at start what it listens on and whether auth is
// on.
func TestListenLoopbackWithoutToken(t *testing.T) {
	t.Parallel()
	var logs testenv.LogBuffer
	base := service.Config{NoWorker: true, NoScheduler: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	base.DataDir = t.TempDir()
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		cfg := base
		cfg.Addr = addr
		svc, err := service.New(t.Context(), cfg)
		if err == nil {
			svc.Close()
			t.Fatalf("listening on %s without a token was allowed", addr)
		}
		if !strings.Contains(err.Error(), "DOMINION_ALLOW_INSECURE") || !strings.Contains(err.Error(), "DOMINION_API_TOKEN") {
			t.Errorf("refusal does not say how to proceed: %v", err)
		}
	}
	run := func(cfg service.Config) string {
		t.Helper()
		logs.Reset()
		ctx, cancel := context.WithCancel(t.Context())
		svc, err := service.New(ctx, cfg)
		if err != nil {
			cancel()
			t.Fatalf("New(%s): %v", cfg.Addr, err)
		}
		cancel() // Run logs its start line and stops at once
		if err := svc.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	cfg := base
	cfg.Addr = "127.0.0.1:0"
	if out := run(cfg); !strings.Contains(out, "loopback only") || !strings.Contains(out, "auth=false") {
		t.Errorf("loopback start log does not say so:\n%s", out)
	}
	cfg.Addr = "0.0.0.0:0"
	cfg.APIToken = "s3cret-token"
	if out := run(cfg); !strings.Contains(out, "beyond loopback") || !strings.Contains(out, "auth=true") {
		t.Errorf("token start log:\n%s", out)
	}
	cfg.APIToken = ""
	cfg.AllowInsecure = true
	if out := run(cfg); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "WITHOUT authentication") {
		t.Errorf("insecure start log has no warning:\n%s", out)
	}
}

// errorField decodes an API error's code and field.
func errorField(t *testing.T, body string) (code, field string) {
	t.Helper()
	var e errorResp
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an API error: %s", body)
	}
	return e.Error.Code, e.Error.Field
}
