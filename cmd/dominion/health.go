package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

func runHealth(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "[--url URL]", `Ask a running 'dominion serve' whether it is alive: GET its /healthz, exit 0 on
200 OK and 1 otherwise (no answer within --timeout, or any other status). The container
image's HEALTHCHECK runs it, so it needs no shell or curl.

The default URL is /healthz on DOMINION_ADDR, asked on 127.0.0.1 when the address names
no host or 0.0.0.0 (on ::1 for ::). Ask /readyz (--url http://127.0.0.1:8080/readyz)
to check that the store and the queue answer too.`, 0, 0)
	target := f.String("url", healthURL(a.cfg.Addr), "`URL` to ask; its default comes from DOMINION_ADDR")
	timeout := f.Duration("timeout", 5*time.Second, "give up after this `DURATION`")
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	if *timeout <= 0 {
		return f.usageError("--timeout must be positive, got %s", *timeout)
	}
	if u, err := url.Parse(*target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return f.usageError("--url must be an http:// or https:// URL, got %q", *target)
	}
	status, err := getStatus(ctx, *target, *timeout)
	if err != nil {
		return a.runtimeError(path, err)
	}
	if status != http.StatusOK {
		return a.runtimeError(path, fmt.Errorf("GET %s: %s", *target, http.StatusText(status)))
	}
	fmt.Fprintf(a.stdout, "ok: GET %s: 200 OK\n", *target)
	return exitOK
}

// getStatus asks target and returns the status code of its answer.
func getStatus(ctx context.Context, target string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("no answer: %w", err) // url.Error names the method and URL
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// healthURL is the /healthz URL of a server listening on addr (DOMINION_ADDR): a wildcard or
// empty host is asked on the loopback address of its family.
func healthURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "80"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
