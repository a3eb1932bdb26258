package workflow

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/internal/httpx"
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

// runStep runs one step and returns its output (JSON). An error marked queue.NoRetry is
// permanent: retrying cannot help.
func (e *Engine) runStep(ctx context.Context, d StepData, s StepSpec) (out json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s step panicked: %v\n%s", s.Kind, r, debug.Stack())
		}
	}()
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

func (e *Engine) runHTTP(ctx context.Context, d StepData, s StepSpec) (json.RawMessage, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("http step: encode body: %w", err))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.Timeout, fmt.Errorf("http step timed out after %s", s.Timeout))
	defer cancel()
	var rd io.Reader
	hasBody := s.Method != http.MethodGet && s.Method != http.MethodHead
	if hasBody {
		rd = bytes.NewReader(body)
	} else {
		body = nil
	}
	target := webhook.SafeURL(s.URL)
	req, err := http.NewRequestWithContext(ctx, s.Method, s.URL, rd)
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("http step: %s %s: %w", s.Method, target, webhook.UnwrapURLError(err)))
	}
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, */*;q=0.5")
	req.Header.Set("User-Agent", "dominion-workflow/1")
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	// Set last, so a configured header cannot replace them.
	req.Header.Set(HeaderIdempotency, fmt.Sprintf("%s:%d", d.WorkflowID, d.Step.Index))
	req.Header.Set(HeaderWorkflow, d.WorkflowID)
	req.Header.Set(HeaderStep, d.Step.Name)
	req.Header.Set(HeaderAttempt, strconv.Itoa(d.Attempt))
	if s.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(s.Secret, body))
	}
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
	out := struct {
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response,omitempty"`
	}{Status: resp.StatusCode}
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
		return nil, queue.NoRetry(errors.New("email step: no SMTP server configured (SMTP_ADDR)"))
	}
	subject, body, err := renderEmail(d, s)
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("email step: %w", err))
	}
	from := e.smtp.From
	if from == "" {
		from = "dominion@localhost"
	}
	fromAddr, err := parseAddr(from)
	if err != nil {
		return nil, queue.NoRetry(fmt.Errorf("email step: sender %q: %w", from, err))
	}
	rcpts := make([]string, len(s.To))
	for i, to := range s.To {
		if rcpts[i], err = parseAddr(to); err != nil {
			return nil, queue.NoRetry(fmt.Errorf("email step: recipient %q: %w", to, err))
		}
	}
	msgID := fmt.Sprintf("<%s.%d.%d@dominion>", d.WorkflowID, d.Step.Index, d.Attempt)
	msg := buildMessage(from, s.To, subject, body, msgID, d.WorkflowID)

	ctx, cancel := context.WithTimeoutCause(ctx, s.Timeout, fmt.Errorf("email step timed out after %s", s.Timeout))
	defer cancel()
	if err := e.sendMail(ctx, fromAddr, rcpts, msg); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		}
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return nil, queue.NoRetry(fmt.Errorf("email step: %s: %w", e.smtp.Addr, err))
		}
		return nil, fmt.Errorf("email step: %s: %w", e.smtp.Addr, err)
	}
	return json.Marshal(map[string]any{"to": s.To, "subject": subject, "message_id": msgID})
}

func (e *Engine) sendMail(ctx context.Context, from string, to []string, msg []byte) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", e.smtp.Addr)
	if err != nil {
		return err
	}
	// Unblock every read and write when ctx is done.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, err := net.SplitHostPort(e.smtp.Addr)
	if err != nil {
		conn.Close()
		return err
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if name, err := os.Hostname(); err == nil && name != "" && isToken(name) {
		if err := c.Hello(name); err != nil {
			return err
		}
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if e.smtp.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("a username is configured but the server offers no AUTH")
		}
		// smtp.PlainAuth sends the password only over TLS or to localhost.
		if err := c.Auth(smtp.PlainAuth("", e.smtp.Username, e.smtp.Password, host)); err != nil {
			return fmt.Errorf("auth as %s: %w", e.smtp.Username, err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// parseAddr returns the bare address of "Name <addr>" or "addr".
func parseAddr(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
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

// buildMessage returns an RFC 5322 plain-text message with CRLF line ends.
func buildMessage(from string, to []string, subject, body, msgID, workflowID string) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from)
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", encodeHeader(subject))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("Message-ID", msgID)
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr(HeaderWorkflow, workflowID)
	b.WriteString("\r\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func encodeHeader(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}
