package tracing

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestOTLPSettings: the OTEL_EXPORTER_OTLP_* variables as the OTLP exporter specification
// reads them (the TRACES_ one winning), and a clear refusal of what this build cannot do.
func TestOTLPSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     map[string]string
		url     string
		header  string // "Key: value" expected, if any
		gzip    bool
		timeout time.Duration
	}{
		{env: nil, url: "http://localhost:4318/v1/traces", timeout: 10 * time.Second},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318/"}, url: "http://otel:4318/v1/traces", timeout: 10 * time.Second},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel/base", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t:443/custom"},
			url: "https://t:443/custom", timeout: 10 * time.Second},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b, x-tenant = one", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
			"OTEL_EXPORTER_OTLP_TIMEOUT": "1500", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			url: "http://localhost:4318/v1/traces", header: "Api-Key: a b", gzip: true, timeout: 1500 * time.Millisecond},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "1500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "200"},
			url: "http://localhost:4318/v1/traces", timeout: 200 * time.Millisecond},
	} {
		c, err := newOTLPHTTP(envOf(tc.env))
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if c.url != tc.url || c.gzip != tc.gzip || c.client.Timeout != tc.timeout {
			t.Errorf("%v: url %s, gzip %v, timeout %s; want %s, %v, %s", tc.env, c.url, c.gzip, c.client.Timeout, tc.url, tc.gzip, tc.timeout)
		}
		if k, v, ok := strings.Cut(tc.header, ": "); ok && c.headers.Get(k) != v {
			t.Errorf("%v: header %s = %q, want %q", tc.env, k, c.headers.Get(k), v)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "http/protobuf"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT: want an http:// or https:// URL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "want gzip or none"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "want milliseconds"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization"}, "want key=value pairs"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
	} {
		_, err := newOTLPHTTP(envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.env, err, tc.want)
		}
	}
}

// TestOTLPUploadRetries: a batch reaches the collector as the OTLP ExportTraceServiceRequest
// it decodes, gzipped and with the configured headers, after the collector answered 503 once.
func TestOTLPUploadRetries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls int
	var got collectortrace.ExportTraceServiceRequest
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		header = r.Header.Clone()
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		raw, err := io.ReadAll(zr)
		if err == nil {
			err = proto.Unmarshal(raw, &got)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := newOTLPHTTP(envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=secret"}))
	if err != nil {
		t.Fatal(err)
	}
	spans := []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "one"}, {Name: "two"}}}}},
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "three"}}}}},
	}
	if err := c.UploadTraces(t.Context(), spans); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("%d requests, want 2 (one answered 503, then the retry)", calls)
	}
	if !proto.Equal(&got, &collectortrace.ExportTraceServiceRequest{ResourceSpans: spans}) {
		t.Errorf("the collector decoded %v, want the spans sent", &got)
	}
	if header.Get("Api-Key") != "secret" || header.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("request headers %v, want api-key and the protobuf content type", header)
	}
}

// TestOTLPUploadRefused: an answer that no retry changes (400) fails at once, saying so.
func TestOTLPUploadRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad spans", http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	c, err := newOTLPHTTP(envOf(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/in"}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.UploadTraces(t.Context(), []*tracepb.ResourceSpans{{}})
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "bad spans") {
		t.Errorf("upload to a collector answering 400: %v, want an error with the status and its answer", err)
	}
}
