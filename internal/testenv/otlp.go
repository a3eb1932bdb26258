package testenv

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// OTLPReceiver is a receiver of OTLP over HTTP (protobuf, as the OpenTelemetry SDK's
// otlptracehttp exporter sends by default): point OTEL_EXPORTER_OTLP_ENDPOINT at URL and it
// keeps every span it is sent.
type OTLPReceiver struct {
	// URL is the receiver's base URL; spans are posted to URL + "/v1/traces".
	URL string

	mu      sync.Mutex
	spans   []Span
	changed chan struct{} // closed and replaced at each export
}

// Span is one received span, with the resource attribute service.name and dominion.role of
// the process that sent it.
type Span struct {
	*tracepb.Span
	Service, Role string
}

// StartOTLPReceiver starts a receiver on a free loopback port, stopped when the test ends.
func StartOTLPReceiver(t testing.TB) *OTLPReceiver {
	t.Helper()
	r := &OTLPReceiver{changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(r.export))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *OTLPReceiver) export(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	var msg collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &msg)
	}
	if err != nil {
		http.Error(w, "bad OTLP request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&msg)
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *OTLPReceiver) add(msg *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range msg.GetResourceSpans() {
		var service, role string
		for _, kv := range rs.GetResource().GetAttributes() {
			switch kv.GetKey() {
			case "service.name":
				service = kv.GetValue().GetStringValue()
			case "dominion.role":
				role = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, Span{Span: s, Service: service, Role: role})
			}
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// Spans returns the spans received so far, and a channel closed when more arrive.
func (r *OTLPReceiver) Spans() ([]Span, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...), r.changed
}

// StartOTLPSink starts an OTLP/HTTP endpoint that reads and discards what it is sent, for
// benchmarks that measure the exporting side alone, and returns its URL.
func StartOTLPSink(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
