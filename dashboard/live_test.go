package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// liveSample is a sample frame of the live stream, as the page's script reads it.
type liveSample struct {
	Values map[string]any `json:"values"`
	Mode   string         `json:"mode"`
	Error  string         `json:"error"`
}

// stream opens the live stream at path (under the dashboard) and returns its samples, in
// order, until the test ends.
func (e *env) stream(t *testing.T, path string) <-chan liveSample {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	out := make(chan liveSample, 1000)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok && event == "sample" {
				var s liveSample
				if json.Unmarshal([]byte(v), &s) == nil {
					out <- s
				}
			}
		}
	}()
	return out
}

// waitValue reads samples until one shows key at want, and returns the samples read.
func waitValue(t *testing.T, samples <-chan liveSample, key string, want float64, within time.Duration) []liveSample {
	t.Helper()
	var seen []liveSample
	deadline := time.After(within)
	for {
		select {
		case s, ok := <-samples:
			if !ok {
				t.Fatalf("the stream ended before %s showed %v", key, want)
			}
			seen = append(seen, s)
			if v, ok := s.Values[key].(float64); ok && v == want {
				return seen
			}
		case <-deadline:
			t.Fatalf("no sample showed %s = %v within %s (%d samples)", key, want, within, len(seen))
		}
	}
}

// TestManyPagesShareOneSubscription: a hundred open pages make one event subscription and a
// few reads of the statistics; each gets the new counts when jobs change, without any
// periodic refresh (Interval is an hour), and a page of one queue gets that queue's values
// only.
func TestManyPagesShareOneSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dashboard.Config) { c.Interval = time.Hour })
	e.enqueue("work", nil, queue.OnQueue("a"))
	e.enqueue("work", nil, queue.OnQueue("b"))
	const pages = 100
	var all, onlyA []<-chan liveSample
	for i := range pages {
		switch i % 4 {
		case 0:
			onlyA = append(onlyA, e.stream(t, "/events?queue=a"))
		case 1:
			all = append(all, e.stream(t, "/events?charts"))
		default:
			all = append(all, e.stream(t, "/events?"))
		}
	}
	testenv.Until(t, 10*time.Second, "one subscription", func() bool { return e.src.subscribed.Load() == 1 })
	reads := e.src.queuesCalls.Load()
	reqs := make([]queue.Request, 0, 20)
	for range 10 {
		reqs = append(reqs, queue.Request{Type: "work", Options: []queue.Option{queue.OnQueue("a")}},
			queue.Request{Type: "work", Options: []queue.Option{queue.OnQueue("b")}})
	}
	start := time.Now()
	if _, _, err := e.client.EnqueueMany(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		waitValue(t, s, "total.pending", 22, 10*time.Second)
	}
	for _, s := range onlyA {
		for _, got := range waitValue(t, s, "queue.a.pending", 11, 10*time.Second) {
			for k := range got.Values {
				if !strings.HasPrefix(k, "queue.a.") {
					t.Fatalf("a page of queue a got %s", k)
				}
			}
		}
	}
	t.Logf("%d pages showed the 20 new jobs within %s, with %d reads of the statistics", pages, time.Since(start).Round(time.Millisecond),
		e.src.queuesCalls.Load()-reads)
	if n := e.src.queuesCalls.Load() - reads; n > int64(time.Since(start)/(250*time.Millisecond))+3 {
		t.Errorf("%d reads of the statistics for %d pages: want one per sample, at most four a second", n, pages)
	}
	if n := e.src.subscriptions.Load(); n != 1 {
		t.Errorf("%d pages made %d event subscriptions, want 1", pages, n)
	}
}

// TestLiveStreamRefusesStrangers: the live stream needs the login, and answers only the
// dashboard's own pages: a request from another origin (or another site, or an opaque
// origin) is refused with 403 even with a valid session, and so it is without a token.
func TestLiveStreamRefusesStrangers(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	e := newEnv(t, func(c *dashboard.Config) { c.Token = token })
	h := e.httpClient()
	csrf := h.csrf("/login")
	self := e.srv.URL
	check := func(h *httpClient, header, value string, want int) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.env.base+"/events", nil)
		req.Header.Set("Accept", "text/event-stream")
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := h.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("event stream with %s: %q: status %d, want %d", header, value, resp.StatusCode, want)
		}
	}
	check(h, "", "", http.StatusUnauthorized) // not logged in yet
	if r := h.post("/login", url.Values{"csrf": {csrf}, "token": {token}}); r.status != http.StatusSeeOther {
		t.Fatalf("login: status %d", r.status)
	}
	check(h, "", "", http.StatusOK)
	check(h, "Origin", self, http.StatusOK)
	check(h, "Sec-Fetch-Site", "same-origin", http.StatusOK)
	check(h, "Origin", "https://evil.example", http.StatusForbidden)
	check(h, "Origin", strings.Replace(self, "127.0.0.1", "localhost", 1), http.StatusForbidden)
	check(h, "Origin", "null", http.StatusForbidden)
	check(h, "Sec-Fetch-Site", "cross-site", http.StatusForbidden)
	check(h, "Sec-Fetch-Site", "same-site", http.StatusForbidden)

	open := newEnv(t, nil)
	check(open.httpClient(), "Origin", "https://evil.example", http.StatusForbidden)
	check(open.httpClient(), "Sec-Fetch-Site", "cross-site", http.StatusForbidden)
}

// noEvents is a queue source without the event stream.
type noEvents struct{ dashboard.QueueSource }

// TestLiveFallsBackToRefresh: without the event stream the live pages are refreshed every
// Interval, and say so (mode refresh).
func TestLiveFallsBackToRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dashboard.Config) {
		c.Queues = noEvents{c.Queues}
		c.Interval = 300 * time.Millisecond
	})
	samples := e.stream(t, "/events?")
	e.enqueue("work", nil)
	start := time.Now()
	for _, s := range waitValue(t, samples, "total.pending", 1, 10*time.Second) {
		if s.Mode != "refresh" {
			t.Fatalf("a sample says %q drives it, without an event stream; want refresh", s.Mode)
		}
	}
	t.Logf("the new job shown after %s by the refresh", time.Since(start).Round(time.Millisecond))
}

// TestBusyLoadDropsSubscription: when more job events arrive than the pages could show (3,000
// jobs enqueued at once), the dashboard ends its subscription, so that the broker stops
// recording events for it, and the pages are refreshed every second instead, and say so.
// (On Redis: the embedded broker under the race detector takes half a minute to enqueue
// them.)
func TestBusyLoadDropsSubscription(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t, func(c *dashboard.Config) { c.Interval = time.Hour })
	e.enqueue("work", nil) // the queue exists when the subscription starts
	samples := e.stream(t, "/events?")
	testenv.Until(t, 10*time.Second, "the subscription", func() bool { return e.src.subscribed.Load() == 1 })
	const n = 3000
	reqs := make([]queue.Request, n)
	for i := range reqs {
		reqs[i] = queue.Request{Type: "work"}
	}
	if _, _, err := e.client.EnqueueMany(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, 15*time.Second, "the subscription to end", func() bool { return e.src.subscribed.Load() == 0 })
	e.enqueue("work", nil)
	var busy []time.Time
	for _, s := range waitValue(t, samples, "total.pending", n+2, 15*time.Second) {
		if s.Mode == "busy" {
			busy = append(busy, time.Now())
		}
	}
	if len(busy) == 0 {
		t.Fatal("no sample says the pages are refreshed every second (mode busy)")
	}
}
