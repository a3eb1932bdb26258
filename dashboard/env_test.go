package dashboard_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
	"github.com/codex-dominion/dominion/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a dashboard served by httptest over a real embedded broker in t.TempDir().
type env struct {
	t      testing.TB
	broker queue.Broker
	client *queue.Client
	src    *countingSource
	dash   *dashboard.Dashboard
	srv    *httptest.Server
	base   string // srv.URL + "/dashboard"
}

// openStore opens a workflow store on a new SQLite file, closed when the test ends.
func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dominion.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openBroker(t testing.TB) *sqlitebroker.Broker {
	t.Helper()
	b, err := sqlitebroker.Open(context.Background(), filepath.Join(t.TempDir(), "queue.db"), sqlitebroker.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newEnv(t testing.TB, mod func(*dashboard.Config)) *env {
	t.Helper()
	return newEnvWith(t, openBroker(t), mod)
}

// newEnvWith is newEnv on a given broker.
func newEnvWith(t testing.TB, broker queue.Broker, mod func(*dashboard.Config)) *env {
	t.Helper()
	e := &env{t: t, broker: broker}
	e.client = queue.NewClient(e.broker)
	e.src = &countingSource{Client: e.client}
	cfg := dashboard.Config{Queues: e.src, Logger: quiet, Interval: 100 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.dash = d
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", d)
	e.srv = httptest.NewServer(mux)
	e.base = e.srv.URL + "/dashboard"
	// Cleanups run last-registered first: the dashboard ends its live streams, then the
	// server closes, then the broker.
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { d.Close() })
	return e
}

// countingSource is the real *queue.Client, counting the calls the dashboard makes, so that
// tests can check what a page reads.
type countingSource struct {
	*queue.Client
	queuesCalls atomic.Int64
	// subscriptions counts the event subscriptions made, subscribed those alive now.
	subscriptions, subscribed atomic.Int64
	mu                        sync.Mutex
	lists                     [][2]int // offset, limit of each List call
}

func (c *countingSource) Queues(ctx context.Context) ([]queue.QueueStats, error) {
	c.queuesCalls.Add(1)
	return c.Client.Queues(ctx)
}

func (c *countingSource) Subscribe(ctx context.Context, f queue.EventFilter) (*queue.Subscription, error) {
	sub, err := c.Client.Subscribe(ctx, f)
	if err == nil {
		c.subscriptions.Add(1)
		c.subscribed.Add(1)
		go func() {
			_ = sub.Err() // waits until it ends
			c.subscribed.Add(-1)
		}()
	}
	return sub, err
}

func (c *countingSource) List(ctx context.Context, q string, st queue.State, offset, limit int) ([]*queue.Job, error) {
	c.mu.Lock()
	c.lists = append(c.lists, [2]int{offset, limit})
	c.mu.Unlock()
	return c.Client.List(ctx, q, st, offset, limit)
}

func (c *countingSource) listCalls() [][2]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][2]int(nil), c.lists...)
}

// startWorker runs a real queue.Worker on the env's broker until the test ends.
func (e *env) startWorker(queues []string, register func(w *queue.Worker)) *queue.Worker {
	e.t.Helper()
	var qw []queue.QueueWeight
	for _, q := range queues {
		qw = append(qw, queue.QueueWeight{Name: q, Weight: 1})
	}
	return e.startWorkerCfg(queue.WorkerConfig{Queues: qw, Concurrency: 8}, register)
}

// startWorkerCfg runs a worker with cfg, its timings shortened for tests: a canceled job's
// handler hears of it within 100 ms, a failed job waits an hour before its retry, and at the
// end of the test running jobs get 200 ms before they are canceled.
func (e *env) startWorkerCfg(cfg queue.WorkerConfig, register func(w *queue.Worker)) *queue.Worker {
	e.t.Helper()
	cfg.Lease, cfg.HeartbeatInterval = 3*time.Second, 100*time.Millisecond
	cfg.FetchWait, cfg.ShutdownTimeout, cfg.Logger = 500*time.Millisecond, 200*time.Millisecond, quiet
	cfg.Backoff = func(int) time.Duration { return time.Hour }
	w := queue.NewWorker(e.broker, cfg)
	register(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return w
}

// jobState reads a job's state from the broker ("" when it does not exist).
func (e *env) jobState(id string) queue.State {
	j, err := e.client.Get(context.Background(), id)
	if errors.Is(err, queue.ErrJobNotFound) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return j.State
}

func (e *env) waitState(id string, want queue.State) {
	e.t.Helper()
	testenv.Until(e.t, 15*time.Second, "job "+id+" to be "+string(want), func() bool { return e.jobState(id) == want })
}

func (e *env) enqueue(typ string, payload any, opts ...queue.Option) *queue.Job {
	e.t.Helper()
	j, err := e.client.Enqueue(context.Background(), typ, payload, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *env) paused(q string) bool {
	e.t.Helper()
	qs, err := e.client.Queues(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range qs {
		if s.Name == q {
			return s.Paused
		}
	}
	return false
}

// browserless HTTP client with a cookie jar, for the handler tests.
type httpClient struct {
	t   testing.TB
	c   *http.Client
	env *env
}

func (e *env) httpClient() *httpClient {
	jar, _ := cookiejar.New(nil)
	return &httpClient{t: e.t, env: e, c: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (h *httpClient) do(req *http.Request) response {
	h.t.Helper()
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func (h *httpClient) get(path string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.env.base+path, nil)
	return h.do(req)
}

func (h *httpClient) post(path string, form url.Values) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.env.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req)
}

var csrfInput = regexp.MustCompile(`name="(?:csrf|dominion-csrf)" (?:value|content)="([^"]+)"`)

// csrf loads a page and returns the CSRF token of its forms.
func (h *httpClient) csrf(path string) string {
	h.t.Helper()
	r := h.get(path)
	m := csrfInput.FindStringSubmatch(r.body)
	if m == nil {
		h.t.Fatalf("no CSRF token on %s (status %d)", path, r.status)
	}
	return m[1]
}

// newRedisEnv is newEnv on a Redis broker, on a redis-server of its own.
func newRedisEnv(t testing.TB, mod func(*dashboard.Config)) *env {
	t.Helper()
	_, b := openRedisBroker(t)
	return newEnvWith(t, b, mod)
}

// openRedisBroker starts a redis-server of the test's own and opens a broker on it, closed at
// the end of the test.
func openRedisBroker(t testing.TB) (*testenv.Redis, *redisbroker.Broker) {
	t.Helper()
	r := testenv.StartRedis(t)
	b, err := redisbroker.Open(context.Background(), r.URL(), redisbroker.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return r, b
}
