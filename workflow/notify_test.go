package workflow_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/internal/testenv"
	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
	"github.com/codex-dominion/dominion/workflow"
)

// notifyTypes is a types file whose "notified" type sends on four channels when it completes
// and on one webhook when it fails; "breaks" fails at its only step (a 400).
func notifyTypes(t *testing.T, base string) *workflow.Registry {
	t.Helper()
	yaml := fmt.Sprintf(`workflows:
  - name: notified
    steps:
      - kind: delay
        duration: 1ms
    notify: &rules
      - on: completed
        channels:
          - kind: webhook
            url: %[1]s/hook
            secret: ${HOOK_SECRET}
          - kind: slack
            url: ${SLACK_URL}
          - kind: sms
            base_url: %[1]s
            account_sid: AC42
            auth_token: ${TWILIO_TOKEN}
            from: "+15557654321"
            to: ["+15551230001"]
          - kind: email
            to: [ops@example.com]
      - on: [failed]
        channels:
          - kind: webhook
            url: %[1]s/failed-hook
            secret: ${HOOK_SECRET}
  - name: breaks
    steps:
      - kind: http
        url: %[1]s/refuse
    notify: *rules
`, base)
	env := map[string]string{"HOOK_SECRET": "hook-Secret-1", "SLACK_URL": base + "/slack/T0/B0/slack-Secret-2", "TWILIO_TOKEN": "tw-Secret-3"}
	reg, err := workflow.ParseTypes("notify.yaml", []byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// answers answers 400 on /refuse, 503 on /down, 201 on the SMS path and 200 elsewhere.
func answers(r *http.Request, _ int64) int {
	switch {
	case r.URL.Path == "/refuse":
		return http.StatusBadRequest
	case r.URL.Path == "/down":
		return http.StatusServiceUnavailable
	case strings.HasSuffix(r.URL.Path, "/Messages.json"):
		return http.StatusCreated
	}
	return http.StatusOK
}

const smsPath = "/2010-04-01/Accounts/AC42/Messages.json"

func notifyID(w store.Workflow, event string, rule, channel int) string {
	return fmt.Sprintf("notify:%s:%d:%s:%d:%d", w.ID, w.Attempts, event, rule, channel)
}

// A completed workflow sends one notification on each channel of its on-completed rule, as
// jobs on the workflows queue; running its job again (a crash after the finish, a relay)
// enqueues none twice; the on-failed rule sends nothing.
func TestNotifyOnceWhenCompleted(t *testing.T) {
	t.Parallel()
	h := newHook(t, answers)
	smtpd := testenv.StartSMTP(t)
	e := newEnv(t, withConfig(func(c *workflow.Config) {
		c.Types = notifyTypes(t, h.srv.URL)
		c.SMTP = workflow.SMTPConfig{Addr: smtpd.Addr()}
	}))
	e.startWorker(nil)
	w := e.waitStatus(e.submit("notified").Workflow.ID, store.StatusCompleted)
	for ch := range 4 {
		job := e.waitJob(notifyID(w, "completed", 0, ch), queue.StateCompleted)
		if job.Queue != workflow.DefaultQueue || job.Type != workflow.JobNotify {
			t.Errorf("notification job %s on queue %s, type %s", job.ID, job.Queue, job.Type)
		}
	}
	// The workflow's job runs again: it finds the workflow completed and enqueues its
	// notifications again, which the queue refuses as duplicates.
	if _, err := e.engine.ExecuteWorkflow(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := e.engine.RelayOnce(t.Context()); err != nil || n != 0 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	jobs, err := e.client.List(t.Context(), workflow.DefaultQueue, queue.StateCompleted, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, j := range jobs {
		if j.Type == workflow.JobNotify {
			notes++
		}
	}
	if notes != 4 {
		t.Errorf("%d notification jobs, want 4", notes)
	}
	for path, want := range map[string]int64{"/hook": 1, "/slack/T0/B0/slack-Secret-2": 1, smsPath: 1, "/failed-hook": 0} {
		if got := h.count(path); got != want {
			t.Errorf("%s: %d requests, want %d", path, got, want)
		}
	}
	if msgs := smtpd.WaitMessages(t, 1, waitFor); len(msgs) != 1 || msgs[0].To[0] != "ops@example.com" {
		t.Errorf("emails %+v", msgs)
	}
	for _, r := range h.requests() {
		if r.Path != "/hook" {
			continue
		}
		if sig := r.Header.Get("X-Dominion-Signature"); sig != "sha256="+hmacHex("hook-Secret-1", r.Body) {
			t.Errorf("webhook signature %q", sig)
		}
		if k := r.Header.Get("Idempotency-Key"); k != notifyID(w, "completed", 0, 0) {
			t.Errorf("Idempotency-Key %q", k)
		}
		var body struct {
			Event string                    `json:"event"`
			Data  workflow.NotifiedWorkflow `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.Event != "workflow.completed" ||
			body.Data.ID != w.ID || body.Data.Status != "completed" || body.Data.WeeklySavings != 33.33 {
			t.Errorf("webhook body %s (%v)", r.Body, err)
		}
	}
}

// A failed workflow sends its on-failed notifications only, with the failure in them.
func TestNotifyWhenFailed(t *testing.T) {
	t.Parallel()
	h := newHook(t, answers)
	e := newEnv(t, withConfig(func(c *workflow.Config) { c.Types = notifyTypes(t, h.srv.URL) }))
	e.startWorker(nil)
	w := e.waitStatus(e.submit("breaks").Workflow.ID, store.StatusFailed)
	e.waitJob(notifyID(w, "failed", 1, 0), queue.StateCompleted)
	for path, want := range map[string]int64{"/failed-hook": 1, "/hook": 0, "/slack/T0/B0/slack-Secret-2": 0, smsPath: 0} {
		if got := h.count(path); got != want {
			t.Errorf("%s: %d requests, want %d", path, got, want)
		}
	}
	for _, r := range h.requests() {
		if r.Path == "/failed-hook" && (!strings.Contains(string(r.Body), `"event":"workflow.failed"`) ||
			!strings.Contains(string(r.Body), "answered 400 Bad Request")) {
			t.Errorf("failed webhook body %s", r.Body)
		}
	}
}

// A channel that keeps failing is retried with backoff, the same idempotency key on every
// attempt, and then dead-lettered; its error holds no secret.
func TestNotifyRetriedThenDead(t *testing.T) {
	t.Parallel()
	h := newHook(t, answers)
	reg := workflow.NewRegistry()
	err := reg.Add(workflow.Type{Name: "down", Steps: []workflow.StepSpec{{Kind: workflow.KindDelay, Duration: 1}},
		Notify: []workflow.NotifyRule{{On: []string{"completed"}, Channels: []notifyChannel{
			{Kind: "webhook", URL: h.srv.URL + "/down?token=url-Secret-4", Secret: "hook-Secret-1"},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withConfig(func(c *workflow.Config) { c.Types = reg }))
	e.startWorker(nil)
	w := e.waitStatus(e.submit("down").Workflow.ID, store.StatusCompleted)
	job := e.waitJob(notifyID(w, "completed", 0, 0), queue.StateDead)
	if got, want := h.count("/down"), int64(workflow.NotifyMaxRetries+1); got != want {
		t.Errorf("%d requests, want %d (1 + %d retries)", got, want, workflow.NotifyMaxRetries)
	}
	for _, r := range h.requests() {
		if k := r.Header.Get("Idempotency-Key"); k != job.ID {
			t.Errorf("Idempotency-Key %q, want %q", k, job.ID)
		}
	}
	if len(job.Errors) == 0 || !strings.Contains(job.Errors[len(job.Errors)-1].Error, "answered 503") {
		t.Errorf("job errors %+v", job.Errors)
	}
	raw, _ := json.Marshal(job)
	for _, s := range []string{"url-Secret-4", "hook-Secret-1"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("the dead job shows %q: %s", s, raw)
		}
	}
}

// Generating the weekly report sends it on the report channels, once per week.
func TestWeeklyReportSent(t *testing.T) {
	t.Parallel()
	h := newHook(t, answers)
	reg := notifyTypes(t, h.srv.URL)
	if err := reg.SetReportChannels([]notifyChannel{{Kind: "webhook", URL: h.srv.URL + "/report"},
		{Kind: "slack", URL: h.srv.URL + "/report-slack"}}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withConfig(func(c *workflow.Config) { c.Types = reg }))
	e.startWorker(nil)
	e.waitStatus(e.submit("notified").Workflow.ID, store.StatusCompleted)
	r, err := e.engine.GenerateWeeklyReport(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.GenerateWeeklyReport(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.waitJob("notify:report:"+r.Week+":0", queue.StateCompleted)
	e.waitJob("notify:report:"+r.Week+":1", queue.StateCompleted)
	if a, b := h.count("/report"), h.count("/report-slack"); a != 1 || b != 1 {
		t.Errorf("report sent %d and %d times, want once on each channel", a, b)
	}
	for _, req := range h.requests() {
		switch req.Path {
		case "/report":
			var body struct {
				Event string              `json:"event"`
				Data  workflow.ReportView `json:"data"`
			}
			if err := json.Unmarshal(req.Body, &body); err != nil || body.Event != "report.weekly" ||
				body.Data.Week != r.Week || body.Data.Completed != 1 {
				t.Errorf("report webhook %s (%v)", req.Body, err)
			}
		case "/report-slack":
			if !strings.Contains(string(req.Body), "Weekly report "+r.Week+": 1 workflows, 1 completed") {
				t.Errorf("report slack %s", req.Body)
			}
		}
	}
}

// A worker that stops after the send and before the job's outcome is recorded (the request
// arrived; the answer did not) leaves the job to the next worker, which sends again with the
// same idempotency key: at least once, and a receiver can drop the repeat.
func TestNotifySentAgainWithSameKey(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	h := newHook(t, func(r *http.Request, n int64) int {
		if n == 1 {
			arrived <- struct{}{}
			<-r.Context().Done() // no answer until the sender gives up
		}
		return http.StatusOK
	})
	reg := workflow.NewRegistry()
	err := reg.Add(workflow.Type{Name: "cut", Steps: []workflow.StepSpec{{Kind: workflow.KindDelay, Duration: 1}},
		Notify: []workflow.NotifyRule{{On: []string{"completed"}, Channels: []notifyChannel{{Kind: "webhook", URL: h.srv.URL + "/cut"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withConfig(func(c *workflow.Config) { c.Types = reg }))
	stop := e.startWorker(nil)
	w := e.waitStatus(e.submit("cut").Workflow.ID, store.StatusCompleted)
	select {
	case <-arrived:
	case <-t.Context().Done():
		t.Fatal("the notification never arrived")
	}
	stop()
	e.startWorker(nil)
	job := e.waitJob(notifyID(w, "completed", 0, 0), queue.StateCompleted)
	reqs := h.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (the cut one and the resend)", len(reqs))
	}
	for _, r := range reqs {
		if k := r.Header.Get("Idempotency-Key"); k != job.ID {
			t.Errorf("Idempotency-Key %q, want %q on both", k, job.ID)
		}
	}
}
