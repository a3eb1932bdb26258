package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/codex-dominion/dominion/internal/httpx"
	"github.com/codex-dominion/dominion/queue"
)

// HeaderSignature carries Sign's value: sha256=<hex HMAC-SHA256 of the body>.
const HeaderSignature = "X-Dominion-Signature"

// Sign returns the X-Dominion-Signature value of body under secret: "sha256=" and the hex
// HMAC-SHA256. Receivers compare it with hmac.Equal.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Outcome turns an answer's status into the attempt's outcome: nil for a 2xx; a retryable
// error for 408, 425, 429 and 5xx (the endpoint may answer otherwise later); a queue.NoRetry
// error for a 3xx (redirects are not followed: a POST redirected with 301/302 would turn into
// a GET) and every other 4xx (resending the same request cannot help). The error says
// "<target> answered <status>: <the start of body>".
func Outcome(target string, resp *http.Response, body []byte) error {
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	err := fmt.Errorf("%s answered %s%s", target, resp.Status, snippet(body))
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests:
		return err
	case code >= 300 && code <= 499:
		return queue.NoRetry(err)
	}
	return err
}

// snippet is the start of an error answer's body, on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return ""
	}
	return ": " + httpx.ClipTo(s, 300)
}

// SafeURL is the URL as logs and errors show it: without user info, query and fragment, which
// may hold credentials.
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// UnwrapURLError drops *url.Error's wrapping, whose message repeats the full URL (user info
// and query included).
func UnwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
