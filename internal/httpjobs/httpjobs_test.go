package httpjobs_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/httpjobs"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
	"github.com/codex-dominion/dominion/workflow"
)

// delivery is one request the endpoint received.
type delivery struct {
	header http.Header
	body   []byte
	req    httpjobs.Request
	at     time.Time
}

// endpoint is a real HTTP server started by the test; answer decides each response from the
// attempt number.
type endpoint struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []delivery
}

func startEndpoint(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, d delivery)) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{header: r.Header.Clone(), body: body, at: time.Now()}
		if err := json.Unmarshal(body, &d.req); err != nil {
			t.Errorf("request body %q: %v", body, err)
		}
		e.mu.Lock()
		e.got = append(e.got, d)
		e.mu.Unlock()
		answer(w, r, d)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) deliveries() []delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]delivery(nil), e.got...)
}

// run starts a worker with the endpoint's handler on a fresh embedded queue, with a 10 ms
// backoff so that retries come quickly, and returns the client.
func run(t *testing.T, ep httpjobs.Endpoint) *queue.Client {
	t.Helper()
	b, err := sqlitebroker.Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), sqlitebroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	w := queue.NewWorker(b, queue.WorkerConfig{
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
		Logger:  slog.New(slog.DiscardHandler), ShutdownTimeout: 5 * time.Second,
	})
	httpjobs.Register(w, &httpjobs.Handlers{Endpoints: []httpjobs.Endpoint{ep}}, nil)
	jobtest.StartWorker(t, w)
	return queue.NewClient(b)
}

const secret = "s3cret-hmac-key"

