//go:build unix

package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/config"
)

// TestHealth asks a real `dominion serve` process: exit 0 while it runs, on --url and on the
// URL made from DOMINION_ADDR; exit 1 with the reason once it has stopped.
func TestHealth(t *testing.T) {
	t.Parallel()
	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	srv := startProc(t, "serve", cfg, "serve", "--no-dashboard", "--no-scheduler", "--addr", "127.0.0.1:0")
	addr := listenAddr(t, srv)
	url := "http://" + addr + "/healthz"

	for _, args := range [][]string{{"health", "--url", url}, {"health"}} {
		c := cfg
		c.Addr = addr // DOMINION_ADDR
		r := dominion(t, c, args...)
		if r.code != 0 || r.stdout != "ok: GET "+url+": 200 OK\n" || r.stderr != "" {
			t.Errorf("dominion %q while serve runs: %s", args, r)
		}
	}
	if r := dominion(t, cfg, "health", "--url", "http://"+addr+"/nothing-here"); r.code != 1 ||
		!strings.Contains(r.stderr, "Not Found") {
		t.Errorf("health of a 404: want exit 1 naming the status; got %s", r)
	}

	if code := srv.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM, want 0", code)
	}
	r := dominion(t, cfg, "health", "--url", url, "--timeout", "2s")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "dominion health: no answer: ") || r.stdout != "" {
		t.Errorf("health after serve stopped: want exit 1 and the reason; got %s", r)
	}
}

func TestHealthURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/healthz",
		"[::]:8080":      "http://[::1]:8080/healthz",
		"127.0.0.1:8080": "http://127.0.0.1:8080/healthz",
		"db.local:80":    "http://db.local:80/healthz",
	} {
		if got := healthURL(addr); got != want {
			t.Errorf("healthURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestHealthUsage(t *testing.T) {
	t.Parallel()
	cfg := testConfig(config.Config{DataDir: t.TempDir()})
	for _, tc := range []struct {
		args []string
		line string
	}{
		{[]string{"health", "--url", "localhost:8080"}, `dominion health: --url must be an http:// or https:// URL, got "localhost:8080"`},
		{[]string{"health", "--timeout", "0s"}, "dominion health: --timeout must be positive, got 0s"},
		{[]string{"health", "extra"}, `dominion health: unexpected argument "extra"`},
	} {
		r := dominion(t, cfg, tc.args...)
		first, rest, _ := strings.Cut(r.stderr, "\n")
		if r.code != 2 || first != tc.line || !strings.HasPrefix(rest, "Usage: dominion health") {
			t.Errorf("dominion %q: want exit 2 and %q; got %s", tc.args, tc.line, r)
		}
	}
}
