package logging_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/logging"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/internal/tracing"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
)

const deadline = 30 * time.Second

// jsonLogger is a debug-level logger in the format DOMINION_LOG_FORMAT=json selects.
func jsonLogger(t *testing.T) (*slog.Logger, *testenv.LogBuffer) {
	t.Helper()
	format, err := logging.ParseFormat("json")
	if err != nil {
		t.Fatal(err)
	}
	buf := &testenv.LogBuffer{}
	return logging.New(buf, slog.LevelDebug, format), buf
}

// lines parses every line of buf as a JSON object; a line that is not one fails the test.
func lines(t *testing.T, buf *testenv.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// withMsg returns the lines whose msg is msg.
func withMsg(all []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range all {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// runJob enqueues with ctx one job of type "mail" on queue "outbox" whose handler logs
// "sending" and fails its first attempt, runs it on a real worker logging through log with
// mw outermost, and returns the job once completed.
func runJob(ctx context.Context, t *testing.T, log *slog.Logger, enqueue []queue.EnqueueMiddleware, mw ...queue.Middleware) *queue.Job {
	t.Helper()
	b := jobtest.NewBroker()
	var attempts atomic.Int32
	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "outbox", Weight: 1}}, Logger: log,
		Middleware: append(mw, queue.LoggingMiddleware(log)),
		Backoff:    func(int) time.Duration { return time.Millisecond },
	})
	w.HandleFunc("mail", func(ctx context.Context, _ *queue.Job) (any, error) {
		log.InfoContext(ctx, "sending")
		if attempts.Add(1) == 1 {
			return nil, errors.New("smtp refused")
		}
		return nil, nil
	})
	jobtest.StartWorker(t, w)
	job, err := queue.NewClient(b, queue.WithEnqueueMiddleware(enqueue...)).Enqueue(ctx, "mail", nil, queue.OnQueue("outbox"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, deadline, "the job completed", func() bool {
		j, err := b.Get(t.Context(), job.ID)
		return err == nil && j.State == queue.StateCompleted
	})
	return job
}

// TestJobLogLines checks that the lines logged about a job, by the worker's logging
// middleware and by the handler itself through its context, carry job_id, queue, type and
// the attempt, once each.
func TestJobLogLines(t *testing.T) {
	t.Parallel()
	log, buf := jsonLogger(t)
	job := runJob(t.Context(), t, log, nil)
	all := lines(t, buf)
	sending := withMsg(all, "sending")
	if len(sending) != 2 {
		t.Fatalf("%d lines \"sending\", want 2 (one per attempt):\n%s", len(sending), buf)
	}
	failed := withMsg(all, "job failed")
	if len(failed) != 1 {
		t.Fatalf("%d lines \"job failed\", want 1:\n%s", len(failed), buf)
	}
	for i, l := range append(sending, failed...) {
		attempt := float64(i + 1)
		if i == 2 {
			attempt = 1
		}
		want := map[string]any{"job_id": job.ID, "queue": "outbox", "type": "mail", "attempt": attempt}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("line %q: %s = %v, want %v", l["msg"], k, l[k], v)
			}
		}
		if _, ok := l["trace_id"]; ok {
			t.Errorf("line %q has a trace_id with tracing off", l["msg"])
		}
	}
	for line := range strings.SplitSeq(buf.String(), "\n") {
		if strings.Count(line, `"job_id"`) > 1 {
			t.Errorf("job_id twice in one line: %s", line)
		}
	}
}

