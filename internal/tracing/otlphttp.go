package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/codex-dominion/dominion/internal/httpx"
)

// otlpHTTP is the OTLP exporter's transport: each batch of spans POSTed as a protobuf
// ExportTraceServiceRequest (OTLP over HTTP, http/protobuf), configured by the standard
// OTEL_EXPORTER_OTLP_* variables. It stands in for otlptracehttp's, whose import of the OTLP
// collector package links gRPC into the binary, and with gRPC the html/template of its debug
// pages (2.2 MB, and with them the image was over 30 MB: docs/deploy.md).
type otlpHTTP struct {
	url     string
	headers http.Header
	gzip    bool
	client  *http.Client
}

// The defaults of the OTLP exporter specification.
const (
	otlpDefaultEndpoint = "http://localhost:4318"
	otlpTracesPath      = "/v1/traces"
	otlpDefaultTimeout  = 10 * time.Second
	otlpMaxAnswer       = 1 << 10 // bytes of an answer read, for the error message
)

// newOTLPHTTP reads the exporter's settings through getenv: for each, the TRACES_ variable
// wins over the general one (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT over OTEL_EXPORTER_OTLP_ENDPOINT).
// A protocol other than http/protobuf is refused: this build has no gRPC exporter.
func newOTLPHTTP(getenv func(string) string) (*otlpHTTP, error) {
	env := func(name string) string {
		if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_" + name)); v != "" {
			return v
		}
		return strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_" + name))
	}
	if p := env("PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: dominion exports OTLP over HTTP with protobuf only (http/protobuf): point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP/HTTP port (4318)", p)
	}
	c := &otlpHTTP{headers: http.Header{}}
	var err error
	if c.url, err = otlpURL(getenv); err != nil {
		return nil, err
	}
	if err := parseOTLPHeaders(env("HEADERS"), c.headers); err != nil {
		return nil, err
	}
	switch v := env("COMPRESSION"); v {
	case "gzip":
		c.gzip = true
	case "", "none":
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_COMPRESSION %q: want gzip or none", v)
	}
	timeout := otlpDefaultTimeout
	if v := env("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT %q: want milliseconds, more than 0", v)
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tr.TLSClientConfig, err = otlpTLS(env); err != nil {
		return nil, err
	}
	c.client = &http.Client{Transport: tr, Timeout: timeout}
	return c, nil
}

// otlpURL is where spans are posted: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else
// OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318) followed by /v1/traces.
func otlpURL(getenv func(string) string) (string, error) {
	name, raw := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	full := raw != ""
	if !full {
		name, raw = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	if raw == "" {
		raw = otlpDefaultEndpoint
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: want an http:// or https:// URL, like %s", name, otlpDefaultEndpoint)
	}
	if !full {
		u.Path = strings.TrimSuffix(u.Path, "/") + otlpTracesPath
	}
	return u.String(), nil
}

// parseOTLPHeaders adds the headers of s, "key1=value1,key2=value2" with URL-encoded values,
// to h.
func parseOTLPHeaders(s string, h http.Header) error {
	for pair := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if ok {
			var err error
			v, err = url.PathUnescape(strings.TrimSpace(v))
			ok = err == nil
		}
		if !ok || k == "" {
			// Not quoted: a header's value may be a secret.
			return errors.New("OTEL_EXPORTER_OTLP_HEADERS: want key=value pairs separated by commas, values URL-encoded")
		}
		h.Set(k, v)
	}
	return nil
}

// otlpTLS is the TLS configuration of OTEL_EXPORTER_OTLP_CERTIFICATE (the collector's CA) and
// OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY (a client certificate), or nil.
func otlpTLS(env func(string) string) (*tls.Config, error) {
	ca, cert, key := env("CERTIFICATE"), env("CLIENT_CERTIFICATE"), env("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE: no PEM certificate in %s", ca)
		}
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Start does nothing: requests open connections as they need them.
func (c *otlpHTTP) Start(context.Context) error { return nil }

// Stop closes the idle connections.
func (c *otlpHTTP) Stop(context.Context) error {
	c.client.CloseIdleConnections()
	return nil
}

// UploadTraces posts spans, again while the collector answers that it is busy or away (429,
// 502, 503, 504) or cannot be reached, with backoff (Retry-After when it gives one) until ctx
// ends: the batch processor's export timeout (OTEL_BSP_EXPORT_TIMEOUT, 30 s).
func (c *otlpHTTP) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := c.encode(spans)
	if err != nil {
		return err
	}
	wait := 500 * time.Millisecond
	for {
		again, retryAfter, err := c.post(ctx, body)
		if !again {
			return err
		}
		if retryAfter > 0 {
			wait = retryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// encode writes the ExportTraceServiceRequest of spans: field 1, resource_spans, repeated.
func (c *otlpHTTP) encode(spans []*tracepb.ResourceSpans) ([]byte, error) {
	var msg []byte
	for _, rs := range spans {
		b, err := proto.Marshal(rs)
		if err != nil {
			return nil, fmt.Errorf("OTLP: encode spans: %w", err)
		}
		msg = protowire.AppendTag(msg, 1, protowire.BytesType)
		msg = protowire.AppendBytes(msg, b)
	}
	if !c.gzip {
		return msg, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(msg); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// post sends one request; again says whether a later one may succeed.
func (c *otlpHTTP) post(ctx context.Context, body []byte) (again bool, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("OTLP: %w", err)
	}
	req.Header = c.headers.Clone()
	req.Header.Set("Content-Type", "application/x-protobuf")
	if c.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, 0, fmt.Errorf("OTLP: post spans: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, otlpMaxAnswer))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, 0, nil
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return true, time.Duration(max(secs, 0)) * time.Second, fmt.Errorf("OTLP: post spans to %s: %s", req.URL.Redacted(), resp.Status)
	default:
		return false, 0, fmt.Errorf("OTLP: post spans to %s: %s: %q", req.URL.Redacted(), resp.Status, httpx.Clip(string(answer)))
	}
}
