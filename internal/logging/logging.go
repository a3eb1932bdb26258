// Package logging builds Dominion's loggers: text or JSON lines on one writer, each record
// logged with a context (the slog ...Context methods) joined by what that context knows:
// the job a worker is running (job_id, queue, type, attempt) and, when tracing is on, the
// trace and span ids (trace_id, span_id). Requests is the request log and X-Request-ID
// handling of every HTTP listener (the API, the dashboard): one line per request, to which
// the handlers add what they did with Annotate.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/codex-dominion/dominion/queue"
)

// Formats of the log lines.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// ParseFormat parses a log format: text or json.
func ParseFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case FormatText, FormatJSON:
		return f, nil
	case "":
		return FormatText, nil
	}
	return "", fmt.Errorf("unknown log format %q (valid: text, json)", s)
}

// New returns a logger writing lines in format (text or json) to w at level and above.
func New(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == FormatJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(contextHandler{h})
}

// contextHandler adds the job and trace attributes of a record's context.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if j, ok := queue.JobFromContext(ctx); ok && !hasAttr(r, "job_id") {
			r.AddAttrs(slog.String("job_id", j.ID), slog.String("queue", j.Queue),
				slog.String("type", j.Type), slog.Int("attempt", j.Attempt))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