// requestServer serves GET /api/workflows/{id} through the request log, tracing when p is
// not nil, as the API is wired.
func requestServer(t *testing.T, log *slog.Logger, p *tracing.Provider) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/workflows/{id}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"id":"wf1"}`))
	})
	var h http.Handler = logging.Requests(log, mux, nil)
	if p != nil {
		h = p.HTTP(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// get requests url with the X-Request-ID given (none when empty) and returns the response's.
func get(t *testing.T, url, requestID string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if requestID != "" {
		req.Header.Set(logging.HeaderRequestID, requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp.Header.Get(logging.HeaderRequestID)
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// TestRequestLog checks the request log line (method, route, path, status, size, duration,
// request id) and X-Request-ID: the client's when sane, else a new one, always returned.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	log, buf := jsonLogger(t)
	url := requestServer(t, log, nil) + "/api/workflows/wf1?token=secret"
	long := strings.Repeat("a", 129)
	for _, c := range []struct {
		name, given string
		keep        bool
	}{
		{"given", "req-42_a.b:c", true},
		{"128 characters", long[:128], true},
		{"none", "", false},
		{"too long", long, false},
		{"forged log line", `x" msg="admin login`, false},
		{"space", "a b", false},
	} {
		buf.Reset()
		got := get(t, url, c.given)
		switch {
		case c.keep && got != c.given:
			t.Errorf("%s: response X-Request-ID %q, want the request's %q", c.name, got, c.given)
		case !c.keep && !generatedID.MatchString(got):
			t.Errorf("%s: response X-Request-ID %q, want a generated one", c.name, got)
		}
		reqs := withMsg(lines(t, buf), "http request")
		if len(reqs) != 1 {
			t.Fatalf("%s: %d request lines, want 1:\n%s", c.name, len(reqs), buf)
		}
		l := reqs[0]
		want := map[string]any{"method": "GET", "route": "GET /api/workflows/{id}", "path": "/api/workflows/wf1",
			"status": float64(200), "bytes": float64(len(`{"id":"wf1"}`)), "request_id": got}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("%s: %s = %v, want %v", c.name, k, l[k], v)
			}
		}
		if took, ok := l["took"].(float64); !ok || took <= 0 {
			t.Errorf("%s: took = %v, want a positive duration", c.name, l["took"])
		}
		if strings.Contains(buf.String(), "secret") {
			t.Errorf("%s: the query string reached the log: %s", c.name, buf)
		}
	}
	first, second := get(t, url, ""), get(t, url, "")
	if first == second {
		t.Errorf("two requests without X-Request-ID got the same id %q", first)
	}
}

// TestTraceIDInLogs turns tracing on and checks that a job's lines and a request's line
// carry the trace_id and span_id of their spans: for the job, the trace of its enqueue.
func TestTraceIDInLogs(t *testing.T) {
	rcv := testenv.StartOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	p, err := tracing.New(t.Context(), "worker")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	log, buf := jsonLogger(t)

	ctx, span := p.Tracer().Start(t.Context(), "request")
	traceID := span.SpanContext().TraceID().String()
	job := runJob(ctx, t, log, []queue.EnqueueMiddleware{p.EnqueueMiddleware()}, p.JobMiddleware())
	span.End()
	n := 0
	for _, l := range lines(t, buf) {
		if l["job_id"] != job.ID {
			continue
		}
		n++
		if l["trace_id"] != traceID || l["span_id"] == nil {
			t.Errorf("line %q: trace_id %v, span_id %v; want the enqueuer's trace %s and a span", l["msg"], l["trace_id"], l["span_id"], traceID)
		}
	}
	if n < 3 {
		t.Errorf("%d lines about the job, want at least 3:\n%s", n, buf)
	}

	buf.Reset()
	url := requestServer(t, log, p) + "/api/workflows/wf1"
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req.Header.Set("traceparent", parent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := withMsg(lines(t, buf), "http request")
	if len(reqs) != 1 {
		t.Fatalf("%d request lines, want 1:\n%s", len(reqs), buf)
	}
	if got := reqs[0]["trace_id"]; got != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("request line trace_id = %v, want the caller's traceparent's", got)
	}
}

// TestAnnotate checks that what a handler annotates joins its request's line, that there is
// one line per request, and that Annotate reports false where no request line will carry the
// attributes (no request, or a goroutine that outlived its request), so that its caller logs
// them on a line of its own.
func TestAnnotate(t *testing.T) {
	t.Parallel()
	if logging.Annotate(t.Context(), slog.String("workflow_id", "w0")) {
		t.Error("Annotate outside a request returned true: the caller would log nothing")
	}
	log, buf := jsonLogger(t)
	late := make(chan context.Context, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, r *http.Request) {
		if !logging.Annotate(r.Context(), slog.String("workflow_id", "w1"), slog.Float64("weekly_savings", 33.33)) {
			t.Error("Annotate in a handler under Requests returned false")
		}
		late <- r.Context()
		w.WriteHeader(http.StatusAccepted)
	})
	srv := httptest.NewServer(logging.Requests(log, mux, nil))
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/api/chat", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	all := lines(t, buf)
	if len(all) != 1 {
		t.Fatalf("%d lines for one request, want 1:\n%s", len(all), buf)
	}
	l := all[0]
	if l["msg"] != "http request" || l["status"] != float64(http.StatusAccepted) || l["workflow_id"] != "w1" || l["weekly_savings"] != 33.33 {
		t.Errorf("request line %v: want msg \"http request\", status 202, workflow_id w1 and weekly_savings 33.33", l)
	}
	if logging.Annotate(<-late, slog.String("workflow_id", "w2")) {
		t.Error("Annotate after the request's line was written returned true: the attributes would be lost")
	}
}

// TestRequestsKeepsPattern checks that middleware around Requests (the metrics, the trace)
// reads, after it returns, the pattern that the ServeMux inside matched, as it does around a
// ServeMux itself.
func TestRequestsKeepsPattern(t *testing.T) {
	t.Parallel()
	log, _ := jsonLogger(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	inner := logging.Requests(log, mux, nil)
	patterns := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		patterns <- r.Pattern
	}))
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/api/chat", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-patterns; got != "POST /api/chat" {
		t.Errorf("the middleware around Requests read pattern %q, want the ServeMux's %q", got, "POST /api/chat")
	}
}
