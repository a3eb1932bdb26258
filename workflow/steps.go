package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/internal/smtpmail"
	"github.com/codex-dominion/dominion/internal/webhook"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// StepData is what a step knows about its workflow: the JSON body of an http step, and the
// data of an email step's subject and body templates ({{.WorkflowID}},
// {{.Savings.WeeklySavings}}, {{.Step.Name}}, …).
type StepData struct {
	WorkflowID string           `json:"workflow_id"`
	Type       string           `json:"type"`
	AgentID    string           `json:"agent_id"`
	Mode       string           `json:"mode"`
	Attempt    int              `json:"attempt"`
	Step       StepRef          `json:"step"`
	Inputs     CalculatorInputs `json:"inputs"`
	Savings    Savings          `json:"savings"`
	// Context is the request's whole "context" object, as stored.
	Context   json.RawMessage `json:"context,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	// Outputs holds the outputs of the steps finished before this one, by step name.
	Outputs map[string]json.RawMessage `json:"outputs,omitempty"`
}

// StepRef names the step being run.
type StepRef struct {
	Index int    `json:"index"` // 0-based
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Total int    `json:"total"` // steps in the workflow type
}

// newStepData builds the step data of w (its inputs are read back from the stored context).
func newStepData(w store.Workflow) StepData {
	d := StepData{
		WorkflowID: w.ID, Type: w.Type, AgentID: w.AgentID, Mode: w.Mode, Attempt: w.Attempts,
		CreatedAt: w.CreatedAt,
	}
	if len(w.Inputs) > 0 && json.Valid(w.Inputs) {
		d.Context = w.Inputs
		var ctx struct {
			Inputs *CalculatorInputs `json:"calculator_inputs"`
		}
		if json.Unmarshal(w.Inputs, &ctx) == nil && ctx.Inputs != nil {
			d.Inputs = *ctx.Inputs
		}
	}
	d.Savings = Estimate(d.Inputs)
	// The stored estimate is authoritative (it is what the metrics credit).
	d.Savings.WeeklyHoursSaved, d.Savings.WeeklySavings = w.WeeklyHoursSaved, w.WeeklySavings
	for _, s := range w.Steps {
		if len(s.Output) > 0 {
			if d.Outputs == nil {
				d.Outputs = map[string]json.RawMessage{}
			}
			d.Outputs[s.Name] = s.Output
		}
	}
	return d
}

// runStep runs one step and returns its output (JSON): each try is bounded by the step's
// Timeout, and a failed try is tried again as its Retry says (the last failure is then
// permanent: queue.NoRetry). An error marked queue.NoRetry is permanent: retrying cannot
// help.
func (e *Engine) runStep(ctx context.Context, d StepData, s StepSpec) (json.RawMessage, error) {
	wait := s.Retry.Backoff
	for try := 1; ; try++ {
		out, err := e.tryStep(ctx, d, s)
		if err == nil || s.Retry.Attempts == 0 || queue.IsNoRetry(err) || ctx.Err() != nil {
			return out, err
		}
		if try >= s.Retry.Attempts {
			return nil, queue.NoRetry(fmt.Errorf("%w (try %d of %d)", err, try, s.Retry.Attempts))
		}
		e.log.WarnContext(ctx, "step failed; trying again", "workflow_id", d.WorkflowID, "step", s.Name,
			"try", try, "of", s.Retry.Attempts, "in", wait, "err", err)
		if _, err := runDelay(ctx, StepSpec{Duration: wait}); err != nil {
			return nil, fmt.Errorf("waiting to try step %s again: %w", s.Name, err)
		}
		wait = min(wait*2, MaxRetryBackoff)
	}
}

// tryStep runs one try of a step, bounded by its timeout.
func (e *Engine) tryStep(ctx context.Context, d StepData, s StepSpec) (out json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s step panicked: %v\n%s", s.Kind, r, debug.Stack())
		}
	}()
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.Timeout, fmt.Errorf("%s step timed out after %s", s.Kind, s.Timeout))
		defer cancel()
	}
	switch s.Kind {
	case KindDelay:
		return runDelay(ctx, s)
	case KindHTTP:
		return e.runHTTP(ctx, d, s)
	case KindEmail:
		return e.runEmail(ctx, d, s)
	}
	return nil, queue.NoRetry(fmt.Errorf("unknown step kind %q", s.Kind))
}

func runDelay(ctx context.Context, s StepSpec) (json.RawMessage, error) {
	t := time.NewTimer(s.Duration)
	defer t.Stop()
	select {
	case <-t.C:
		return json.RawMessage(fmt.Sprintf(`{"waited_ms":%d}`, s.Duration.Milliseconds())), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("delay of %s interrupted: %w", s.Duration, context.Cause(ctx))
	}
}

// Headers of an http step's request.
const (
	HeaderSignature   = webhook.HeaderSignature // sha256=<hex HMAC-SHA256 of the body>
	HeaderIdempotency = "Idempotency-Key"       // <workflow id>:<step index>
	HeaderWorkflow    = "X-Dominion-Workflow"
	HeaderStep        = "X-Dominion-Step"
	HeaderAttempt     = "X-Dominion-Attempt"
)

// maxResponse bounds the part of an http step's response that is read and kept.
const maxResponse = 64 << 10

// Sign returns the X-Dominion-Signature value of body under secret: "sha256=" and the hex
// HMAC-SHA256. Receivers compare it with hmac.Equal.
func Sign(secret string, body []byte) string { return webhook.Sign(secret, body) }

// runHTTP runs an http step: it sends d to the step's URL and returns the status and the
// response.
func (e *Engine) runHTTP(ctx context.Context, d StepData, s StepSpec) (json.RawMessage, error) {
	req, err := newStepRequest(ctx, d, s)
	if err != nil {
		return nil, err
	}
	target := webhook.SafeURL(s.URL)
	resp, err := e.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("http step: %s %s: %w", s.Method, target, context.Cause(ctx))
		}
		return nil, fmt.Errorf("http step: %s %s: %w", s.Method, target, webhook.UnwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err := webhook.Outcome(fmt.Sprintf("http step: %s %s", s.Method, target), resp, raw); err != nil {
		return nil, err
	}
	if rerr != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("http step: %s %s: reading the answer: %w", s.Method, target, context.Cause(ctx))
	}
	return httpStepOutput(resp.StatusCode, raw)
}

// newStepRequest builds the request of an http step: d as its JSON body (none for GET and
// HEAD), and its headers. Its errors are not retried.
func newStepRequest(ctx context.Context, d StepData, s StepSpec) (*http.Request, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("http step: encode body: %w", err))
	}
	var rd io.Reader
	hasBody := s.Method != http.MethodGet && s.Method != http.MethodHead
	if hasBody {
		rd = bytes.NewReader(body)
	} else {
		body = nil
	}
	req, err := http.NewRequestWithContext(ctx, s.Method, s.URL, rd)
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("http step: %s %s: %w", s.Method, webhook.SafeURL(s.URL), webhook.UnwrapURLError(err)))
	}
	setStepHeaders(req.Header, d, s, body, hasBody)
	return req, nil
}

// setStepHeaders sets the headers of an http step's request: the content type when it has a
// body, the step's own headers, then Dominion's and the signature of body.
func setStepHeaders(h http.Header, d StepData, s StepSpec, body []byte, hasBody bool) {
	if hasBody {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Accept", "application/json, */*;q=0.5")
	h.Set("User-Agent", "dominion-workflow/1")
	for k, v := range s.Headers {
		h.Set(k, v)
	}
	// Set last, so a configured header cannot replace them.
	h.Set(HeaderIdempotency, fmt.Sprintf("%s:%d", d.WorkflowID, d.Step.Index))
	h.Set(HeaderWorkflow, d.WorkflowID)
	h.Set(HeaderStep, d.Step.Name)
	h.Set(HeaderAttempt, strconv.Itoa(d.Attempt))
	if s.Secret != "" {
		h.Set(HeaderSignature, Sign(s.Secret, body))
	}
}

// httpStepOutput is the output of an http step: the status and the response, as JSON when it
// is, else as a string (clipped to 4096 bytes).
func httpStepOutput(status int, raw []byte) (json.RawMessage, error) {
	out := struct {
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response,omitempty"`
	}{Status: status}
	if len(raw) > 0 {
		if json.Valid(raw) {
			out.Response = raw
		} else {
			out.Response, _ = json.Marshal(httpx.ClipTo(strings.ToValidUTF8(string(raw), "?"), 4096))
		}
	}
	return json.Marshal(out)
}

