package notify_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/notify"
	"github.com/codex-dominion/dominion/internal/smtpmail"
	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
)

// received is one request a test server got.
type received struct {
	method, path string
	header       http.Header
	body         []byte
}

// recorder is a real HTTP server on a free loopback port that records every request and
// answers status.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status int
}

func startRecorder(t *testing.T, status int) *recorder {
	t.Helper()
	r := &recorder{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		w.WriteHeader(r.status)
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func mustChannel(t *testing.T, y notify.ChannelYAML, env map[string]string) notify.Channel {
	t.Helper()
	ch, err := y.Channel(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("channel %+v: %v", y, err)
	}
	return ch
}

var msg = notify.Message{Event: "workflow.completed", Subject: "Workflow done", Text: "Workflow w1 completed.",
	Data: map[string]string{"id": "w1"}}

func TestWebhookIsSignedWithIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv := startRecorder(t, http.StatusOK)
	ch := mustChannel(t, notify.ChannelYAML{Kind: "webhook", URL: srv.srv.URL + "/hooks/done", Secret: "${HOOK_SECRET}"},
		map[string]string{"HOOK_SECRET": "s3cret-hmac"})
	if err := (notify.Sender{}).Send(t.Context(), ch, msg, "notify:w1:1:completed:0:0"); err != nil {
		t.Fatal(err)
	}
	got := srv.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != "POST" || r.path != "/hooks/done" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %s", r.method, r.path, r.header.Get("Content-Type"))
	}
	mac := hmac.New(sha256.New, []byte("s3cret-hmac"))
	mac.Write(r.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.header.Get("X-Dominion-Signature") != want {
		t.Errorf("signature %q, want %q", r.header.Get("X-Dominion-Signature"), want)
	}
	if k := r.header.Get("Idempotency-Key"); k != "notify:w1:1:completed:0:0" {
		t.Errorf("Idempotency-Key %q", k)
	}
	var body struct {
		Event          string
		IdempotencyKey string `json:"idempotency_key"`
		Data           map[string]string
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Event != "workflow.completed" ||
		body.IdempotencyKey != "notify:w1:1:completed:0:0" || body.Data["id"] != "w1" {
		t.Errorf("body %s (%v)", r.body, err)
	}
}

func TestSMSHasTwilioShape(t *testing.T) {
	t.Parallel()
	srv := startRecorder(t, http.StatusCreated)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tw-auth-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := mustChannel(t, notify.ChannelYAML{Kind: "sms", To: []string{"+15551230001", "+15551230002"}, From: "+15557654321",
		AccountSID: "AC123", AuthTokenFile: tokenFile, BaseURL: srv.srv.URL + "/"}, nil)
	if err := (notify.Sender{}).Send(t.Context(), ch, msg, "k1"); err != nil {
		t.Fatal(err)
	}
	got := srv.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want one per number (2)", len(got))
	}
	for i, r := range got {
		if r.method != "POST" || r.path != "/2010-04-01/Accounts/AC123/Messages.json" {
			t.Errorf("request %d: %s %s", i, r.method, r.path)
		}
		req := &http.Request{Header: r.header}
		user, pw, ok := req.BasicAuth()
		if !ok || user != "AC123" || pw != "tw-auth-token" {
			t.Errorf("request %d: basic auth %q %q %v", i, user, pw, ok)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("request %d: content type %q", i, ct)
		}
		req = httptest.NewRequest("POST", "/", bytes.NewReader(r.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := req.ParseForm(); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("+1555123000%d", i+1)
		if req.PostForm.Get("To") != want || req.PostForm.Get("From") != "+15557654321" || req.PostForm.Get("Body") != msg.Text {
			t.Errorf("request %d: form %v", i, req.PostForm)
		}
		if k := r.header.Get("Idempotency-Key"); k != fmt.Sprintf("k1:%d", i) {
			t.Errorf("request %d: Idempotency-Key %q", i, k)
		}
	}
}

func TestSlackIsJSONText(t *testing.T) {
	t.Parallel()
	srv := startRecorder(t, http.StatusOK)
	ch := mustChannel(t, notify.ChannelYAML{Kind: "slack", URL: "${SLACK_URL}"},
		map[string]string{"SLACK_URL": srv.srv.URL + "/services/T0/B0/slack-secret-path"})
	if err := (notify.Sender{}).Send(t.Context(), ch, msg, "k2"); err != nil {
		t.Fatal(err)
	}
	got := srv.requests()
	if len(got) != 1 || got[0].path != "/services/T0/B0/slack-secret-path" || got[0].header.Get("Content-Type") != "application/json" {
		t.Fatalf("requests %+v", got)
	}
	var body map[string]string
	if err := json.Unmarshal(got[0].body, &body); err != nil || len(body) != 1 || body["text"] != msg.Text {
		t.Errorf("body %s (%v)", got[0].body, err)
	}
}

func TestEmailThroughSMTP(t *testing.T) {
	t.Parallel()
	smtpd := testenv.StartSMTP(t, testenv.WithSMTPAuth("dominion", "mail-pw"))
	ch := mustChannel(t, notify.ChannelYAML{Kind: "email", To: []string{"Ops <ops@example.com>"}}, nil)
	s := notify.Sender{SMTP: smtpmail.Config{Addr: smtpd.Addr(), Username: "dominion", Password: "mail-pw", From: "d@example.com"}}
	if err := s.Send(t.Context(), ch, msg, "notify:w1:1:completed:0:2"); err != nil {
		t.Fatal(err)
	}
	m := smtpd.WaitMessages(t, 1, 10*time.Second)[0]
	h, err := m.Header()
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "d@example.com" || len(m.To) != 1 || m.To[0] != "ops@example.com" || m.AuthUser != "dominion" {
		t.Errorf("envelope %q %q auth %q", m.From, m.To, m.AuthUser)
	}
	if h.Get("Subject") != "Workflow done" || h.Get("Message-ID") != "<notify.w1.1.completed.0.2@dominion>" ||
		h.Get("Idempotency-Key") != "notify:w1:1:completed:0:2" || !strings.Contains(m.Body(), "Workflow w1 completed.") {
		t.Errorf("message %s", m.Data)
	}
}

// A 5xx or a refused connection is worth retrying, a 4xx is not; neither error nor the
// channel's printed and logged forms hold a secret.
func TestFailuresKeepSecrets(t *testing.T) {
	t.Parallel()
	failing := startRecorder(t, http.StatusServiceUnavailable)
	rejecting := startRecorder(t, http.StatusBadRequest)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	secrets := []string{"hook-Secret-1", "slack-Secret-2", "tw-Secret-3", "url-Secret-4"}
	for _, c := range []struct {
		y     notify.ChannelYAML
		retry bool
	}{
		{notify.ChannelYAML{Kind: "webhook", URL: failing.srv.URL + "/h?token=url-Secret-4", Secret: "hook-Secret-1"}, true},
		{notify.ChannelYAML{Kind: "webhook", URL: rejecting.srv.URL + "/h?token=url-Secret-4", Secret: "hook-Secret-1"}, false},
		{notify.ChannelYAML{Kind: "slack", URL: failing.srv.URL + "/services/slack-Secret-2"}, true},
		{notify.ChannelYAML{Kind: "slack", URL: closed + "/services/slack-Secret-2"}, true},
		{notify.ChannelYAML{Kind: "sms", To: []string{"+15551230001"}, From: "+15557654321", AccountSID: "AC1",
			AuthToken: "tw-Secret-3", BaseURL: rejecting.srv.URL}, false},
		{notify.ChannelYAML{Kind: "sms", To: []string{"+15551230001"}, From: "+15557654321", AccountSID: "AC1",
			AuthToken: "tw-Secret-3", BaseURL: closed}, true},
	} {
		ch := mustChannel(t, c.y, nil)
		err := (notify.Sender{}).Send(t.Context(), ch, msg, "k")
		if err == nil {
			t.Fatalf("%s: sent", ch)
		}
		if queue.IsNoRetry(err) == c.retry {
			t.Errorf("%s: retryable %v, want %v: %v", ch, !queue.IsNoRetry(err), c.retry, err)
		}
		var logged bytes.Buffer
		slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "channel", ch, "err", err)
		for _, shown := range []string{err.Error(), fmt.Sprint(ch), fmt.Sprintf("%v %+v", ch, ch), logged.String()} {
			for _, s := range secrets {
				if strings.Contains(shown, s) {
					t.Errorf("%s shows secret %q: %s", ch.Kind, s, shown)
				}
			}
		}
	}
}

func TestChannelErrorsNameTheField(t *testing.T) {
	t.Parallel()
	both := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(both, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sms := func(f func(*notify.ChannelYAML)) notify.ChannelYAML {
		y := notify.ChannelYAML{Kind: "sms", To: []string{"+15551230001"}, From: "+15557654321", AccountSID: "AC1", AuthToken: "t"}
		f(&y)
		return y
	}
	for _, c := range []struct {
		y    notify.ChannelYAML
		want string
	}{
		{notify.ChannelYAML{Kind: "pager"}, `unknown channel kind "pager" (known: email, slack, sms, webhook)`},
		{notify.ChannelYAML{}, `kind is required`},
		{notify.ChannelYAML{Kind: "webhook"}, `url is required`},
		{notify.ChannelYAML{Kind: "webhook", URL: "ftp://h/x"}, `url "ftp://h/x" is not an absolute http or https URL`},
		{notify.ChannelYAML{Kind: "slack", URL: "hooks.slack.com/services/x-secret"}, `url is not an absolute http or https URL`},
		{notify.ChannelYAML{Kind: "webhook", URL: "http://h/x", Secret: "${NOPE}"}, `secret: environment variable "NOPE" is not set`},
		{notify.ChannelYAML{Kind: "webhook", URL: "http://h/x", Secret: "a", SecretFile: both}, `secret and secret_file are both set`},
		{notify.ChannelYAML{Kind: "webhook", URL: "http://h/x", SecretFile: both + "-missing"}, `secret_file: open `},
		{notify.ChannelYAML{Kind: "webhook", URL: "http://h/x", To: []string{"a@b.c"}}, `a webhook channel cannot have to`},
		{notify.ChannelYAML{Kind: "email"}, `to is required`},
		{notify.ChannelYAML{Kind: "email", To: []string{"nobody"}}, `to: "nobody" is not an email address`},
		{sms(func(y *notify.ChannelYAML) { y.To = []string{"555-1234"} }), `to: "555-1234" is not a phone number`},
		{sms(func(y *notify.ChannelYAML) { y.From = "" }), `from is required`},
		{sms(func(y *notify.ChannelYAML) { y.AccountSID = "" }), `account_sid is required`},
		{sms(func(y *notify.ChannelYAML) { y.AuthToken = "" }), `auth_token (or auth_token_file) is required`},
		{sms(func(y *notify.ChannelYAML) { y.BaseURL = "api.twilio.com" }), `base_url "api.twilio.com" is not an absolute`},
		{sms(func(y *notify.ChannelYAML) { y.Timeout = "soon" }), `timeout "soon" is not a duration`},
	} {
		_, err := c.y.Channel(nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.y, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "x-secret") {
			t.Errorf("error quotes the Slack URL: %v", err)
		}
	}
	ch, err := sms(func(*notify.ChannelYAML) {}).Channel(nil)
	if err != nil || ch.BaseURL != notify.DefaultSMSBaseURL || ch.Timeout != notify.DefaultTimeout {
		t.Errorf("sms defaults: %+v %v", ch, err)
	}
}

// The send is bounded by the channel's timeout, and the error says so.
func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ch := mustChannel(t, notify.ChannelYAML{Kind: "webhook", URL: srv.URL, Timeout: "100ms"}, nil)
	err := (notify.Sender{}).Send(context.Background(), ch, msg, "k")
	if err == nil || queue.IsNoRetry(err) || !strings.Contains(err.Error(), "webhook notification timed out after 100ms") {
		t.Errorf("error %v", err)
	}
}
