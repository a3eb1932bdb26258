package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestDashboardCommand runs `dominion dashboard --read-only` on a Redis that needs a password
// and checks that it serves the queues, never shows the password, refuses actions, and stops
// on its context.
func TestDashboardCommand(t *testing.T) {
	const password = "dashboard-test-password"
	tb := redisBroker(t, testenv.WithPassword(password))
	c := client(t, tb.cfg)
	if _, err := c.Enqueue(t.Context(), "dominion.noop", nil); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)

	var stdout, stderr testenv.LogBuffer
	a := &app{cfg: tb.cfg, stdout: &stdout, stderr: &stderr, log: config.NewLogger(&stderr, 0)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- runDashboard(ctx, a, "dominion dashboard", []string{"--addr", addr, "--read-only", "--no-workflows"})
	}()
	base := "http://" + addr + "/dashboard"
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		resp, err := hc.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 10*time.Second, func() bool { code, _ := get("/"); return code == http.StatusOK },
		func() string { return "the dashboard did not answer:\n" + stderr.String() })
	for _, p := range []string{"/", "/queues", "/jobs?queue=default", "/workers", "/schedules"} {
		code, body := get(p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
		if strings.Contains(body, password) {
			t.Errorf("GET %s shows the Redis password", p)
		}
		if p == "/queues" && !strings.Contains(body, `data-test="queue-default"`) {
			t.Errorf("GET /queues does not show the queue")
		}
		if strings.Contains(body, `method="post"`) {
			t.Errorf("GET %s: a read-only dashboard shows an action", p)
		}
	}
	_, page := get("/")
	m := regexp.MustCompile(`name="dominion-csrf" content="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	// A POST with a valid token (and its cookie) is still refused: read-only.
	req, _ := http.NewRequest(http.MethodPost, base+"/queues/default/pause", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only POST: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if strings.Contains(stderr.String(), password) {
		t.Error("the log shows the Redis password")
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the dashboard did not stop")
	}
}
