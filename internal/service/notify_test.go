package service_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/internal/testenv"
)

// The secrets of notification channels (a webhook's signing secret and URL token, a Slack
// URL, an SMS auth token from a file) appear nowhere a user looks: the workflow types
// endpoint, the failed notification jobs in the API and the dashboard, the logs.
func TestNotifySecretsStayHidden(t *testing.T) {
	t.Parallel()
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"no"}`)
	}))
	t.Cleanup(refuse.Close)
	tokenFile := filepath.Join(t.TempDir(), "twilio-token")
	if err := os.WriteFile(tokenFile, []byte("tw-Secret-3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	types := fmt.Sprintf(`workflows:
  - name: told
    steps:
      - kind: delay
        duration: 1ms
    notify:
      - on: [completed, failed]
        channels:
          - kind: webhook
            url: %[1]s/hook?token=url-Secret-4
            secret: ${HOOK_SECRET}
          - kind: slack
            url: ${SLACK_URL}
          - kind: sms
            base_url: %[1]s
            account_sid: AC42
            auth_token_file: %[2]s
            from: "+15557654321"
            to: ["+15551230001"]
`, refuse.URL, tokenFile)
	env := map[string]string{"HOOK_SECRET": "hook-Secret-1", "SLACK_URL": refuse.URL + "/services/T0/B0/slack-Secret-2"}
	secrets := []string{"hook-Secret-1", "slack-Secret-2", "tw-Secret-3", "url-Secret-4"}
	var logs testenv.LogBuffer
	s := start(t, backends[0], withTypes(t, types), func(c *service.Config) {
		c.Getenv = func(k string) string { return env[k] }
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	id := s.submit("agent", "told").WorkflowID
	s.waitStatus(id, "completed", 20*time.Second)
	seen := map[string]string{}
	for ch := range 3 {
		job := fmt.Sprintf("notify:%s:1:completed:0:%d", id, ch)
		path := "/api/jobs/" + url.PathEscape(job)
		var body []byte
		// The job is enqueued just after the workflow is seen completed: 404 until then.
		s.eventually(job+" dead", 20*time.Second, func() (bool, string) {
			var code int
			code, body = s.do("GET", path, "", nil)
			return code == http.StatusOK && strings.Contains(string(body), `"state":"dead"`), fmt.Sprintf("%d %s", code, body)
		})
		seen["GET "+path] = string(body)
		if !strings.Contains(string(body), "answered 400") {
			t.Errorf("job %s: %s", job, body)
		}
		seen["dashboard job "+job] = s.page("/dashboard/jobs/" + url.PathEscape(job))
	}
	seen["dashboard dead jobs"] = s.page("/dashboard/jobs?queue=workflows&state=dead")
	_, types2 := s.do("GET", "/api/workflow-types", "", nil)
	seen["GET /api/workflow-types"] = string(types2)
	if !strings.Contains(string(types2), `"notify":[{"on":["completed","failed"],"channels":[{"kind":"webhook","host":"127.0.0.1"},{"kind":"slack","host":"127.0.0.1"},{"kind":"sms","host":"127.0.0.1","recipients":1}]}]`) {
		t.Errorf("workflow types: %s", types2)
	}
	seen["logs"] = logs.String()
	if !strings.Contains(seen["logs"], "answered 400") {
		t.Errorf("the logs do not show the failed notifications:\n%s", seen["logs"])
	}
	for where, text := range seen {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q", where, secret)
			}
		}
	}
}

// page returns a dashboard page's HTML (status 200 required).
func (s *server) page(path string) string {
	s.t.Helper()
	resp, err := s.http.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s (%v)", path, resp.StatusCode, body, err)
	}
	return string(body)
}
