//go:build unix

package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestMetricsOnEveryProcess scrapes GET /metrics of `dominion worker --metrics-addr`,
// `dominion scheduler --metrics-addr` and `dominion dashboard` (its own listener), all on one
// Redis: each answers Prometheus's text format with Dominion's series, the worker counting
// the jobs it ran, the scheduler its ticks, the dashboard the broker's queues and live
// workers and its own requests.
func TestMetricsOnEveryProcess(t *testing.T) {
	t.Parallel()
	tb := redisBroker(t)
	cfg := tb.cfg
	cfg.SchedulesFile = everySecond(t, "ticks")
	workerAddr, schedulerAddr := freeAddr(t), freeAddr(t)
	startProc(t, "worker", cfg, "worker", "--queues", "metered,ticks", "--no-workflows", "--metrics-addr", workerAddr)
	startProc(t, "scheduler", cfg, "scheduler", "--metrics-addr", schedulerAddr)
	dash := startProc(t, "dashboard", cfg, "dashboard", "--addr", "127.0.0.1:0")
	dashAddr := logAddr(t, dash, dashboardAddrRE)

	const n = 3
	ok(t, cfg, "enqueue", "dominion.noop", "--count", strconv.Itoa(n), "--queue", "metered")
	awaitMetric(t, "http://"+workerAddr+"/metrics", "the worker's jobs run",
		"dominion_jobs_finished_total", n, `outcome="completed"`, `queue="metered"`, `type="dominion.noop"`)
	awaitMetric(t, "http://"+workerAddr+"/metrics", "the worker's slots", "dominion_worker_slots", 10)
	awaitMetric(t, "http://"+schedulerAddr+"/metrics", "the scheduler's ticks",
		"dominion_scheduler_ticks_total", 1, `result="enqueued"`, `schedule="every-second"`)

	dashMetrics := "http://" + dashAddr + "/metrics"
	awaitMetric(t, dashMetrics, "the broker's completed jobs, read by the dashboard",
		"dominion_queue_jobs", n, `queue="metered"`, `state="completed"`)
	awaitMetric(t, dashMetrics, "the live worker, read by the dashboard", "dominion_workers_live", 1)
	if code, body := httpDo(t, &http.Client{Timeout: 10 * time.Second}, "GET", "http://"+dashAddr+"/dashboard/", ""); code != http.StatusOK {
		t.Fatalf("GET /dashboard/: %d %s", code, body)
	}
	awaitMetric(t, dashMetrics, "the dashboard's own requests", "dominion_http_requests_total", 1, `status="200"`)
}

// freeAddr returns 127.0.0.1:PORT with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// awaitMetric scrapes url until it answers Prometheus's text format with a sample of name,
// with all of labels, whose value is at least min.
func awaitMetric(t *testing.T, url, what, name string, min float64, labels ...string) {
	t.Helper()
	var last string
	testenv.Until(t, time.Minute, fmt.Sprintf("%s: %s{%s} >= %g at %s", what, name, strings.Join(labels, ","), min, url),
		func() bool {
			body, err := scrape(url)
			if err != nil {
				last = err.Error()
				return false
			}
			last = body
			v, ok := sampleValue(body, name, labels...)
			return ok && v >= min
		}, func() string { return "last answer:\n" + last })
}

// scrape GETs a /metrics URL and returns its body, an error unless it is 200 in
// Prometheus's text format.
func scrape(url string) (string, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		return "", fmt.Errorf("GET %s: %d, Content-Type %q: %s", url, resp.StatusCode, ct, b)
	}
	return string(b), nil
}

// sampleValue returns the value of the first sample of name in a text-format body whose
// labels include all of labels (each `key="value"`).
func sampleValue(body, name string, labels ...string) (float64, bool) {
	for line := range strings.Lines(body) {
		series, value, found := strings.Cut(strings.TrimSpace(line), " ")
		if !found || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		if !containsAll(series, labels) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		return v, err == nil
	}
	return 0, false
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
