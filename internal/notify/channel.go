package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/internal/envexpand"
	"github.com/codex-dominion/dominion/internal/smtpmail"
	"github.com/codex-dominion/dominion/internal/webhook"
)

// Channel kinds.
const (
	KindWebhook = "webhook" // a signed JSON POST to a URL
	KindEmail   = "email"   // a message through the SMTP server (SMTP_ADDR)
	KindSMS     = "sms"     // a text message through the provider's HTTP API (Twilio's shape)
	KindSlack   = "slack"   // a Slack incoming webhook
)

// Kinds returns the channel kinds, sorted.
func Kinds() []string { return []string{KindEmail, KindSlack, KindSMS, KindWebhook} }

// Defaults and limits of a channel.
const (
	// DefaultSMSBaseURL is the SMS provider's API: Twilio's.
	DefaultSMSBaseURL = "https://api.twilio.com"
	DefaultTimeout    = 30 * time.Second
	MaxTimeout        = 5 * time.Minute
	MaxRecipients     = 50
)

// Channel is one destination of notifications. Its secrets (Secret, AuthToken, and the whole
// URL of a Slack channel) are never printed: String and LogValue give Describe.
type Channel struct {
	Kind string
	// URL is the webhook's or the Slack incoming webhook's (required for those).
	URL string
	// Secret, for a webhook, signs the body (X-Dominion-Signature, as http steps do).
	Secret string
	// To: email addresses, or phone numbers in E.164 form (+15551234567) for sms.
	To []string
	// From, AccountSID, AuthToken and BaseURL are the sms channel's: the sender number, the
	// provider account and its token (basic auth), and the API's base URL (default
	// DefaultSMSBaseURL).
	From       string
	AccountSID string
	AuthToken  string
	BaseURL    string
	// Timeout bounds one send (default DefaultTimeout).
	Timeout time.Duration
}

// Describe says what the channel is without any secret: "webhook https://hooks.example.com/x",
// "email to 2 recipients", "sms to 1 number via https://api.twilio.com", "slack hooks.slack.com".
func (c Channel) Describe() string {
	switch c.Kind {
	case KindWebhook:
		return "webhook " + webhook.SafeURL(c.URL)
	case KindEmail:
		return fmt.Sprintf("email to %d recipient%s", len(c.To), plural(len(c.To)))
	case KindSMS:
		return fmt.Sprintf("sms to %d number%s via %s", len(c.To), plural(len(c.To)), webhook.SafeURL(c.BaseURL))
	case KindSlack:
		return "slack " + c.Host()
	}
	return c.Kind
}

