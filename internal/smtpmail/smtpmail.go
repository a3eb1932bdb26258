package smtpmail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codex-dominion/dominion/queue"
)

// DefaultFrom is the sender when Config.From is empty.
const DefaultFrom = "dominion@localhost"

// Config is how messages reach the SMTP server (SMTP_ADDR, SMTP_USERNAME, SMTP_PASSWORD,
// SMTP_FROM). Password is never printed.
type Config struct {
	Addr     string // host:port; empty means no message can be sent
	Username string // PLAIN auth is used only when set
	Password string
	From     string // envelope and header sender (default DefaultFrom)
}

// String describes the configuration without its password.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = " password=xxxxx"
	}
	return fmt.Sprintf("smtp addr=%s user=%s from=%s%s", c.Addr, c.Username, c.From, pw)
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", c.Addr), slog.String("username", c.Username),
		slog.String("from", c.From), slog.Bool("password_set", c.Password != ""))
}

// Message is one plain-text message.
type Message struct {
	To        []string // addresses: "a@example.com" or "Name <a@example.com>"
	Subject   string   // one line
	Body      string
	MessageID string            // "<…@dominion>"
	Headers   map[string]string // extra headers (X-Dominion-Workflow, …)
}

// ErrNotConfigured is returned by Send when Config.Addr is empty.
var ErrNotConfigured = errors.New("no SMTP server configured (SMTP_ADDR)")

// CheckAddress reports whether a is an address Send accepts.
func CheckAddress(a string) error {
	_, err := mail.ParseAddress(a)
	return err
}

// Send sends m through the server of cfg within ctx. Errors say what failed and never hold
// the password; those that retrying cannot help (no server configured, a bad address, a
// 5xx answer: unknown recipient, bad credentials) are marked queue.NoRetry.
func Send(ctx context.Context, cfg Config, m Message) error {
	if cfg.Addr == "" {
		return queue.NoRetry(ErrNotConfigured)
	}
	from := cfg.From
	if from == "" {
		from = DefaultFrom
	}
	fromAddr, err := parseAddr(from)
	if err != nil {
		return queue.NoRetry(fmt.Errorf("sender %q: %w", from, err))
	}
	rcpts := make([]string, len(m.To))
	for i, to := range m.To {
		if rcpts[i], err = parseAddr(to); err != nil {
			return queue.NoRetry(fmt.Errorf("recipient %q: %w", to, err))
		}
	}
	if err := send(ctx, cfg, fromAddr, rcpts, build(from, m)); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		}
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return queue.NoRetry(fmt.Errorf("%s: %w", cfg.Addr, err))
		}
		return fmt.Errorf("%s: %w", cfg.Addr, err)
	}
	return nil
}

func send(ctx context.Context, cfg Config, from string, to []string, msg []byte) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return err
	}
	// Unblock every read and write when ctx is done.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
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
	if err := greet(c, cfg, host); err != nil {
		return err
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

// greet says hello, starts TLS when offered and authenticates when a username is set.
func greet(c *smtp.Client, cfg Config, host string) error {
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
	if cfg.Username == "" {
		return nil
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return errors.New("a username is configured but the server offers no AUTH")
	}
	// smtp.PlainAuth sends the password only over TLS or to localhost.
	if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
		return fmt.Errorf("auth as %s: %w", cfg.Username, err)
	}
	return nil
}

// parseAddr returns the bare address of "Name <addr>" or "addr".
func parseAddr(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

// isToken reports whether s is a host name fit for HELO.
func isToken(s string) bool {
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return s != ""
}

// build returns an RFC 5322 plain-text message with CRLF line ends.
func build(from string, m Message) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from)
	hdr("To", strings.Join(m.To, ", "))
	// A header must stay one line whatever the data holds.
	hdr("Subject", encodeHeader(strings.Join(strings.Fields(m.Subject), " ")))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	if m.MessageID != "" {
		hdr("Message-ID", m.MessageID)
	}
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		hdr(k, strings.Join(strings.Fields(m.Headers[k]), " "))
	}
	b.WriteString("\r\n")
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
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
