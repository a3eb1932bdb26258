package webhook

import (
	"net/http"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/queue"
)

func TestOutcomeMapsStatuses(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{
		200: "completed", 204: "completed",
		301: "dead", 302: "dead", 400: "dead", 404: "dead", 422: "dead",
		408: "retried", 425: "retried", 429: "retried", 500: "retried", 503: "retried",
	} {
		resp := &http.Response{StatusCode: code, Status: http.StatusText(code)}
		err := Outcome("POST http://h/x", resp, []byte("  the\n body "))
		got := "retried"
		switch {
		case err == nil:
			got = "completed"
		case queue.IsNoRetry(err):
			got = "dead"
		}
		if got != want {
			t.Errorf("status %d: %s (%v), want %s", code, got, err, want)
		}
		if err != nil && !strings.HasSuffix(err.Error(), ": the body") {
			t.Errorf("status %d: error %q does not end with the body on one line", code, err)
		}
	}
}

func TestSafeURLDropsCredentials(t *testing.T) {
	t.Parallel()
	if got := SafeURL("https://u:pw@h.example/p?token=t#f"); got != "https://h.example/p" {
		t.Errorf("SafeURL = %q", got)
	}
}
