package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/codex-dominion/dominion/internal/smtpmail"
	"github.com/codex-dominion/dominion/internal/webhook"
	"github.com/codex-dominion/dominion/queue"
)

// Headers of the HTTP channels' requests.
const (
	HeaderIdempotency = "Idempotency-Key"
	HeaderEvent       = "X-Dominion-Event"
	HeaderSignature   = webhook.HeaderSignature
)

// maxAnswer bounds the part of an answer that is read (for the error of a failure).
const maxAnswer = 16 << 10

// Message is one notification, in the form each channel needs.
type Message struct {
	Event   string // "workflow.completed", "workflow.failed", "report.weekly"
	Subject string // an email's subject
	Text    string // the text of an sms, a Slack message or an email
	// Data is a webhook's JSON body's "data": the workflow or the report.
	Data any
}

// WebhookBody is the JSON body of a webhook notification.
type WebhookBody struct {
	Event          string `json:"event"`
	IdempotencyKey string `json:"idempotency_key"`
	Data           any    `json:"data"`
}

// Sender sends notifications. The zero value sends nothing by email; HTTP uses a client
// that does not follow redirects.
type Sender struct {
	HTTP *http.Client // default: no redirects followed
	SMTP smtpmail.Config
}

// Send sends m on ch once, with key as its idempotency key. An error marked queue.NoRetry is
// permanent (a 4xx answer, a 5xx SMTP answer, a bad address); any other is worth retrying.
// Errors never hold the channel's secrets.
func (s Sender) Send(ctx context.Context, ch Channel, m Message, key string) error {
	ctx, cancel := context.WithTimeoutCause(ctx, ch.Timeout,
		fmt.Errorf("%s notification timed out after %s", ch.Kind, ch.Timeout))
	defer cancel()
	switch ch.Kind {
	case KindWebhook:
		return s.sendWebhook(ctx, ch, m, key)
	case KindSlack:
		body, err := json.Marshal(map[string]string{"text": m.Text})
		if err != nil {
			return queue.NoRetry(fmt.Errorf("slack notification: encode: %w", err))
		}
		return s.post(ctx, "slack notification: POST "+origin(ch.URL), ch.URL, "application/json", body,
			func(r *http.Request) { r.Header.Set(HeaderIdempotency, key) })
	case KindSMS:
		return s.sendSMS(ctx, ch, m, key)
	case KindEmail:
		err := smtpmail.Send(ctx, s.SMTP, smtpmail.Message{To: ch.To, Subject: m.Subject, Body: m.Text,
			MessageID: messageID(key), Headers: map[string]string{HeaderIdempotency: key, HeaderEvent: m.Event}})
		if err != nil {
			return fmt.Errorf("email notification: %w", err)
		}
		return nil
	}
	return queue.NoRetry(fmt.Errorf("unknown channel kind %q", ch.Kind))
}

func (s Sender) sendWebhook(ctx context.Context, ch Channel, m Message, key string) error {
	body, err := json.Marshal(WebhookBody{Event: m.Event, IdempotencyKey: key, Data: m.Data})
	if err != nil {
		return queue.NoRetry(fmt.Errorf("webhook notification: encode: %w", err))
	}
	return s.post(ctx, "webhook notification: POST "+webhook.SafeURL(ch.URL), ch.URL, "application/json", body,
		func(r *http.Request) {
			r.Header.Set(HeaderIdempotency, key)
			r.Header.Set(HeaderEvent, m.Event)
			if ch.Secret != "" {
				r.Header.Set(HeaderSignature, webhook.Sign(ch.Secret, body))
			}
		})
}

// sendSMS sends one message per number through the Messages API: a form POST to
// {base}/2010-04-01/Accounts/{sid}/Messages.json with basic auth. Each number's request has
// its own idempotency key: key and the number's position.
func (s Sender) sendSMS(ctx context.Context, ch Channel, m Message, key string) error {
	target := fmt.Sprintf("%s/2010-04-01/Accounts/%s/Messages.json", ch.BaseURL, url.PathEscape(ch.AccountSID))
	for i, to := range ch.To {
		form := url.Values{"To": {to}, "From": {ch.From}, "Body": {m.Text}}
		err := s.post(ctx, "sms notification to "+to+": POST "+webhook.SafeURL(target), target,
			"application/x-www-form-urlencoded", []byte(form.Encode()), func(r *http.Request) {
				r.SetBasicAuth(ch.AccountSID, ch.AuthToken)
				r.Header.Set(HeaderIdempotency, fmt.Sprintf("%s:%d", key, i))
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// post sends body to rawURL and turns the answer into the outcome (webhook.Outcome). what
// names the request in errors, without secrets; errors never quote rawURL.
func (s Sender) post(ctx context.Context, what, rawURL, contentType string, body []byte, set func(*http.Request)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return queue.NoRetry(fmt.Errorf("%s: %w", what, webhook.UnwrapURLError(err)))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "dominion-notify/1")
	set(req)
	resp, err := s.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, context.Cause(ctx))
		}
		return fmt.Errorf("%s: %w", what, webhook.UnwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return webhook.Outcome(what, resp, raw)
}

func (s Sender) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// origin is a URL's scheme and host only: a Slack webhook URL's path is its secret.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// messageID is an email's Message-ID made from key: the same for every attempt.
func messageID(key string) string {
	return "<" + strings.NewReplacer(":", ".", "@", ".", "<", "", ">", "").Replace(key) + "@dominion>"
}