func (e *Engine) runEmail(ctx context.Context, d StepData, s StepSpec) (json.RawMessage, error) {
	if e.smtp.Addr == "" {
		return nil, queue.NoRetry(fmt.Errorf("email step: %w", smtpmail.ErrNotConfigured))
	}
	subject, body, err := renderEmail(d, s)
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("email step: %w", err))
	}
	msgID := fmt.Sprintf("<%s.%d.%d@dominion>", d.WorkflowID, d.Step.Index, d.Attempt)
	err = smtpmail.Send(ctx, e.smtp, smtpmail.Message{To: s.To, Subject: subject, Body: body, MessageID: msgID,
		Headers: map[string]string{HeaderWorkflow: d.WorkflowID}})
	if err != nil {
		return nil, fmt.Errorf("email step: %w", err)
	}
	return json.Marshal(map[string]any{"to": s.To, "subject": subject, "message_id": msgID})
}

func renderEmail(d StepData, s StepSpec) (subject, body string, err error) {
	st, err := parseTemplate("subject", s.Subject)
	if err != nil {
		return "", "", err
	}
	bt, err := parseTemplate("body", s.Body)
	if err != nil {
		return "", "", err
	}
	var sb, bb strings.Builder
	if err := st.Execute(&sb, d); err != nil {
		return "", "", fmt.Errorf("subject template: %w", err)
	}
	if err := bt.Execute(&bb, d); err != nil {
		return "", "", fmt.Errorf("body template: %w", err)
	}
	// A header must stay one line whatever the data holds.
	subject = strings.Join(strings.Fields(sb.String()), " ")
	return subject, bb.String(), nil
}
