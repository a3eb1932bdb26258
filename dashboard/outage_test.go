package dashboard_test

import (
	"bufio"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// TestLiveViewLogsOutageOnce: while a page watches, the dashboard's poller reads the queue
// statistics ten times a second; when Redis stops it logs one warning, and when Redis is back
// one line saying so, per outage, however many reads fail in between.
func TestLiveViewLogsOutageOnce(t *testing.T) {
	t.Parallel()
	r, br := openRedisBroker(t)
	var logs testenv.LogBuffer
	d, err := dashboard.New(dashboard.Config{Queues: queue.NewClient(br), Interval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	samples := watch(t, srv.URL+"/dashboard/events")

	const down, back = "read the queue statistics", "the queue statistics answer again"
	for outage := 1; outage <= 2; outage++ {
		r.Stop()
		waitLog(t, &logs, down, outage)
		waitSamples(t, samples, 5) // five more failed reads
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		waitLog(t, &logs, back, outage)
		waitSamples(t, samples, 5)
		if n := strings.Count(logs.String(), down); n != outage {
			t.Fatalf("after %d outages, %d warnings:\n%s", outage, n, logs.String())
		}
	}
}

// watch opens the live stream at url and returns a channel that receives one value per sample.
func watch(t *testing.T, url string) <-chan struct{} {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := make(chan struct{}, 1000)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "event: sample" {
				out <- struct{}{}
			}
		}
	}()
	return out
}

// waitSamples waits for n samples sent after it is called: those the channel buffered
// before (read while Redis was still up, say) are dropped first.
func waitSamples(t *testing.T, samples <-chan struct{}, n int) {
	t.Helper()
	for len(samples) > 0 {
		<-samples
	}
	for range n {
		select {
		case <-samples:
		case <-time.After(30 * time.Second):
			t.Fatal("the live stream sent no sample for 30 s")
		}
	}
}

func waitLog(t *testing.T, logs *testenv.LogBuffer, line string, times int) {
	t.Helper()
	testenv.Until(t, 30*time.Second, "the log line "+line,
		func() bool { return strings.Count(logs.String(), line) >= times }, logs.String)
	if n := strings.Count(logs.String(), line); n != times {
		t.Fatalf("%q logged %d times, want %d:\n%s", line, n, times, logs.String())
	}
}
