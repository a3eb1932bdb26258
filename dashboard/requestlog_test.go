package dashboard_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/dashboard"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestRequestIDAndLog: a dashboard request gets an X-Request-ID, the client's when it is a
// sane token, else a new one, and one log line with its method, route, status, duration and
// request id, as an API request does.
func TestRequestIDAndLog(t *testing.T) {
	t.Parallel()
	var logs testenv.LogBuffer
	e := newEnv(t, func(c *dashboard.Config) { c.Logger = logs.Logger() })
	generated := regexp.MustCompile(`^[0-9a-f]{24}$`)
	for _, given := range []string{"req-42.a:b", "", "two words"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.base+"/queues", nil)
		if err != nil {
			t.Fatal(err)
		}
		if given != "" {
			req.Header.Set("X-Request-ID", given)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get("X-Request-ID")
		switch {
		case given == "req-42.a:b" && id != given:
			t.Errorf("X-Request-ID %q answered %q, want it kept", given, id)
		case given != "req-42.a:b" && !generated.MatchString(id):
			t.Errorf("X-Request-ID %q answered %q, want a new id", given, id)
		}
		line := regexp.MustCompile(`msg="http request" component=dashboard method=GET route="GET /dashboard/queues" path=/dashboard/queues request_id=` +
			regexp.QuoteMeta(id) + ` status=200 bytes=\d+ took=\S+`)
		testenv.Until(t, 10*time.Second, "the request's log line", func() bool { return line.MatchString(logs.String()) },
			func() string { return strings.TrimSpace(logs.String()) })
	}
}