// A 2xx answer completes the job with the JSON body as its result; the request is the job,
// signed, with the job id as idempotency key and the deadline in a header.
func TestSuccessSignedWithResult(t *testing.T) {
	t.Parallel()
	e := startEndpoint(t, func(w http.ResponseWriter, r *http.Request, d delivery) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"charged":%s}`, strings.TrimSpace(string(d.req.Payload)))
	})
	c := run(t, httpjobs.Endpoint{Type: "charge", URL: e.srv.URL + "/jobs/charge?k=v", Timeout: 5 * time.Second,
		Secret: secret, Headers: map[string]string{"X-Team": "billing", "Idempotency-Key": "overridden?"}})
	job, err := c.Enqueue(context.Background(), "charge", json.RawMessage(`{"amount":42}`), queue.WithID("charge-1"), queue.MaxRetries(4))
	if err != nil {
		t.Fatal(err)
	}
	done := jobtest.WaitState(t, c, job.ID, queue.StateCompleted)
	if string(done.Result) != `{"charged":{"amount":42}}` {
		t.Errorf("result %s", done.Result)
	}
	got := e.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0]
	if d.req.ID != "charge-1" || d.req.Type != "charge" || d.req.Attempt != 1 || d.req.MaxRetries != 4 ||
		d.req.Queue != "default" || string(d.req.Payload) != `{"amount":42}` {
		t.Errorf("request body %s", d.body)
	}
	h := d.header
	if h.Get("Idempotency-Key") != "charge-1" || h.Get("X-Dominion-Job") != "charge-1" || h.Get("X-Dominion-Attempt") != "1" ||
		h.Get("X-Team") != "billing" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	if sig := h.Get("X-Dominion-Signature"); !hmac.Equal([]byte(sig), []byte(workflow.Sign(secret, d.body))) {
		t.Errorf("signature %q does not verify", sig)
	}
	if workflow.Sign("another key", d.body) == h.Get("X-Dominion-Signature") {
		t.Error("the signature verifies under any key")
	}
	dl, err := time.Parse(time.RFC3339Nano, h.Get("Dominion-Deadline"))
	if err != nil || dl.Before(d.at) || dl.After(d.at.Add(5*time.Second)) {
		t.Errorf("Dominion-Deadline %q (received at %s): %v", h.Get("Dominion-Deadline"), d.at, err)
	}
}

// 5xx is retried with the job's backoff (and 429 too), with the same idempotency key and the
// next attempt number, until a 2xx completes the job.
func TestRetryOn5xx(t *testing.T) {
	t.Parallel()
	e := startEndpoint(t, func(w http.ResponseWriter, r *http.Request, d delivery) {
		switch d.req.Attempt {
		case 1:
			http.Error(w, "database down", http.StatusServiceUnavailable)
		case 2:
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := run(t, httpjobs.Endpoint{Type: "sync", URL: e.srv.URL, Timeout: 5 * time.Second})
	job, err := c.Enqueue(context.Background(), "sync", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := jobtest.WaitState(t, c, job.ID, queue.StateCompleted)
	if done.Attempt != 3 || len(done.Errors) != 2 || !strings.Contains(done.Errors[0].Error, "503 Service Unavailable: database down") ||
		!strings.Contains(done.Errors[1].Error, "429") || done.Result != nil {
		t.Errorf("job after retries: attempt %d, errors %+v, result %s", done.Attempt, done.Errors, done.Result)
	}
	for i, d := range e.deliveries() {
		if d.header.Get("Idempotency-Key") != job.ID || d.req.Attempt != i+1 || d.header.Get("X-Dominion-Signature") != "" {
			t.Errorf("delivery %d: key %q, attempt %d", i, d.header.Get("Idempotency-Key"), d.req.Attempt)
		}
	}
}

// 4xx other than 408, 425 and 429 sends the job to dead at once, retries left or not.
func TestDeadOn4xx(t *testing.T) {
	t.Parallel()
	e := startEndpoint(t, func(w http.ResponseWriter, r *http.Request, d delivery) {
		http.Error(w, `{"error":"unknown customer"}`, http.StatusUnprocessableEntity)
	})
	c := run(t, httpjobs.Endpoint{Type: "bill", URL: "http://user:pw@" + strings.TrimPrefix(e.srv.URL, "http://") + "/bill?token=xyz", Timeout: 5 * time.Second})
	job, err := c.Enqueue(context.Background(), "bill", map[string]int{"customer": 7}, queue.MaxRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	dead := jobtest.WaitState(t, c, job.ID, queue.StateDead)
	if dead.Attempt != 1 || len(dead.Errors) != 1 || !strings.Contains(dead.Errors[0].Error, "422 Unprocessable Entity") {
		t.Errorf("dead job: attempt %d, errors %+v", dead.Attempt, dead.Errors)
	}
	if msg := dead.Errors[0].Error; strings.Contains(msg, "pw") || strings.Contains(msg, "xyz") {
		t.Errorf("the error shows the URL's credentials: %s", msg)
	}
}

// An endpoint that does not answer within the timeout fails the attempt, which is retried;
// the last allowed attempt sends the job to dead with the reason.
func TestTimeout(t *testing.T) {
	t.Parallel()
	e := startEndpoint(t, func(w http.ResponseWriter, r *http.Request, d delivery) {
		<-r.Context().Done() // never answers: the worker gives up
	})
	c := run(t, httpjobs.Endpoint{Type: "slow", URL: e.srv.URL, Timeout: 200 * time.Millisecond})
	job, err := c.Enqueue(context.Background(), "slow", nil, queue.MaxRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	dead := jobtest.WaitState(t, c, job.ID, queue.StateDead)
	if dead.Attempt != 2 || len(dead.Errors) != 2 || !strings.Contains(dead.Errors[1].Error, "no answer within 200ms") {
		t.Errorf("job: attempt %d, errors %+v", dead.Attempt, dead.Errors)
	}
	for _, d := range e.deliveries() {
		dl, err := time.Parse(time.RFC3339Nano, d.header.Get("Dominion-Deadline"))
		if err != nil || dl.Sub(d.at) > 200*time.Millisecond {
			t.Errorf("deadline %q for a request received at %s", d.header.Get("Dominion-Deadline"), d.at)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOOK_SECRET": "  from-env \n", "APP_URL": "http://app.example:5000"}
	files := map[string]string{"/run/secrets/hook": "from-file\n"}
	readFile := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("open %s: no such file", p)
	}
	eps, err := httpjobs.Parse([]byte(`handlers:
  - type: a
    url: https://a.example/jobs
    secret_env: HOOK_SECRET
    headers: {X-Team: t}
  - type: b
    url: ${APP_URL}/jobs/b
    timeout: 2s
    secret_file: /run/secrets/hook
`), func(k string) string { return env[k] }, readFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].Secret != "from-env" || eps[0].Timeout != httpjobs.DefaultTimeout || eps[0].Headers["X-Team"] != "t" ||
		eps[1].Secret != "from-file" || eps[1].Timeout != 2*time.Second || eps[1].URL != "http://app.example:5000/jobs/b" {
		t.Errorf("%+v", eps)
	}
	for _, c := range []struct{ yaml, want string }{
		{``, "empty"},
		{`handlers: []`, "no handlers"},
		{"handlers:\n  - type: a\n    url: ftp://x/\n", "not an http"},
		{"handlers:\n  - url: http://x/\n", "type is required"},
		{"handlers:\n  - type: a\n    url: ${NOPE}/x\n", `url: environment variable "NOPE" is not set (or is empty)`},
		{"handlers:\n  - type: a\n    url: http://x/\n    timeout: soon\n", "timeout"},
		{"handlers:\n  - type: a\n    url: http://x/\n    secret_env: NOPE\n", "NOPE is not set"},
		{"handlers:\n  - type: a\n    url: http://x/\n    secret_file: /nope\n", "secret_file"},
		{"handlers:\n  - type: a\n    url: http://x/\n    secret_env: HOOK_SECRET\n    secret_file: /run/secrets/hook\n", "not both"},
		{"handlers:\n  - type: a\n    url: http://x/\n  - type: a\n    url: http://y/\n", "defined twice"},
		{"handlers:\n  - type: a\n    url: http://x/\n    bogus: 1\n", "bogus"},
	} {
		_, err := httpjobs.Parse([]byte(c.yaml), func(k string) string { return env[k] }, readFile)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "from-env") || strings.Contains(err.Error(), "from-file")) {
			t.Errorf("an error shows a secret: %v", err)
		}
	}
}