// Host is the host the channel sends to ("" for email).
func (c Channel) Host() string {
	raw := c.URL
	if c.Kind == KindSMS {
		raw = c.BaseURL
	}
	if u, err := url.Parse(raw); err == nil {
		return u.Hostname()
	}
	return ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// String is Describe.
func (c Channel) String() string { return c.Describe() }

// LogValue is Describe.
func (c Channel) LogValue() slog.Value { return slog.StringValue(c.Describe()) }

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{5,14}$`)

// Check validates c and fills in its defaults (timeout, the sms base URL). Errors name the
// field.
func (c *Channel) Check() error {
	if c.Kind == "" {
		return fmt.Errorf("kind is required (known: %s)", strings.Join(Kinds(), ", "))
	}
	if !slices.Contains(Kinds(), c.Kind) {
		return fmt.Errorf("unknown channel kind %q (known: %s)", c.Kind, strings.Join(Kinds(), ", "))
	}
	if err := c.checkStray(); err != nil {
		return err
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("timeout %s is negative", c.Timeout)
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	case c.Timeout > MaxTimeout:
		return fmt.Errorf("timeout %s is over the %s limit", c.Timeout, MaxTimeout)
	}
	if len(c.To) > MaxRecipients {
		return fmt.Errorf("to: %d recipients, over the limit of %d", len(c.To), MaxRecipients)
	}
	switch c.Kind {
	case KindWebhook, KindSlack:
		return checkURL("url", c.URL, c.Kind == KindSlack)
	case KindEmail:
		return c.checkEmail()
	default:
		return c.checkSMS()
	}
}

// checkStray refuses a field of another kind: almost always a misplaced line.
func (c *Channel) checkStray() error {
	var stray []string
	add := func(set bool, name string, kinds ...string) {
		if set && !slices.Contains(kinds, c.Kind) {
			stray = append(stray, name)
		}
	}
	add(c.URL != "", "url", KindWebhook, KindSlack)
	add(c.Secret != "", "secret", KindWebhook)
	add(len(c.To) > 0, "to", KindEmail, KindSMS)
	add(c.From != "", "from", KindSMS)
	add(c.AccountSID != "", "account_sid", KindSMS)
	add(c.AuthToken != "", "auth_token", KindSMS)
	add(c.BaseURL != "", "base_url", KindSMS)
	if len(stray) > 0 {
		return fmt.Errorf("a %s channel cannot have %s", c.Kind, strings.Join(stray, ", "))
	}
	return nil
}

func (c *Channel) checkEmail() error {
	if len(c.To) == 0 {
		return errors.New("to is required: a list of addresses")
	}
	for _, a := range c.To {
		if err := smtpmail.CheckAddress(a); err != nil {
			return fmt.Errorf("to: %q is not an email address", a)
		}
	}
	return nil
}

func (c *Channel) checkSMS() error {
	if len(c.To) == 0 {
		return errors.New("to is required: a list of phone numbers like +15551234567")
	}
	for _, n := range c.To {
		if !e164.MatchString(n) {
			return fmt.Errorf("to: %q is not a phone number in E.164 form like +15551234567", n)
		}
	}
	switch {
	case c.From == "":
		return errors.New("from is required: the sender's phone number")
	case !e164.MatchString(c.From):
		return fmt.Errorf("from: %q is not a phone number in E.164 form like +15551234567", c.From)
	case c.AccountSID == "":
		return errors.New("account_sid is required")
	case !isAlnum(c.AccountSID):
		return errors.New("account_sid must be letters and digits")
	case c.AuthToken == "":
		return errors.New("auth_token (or auth_token_file) is required")
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultSMSBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return checkURL("base_url", c.BaseURL, false)
}

// checkURL checks an absolute http(s) URL; a secret one is not quoted in the error.
func checkURL(field, raw string, secret bool) error {
	if raw == "" {
		return fmt.Errorf("%s is required", field)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if secret {
			return fmt.Errorf("%s is not an absolute http or https URL", field)
		}
		return fmt.Errorf("%s %q is not an absolute http or https URL", field, webhook.SafeURL(raw))
	}
	return nil
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ChannelYAML is a channel as a YAML file writes it (see docs/workflows.md). A secret is
// given in the file, usually as ${VAR}, or read from the file its *_file field names (one of
// the two); the file's content loses its trailing line break.
type ChannelYAML struct {
	Kind          string   `yaml:"kind"`
	URL           string   `yaml:"url"`
	URLFile       string   `yaml:"url_file"`
	Secret        string   `yaml:"secret"`
	SecretFile    string   `yaml:"secret_file"`
	To            []string `yaml:"to"`
	From          string   `yaml:"from"`
	AccountSID    string   `yaml:"account_sid"`
	AuthToken     string   `yaml:"auth_token"`
	AuthTokenFile string   `yaml:"auth_token_file"`
	BaseURL       string   `yaml:"base_url"`
	Timeout       string   `yaml:"timeout"`
}

// Channel returns the checked channel y describes: ${VAR} in every field but kind and timeout
// replaced through getenv (envexpand: unset or empty is an error), *_file fields read. Errors
// name the field and never quote a secret.
func (y ChannelYAML) Channel(getenv func(string) string) (Channel, error) {
	c := Channel{Kind: y.Kind}
	var err error
	expand := func(field, s string) string {
		if err != nil || s == "" {
			return ""
		}
		var v string
		if v, err = envexpand.Expand(s, getenv); err != nil {
			err = fmt.Errorf("%s: %w", field, err)
		}
		return v
	}
	c.URL = secretField("url", y.URL, y.URLFile, expand, &err)
	c.Secret = secretField("secret", y.Secret, y.SecretFile, expand, &err)
	c.AuthToken = secretField("auth_token", y.AuthToken, y.AuthTokenFile, expand, &err)
	for _, t := range y.To {
		c.To = append(c.To, expand("to", t))
	}
	c.From, c.AccountSID, c.BaseURL = expand("from", y.From), expand("account_sid", y.AccountSID), expand("base_url", y.BaseURL)
	if err != nil {
		return c, err
	}
	if y.Timeout != "" {
		if c.Timeout, err = time.ParseDuration(y.Timeout); err != nil {
			return c, fmt.Errorf("timeout %q is not a duration like 10s or 1m", y.Timeout)
		}
	}
	return c, c.Check()
}

// secretField is the value of a field that may also be read from a file (field_file).
func secretField(field, value, file string, expand func(field, s string) string, errp *error) string {
	if *errp != nil {
		return ""
	}
	if file == "" {
		return expand(field, value)
	}
	if value != "" {
		*errp = fmt.Errorf("%s and %s_file are both set: give one", field, field)
		return ""
	}
	path := expand(field+"_file", file)
	if *errp != nil {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		*errp = fmt.Errorf("%s_file: %w", field, err)
		return ""
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		*errp = fmt.Errorf("%s_file: %s is empty", field, path)
	}
	return v
}
