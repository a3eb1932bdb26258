// Package httpjobs serves job types by HTTP endpoints, so that a worker in any language needs
// no Dominion library: a handler file (DOMINION_HANDLERS, YAML) maps a job type to a URL, and
// a Dominion worker that fetches a job of that type POSTs it there. The answer decides:
//
//   - 2xx: the job is completed; a JSON body is its result (another body is kept as a JSON
//     string, an empty one as no result).
//   - 408, 425 and 429: the attempt failed and is retried with the job's backoff.
//   - every other 4xx, and 3xx (redirects are not followed): the job is dead at once, without
//     retry: resending the same request cannot help.
//   - 5xx, no answer, or no answer within the timeout: the attempt failed and is retried.
//
// The request is signed like the workflows' http steps (X-Dominion-Signature: sha256=<hex
// HMAC-SHA256 of the body> under the handler's secret) and carries Idempotency-Key: <job id>,
// the same for every attempt, so the endpoint can do its work once however often the job is
// delivered (at least once: a worker may die after the work was done). Dominion-Deadline says,
// in RFC 3339, when the worker stops waiting. See docs/http-handlers.md.
package httpjobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/webhook"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/workflow"
)

// Headers of a handler request besides Content-Type and the configured ones.
const (
	HeaderSignature   = webhook.HeaderSignature    // X-Dominion-Signature: sha256=<hex HMAC-SHA256 of the body>
	HeaderIdempotency = workflow.HeaderIdempotency // Idempotency-Key: <job id>
	HeaderAttempt     = workflow.HeaderAttempt     // X-Dominion-Attempt: 1, 2, …
	HeaderJob         = "X-Dominion-Job"           // the job id
	HeaderJobType     = "X-Dominion-Job-Type"      // the job type
	HeaderDeadline    = "Dominion-Deadline"        // RFC 3339: when the worker stops waiting
)

// DefaultTimeout bounds one request when the handler file gives no timeout.
const DefaultTimeout = 30 * time.Second

// maxResult bounds the answer kept as the job's result (the size of a payload).
const maxResult = queue.MaxPayloadBytes

// Request is the JSON body POSTed to the endpoint.
type Request struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Queue      string          `json:"queue"`
	Attempt    int             `json:"attempt"`
	MaxRetries int             `json:"max_retries"`
	Payload    json.RawMessage `json:"payload"`
	EnqueuedAt time.Time       `json:"enqueued_at"`
}

// Handler runs jobs of one type by POSTing them to the endpoint. It is a queue.Handler.
type Handler struct {
	ep     Endpoint
	client *http.Client
}

// NewHandler returns the handler of ep; client nil means one that follows no redirects.
func NewHandler(ep Endpoint, client *http.Client) *Handler {
	if client == nil {
		client = NewClient()
	}
	return &Handler{ep: ep, client: client}
}

// NewClient returns the HTTP client handlers share: no overall timeout (each request has its
// deadline) and no redirects (a POST turned into a GET would lose the job).
func NewClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Register registers a Handler on w for every endpoint of h (none when h is nil), sharing one
// client, and logs each (type and URL without credentials; the secret is never logged).
func Register(w *queue.Worker, h *Handlers, log *slog.Logger) {
	if h == nil {
		return
	}
	client := NewClient()
	for _, ep := range h.Endpoints {
		w.Handle(ep.Type, NewHandler(ep, client))
		if log != nil {
			log.Info("job type served by HTTP", "type", ep.Type, "url", webhook.SafeURL(ep.URL), "timeout", ep.Timeout, "signed", ep.Secret != "")
		}
	}
}

// ProcessJob POSTs the job and turns the answer into the job's outcome.
func (h *Handler) ProcessJob(ctx context.Context, job *queue.Job) (any, error) {
	body, err := json.Marshal(Request{
		ID: job.ID, Type: job.Type, Queue: job.Queue, Attempt: job.Attempt, MaxRetries: job.MaxRetries,
		Payload: payloadOrNull(job.Payload), EnqueuedAt: job.EnqueuedAt,
	})
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("http handler %s: encode request: %w", job.Type, err))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, h.ep.Timeout, fmt.Errorf("no answer within %s", h.ep.Timeout))
	defer cancel()
	req, err := h.request(ctx, job, body)
	if err != nil {
		return nil, queue.NoRetry(err)
	}
	target := "POST " + webhook.SafeURL(h.ep.URL)
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", target, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%s: %w", target, webhook.UnwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResult+1))
	if err := webhook.Outcome(target, resp, raw); err != nil {
		return nil, err
	}
	switch {
	case rerr != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("%s: reading the answer: %w", target, context.Cause(ctx))
	case rerr != nil:
		return nil, fmt.Errorf("%s: reading the answer: %w", target, rerr)
	case len(raw) > maxResult:
		return nil, queue.NoRetry(fmt.Errorf("%s answered %s with more than %d bytes: too large for a result", target, resp.Status, maxResult))
	}
	return result(raw), nil
}

// request builds the signed POST.
func (h *Handler) request(ctx context.Context, job *queue.Job, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.ep.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("http handler %s: POST %s: %w", job.Type, webhook.SafeURL(h.ep.URL), webhook.UnwrapURLError(err))
	}
	hd := req.Header
	hd.Set("Content-Type", "application/json")
	hd.Set("Accept", "application/json")
	hd.Set("User-Agent", "dominion-worker/1")
	for k, v := range h.ep.Headers {
		hd.Set(k, v)
	}
	// Set last, so that a configured header cannot replace them.
	hd.Set(HeaderIdempotency, job.ID)
	hd.Set(HeaderJob, job.ID)
	hd.Set(HeaderJobType, job.Type)
	hd.Set(HeaderAttempt, strconv.Itoa(job.Attempt))
	if dl, ok := ctx.Deadline(); ok {
		hd.Set(HeaderDeadline, dl.UTC().Format(time.RFC3339Nano))
	}
	if h.ep.Secret != "" {
		hd.Set(HeaderSignature, webhook.Sign(h.ep.Secret, body))
	}
	return req, nil
}

// result is the job's result from a 2xx body: the JSON value, a JSON string of another
// text, or nil when empty.
func result(raw []byte) any {
	trimmed := bytes.TrimSpace(raw)
	switch {
	case len(trimmed) == 0:
		return nil
	case json.Valid(trimmed):
		return json.RawMessage(trimmed)
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

func payloadOrNull(p json.RawMessage) json.RawMessage {
	if len(p) == 0 {
		return json.RawMessage("null")
	}
	return p
}
