package workflow_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/workflow"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultTypes(t *testing.T) {
	t.Parallel()
	r := workflow.DefaultTypes()
	if got := r.Names(); !reflect.DeepEqual(got, []string{"customer_followup"}) {
		t.Fatalf("default types = %v", got)
	}
	typ, _ := r.Get("customer_followup")
	want := []workflow.StepSpec{{Name: "follow_up", Kind: workflow.KindDelay, Duration: 2 * time.Second}}
	if !reflect.DeepEqual(typ.Steps, want) {
		t.Errorf("customer_followup steps = %+v, want %+v (the seed's 2 s of simulated work)", typ.Steps, want)
	}
	if typ.Description == "" {
		t.Error("customer_followup has no description")
	}
	// The commented examples are valid once uncommented.
	var lines []string
	for _, l := range strings.Split(string(workflow.DefaultsYAML()), "\n") {
		trimmed := strings.TrimLeft(l, " ")
		if strings.HasPrefix(trimmed, "# ") || trimmed == "#" {
			indent := l[:len(l)-len(trimmed)]
			rest := strings.TrimPrefix(strings.TrimPrefix(trimmed, "#"), " ")
			if len(indent) >= 6 && (strings.HasPrefix(rest, "- name:") || strings.HasPrefix(rest, " ") ||
				strings.HasPrefix(rest, "kind:") || strings.HasPrefix(rest, "url:") || strings.HasPrefix(rest, "method:") ||
				strings.HasPrefix(rest, "headers:") || strings.HasPrefix(rest, "secret:") || strings.HasPrefix(rest, "timeout:") ||
				strings.HasPrefix(rest, "to:") || strings.HasPrefix(rest, "subject:") || strings.HasPrefix(rest, "body:")) {
				lines = append(lines, indent+rest)
			}
			continue
		}
		lines = append(lines, l)
	}
	// (TestEnvExpansion checks ${VAR}.)
	text := strings.NewReplacer("${CRM_TOKEN}", "t0ken", "${CRM_WEBHOOK_SECRET}", "s3cret").Replace(strings.Join(lines, "\n"))
	full, err := workflow.ParseTypes("defaults-uncommented.yaml", []byte(text), nil)
	if err != nil {
		t.Fatalf("defaults.yaml with its examples uncommented: %v\n%s", err, strings.Join(lines, "\n"))
	}
	typ, _ = full.Get("customer_followup")
	var kinds []string
	for _, s := range typ.Steps {
		kinds = append(kinds, s.Kind)
	}
	if !reflect.DeepEqual(kinds, []string{"delay", "http", "email"}) {
		t.Fatalf("uncommented kinds = %v", kinds)
	}
	if h := typ.Steps[1]; h.Headers["Authorization"] != "Bearer t0ken" || h.Secret != "s3cret" || h.Timeout != 10*time.Second {
		t.Errorf("http example = %+v", h)
	}
}

// TestEnvExpansion checks that ${VAR} is looked up through the getenv it is given (the
// environment read at the edge of the program), never in the process's environment.
func TestEnvExpansion(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DOMINION_TEST_HOOK": "https://hooks.example.com", "DOMINION_TEST_SECRET": "s3cret"}
	text := []byte(`
workflows:
  - name: a
    steps:
      - kind: http
        url: ${DOMINION_TEST_HOOK}/crm?cost=$5
        headers: {Authorization: "Bearer ${DOMINION_TEST_SECRET}"}
        secret: ${DOMINION_TEST_SECRET}
`)
	r, err := workflow.ParseTypes("env.yaml", text, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := r.Get("a")
	s := typ.Steps[0]
	if s.URL != "https://hooks.example.com/crm?cost=$5" || s.Secret != "s3cret" || s.Headers["Authorization"] != "Bearer s3cret" {
		t.Errorf("expanded step = %+v", s)
	}
	// PATH is in every process's environment, but not in the one given: an error.
	_, err = workflow.ParseTypes("path.yaml", []byte("workflows:\n  - name: b\n    steps:\n      - {kind: http, url: \"http://h/${PATH}\"}\n"),
		func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), `"PATH" is not set`) {
		t.Errorf("a variable only the process has: %v", err)
	}
}

func TestLoadTypes(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "workflows.yaml", `
workflows:
  - name: invoice_reminder
    description: Remind a customer of an unpaid invoice.
    steps:
      - name: wait
        kind: delay
        duration: 1500ms
      - name: call_billing
        kind: http
        url: https://billing.example.com/remind
        method: put
        headers:
          X-Team: finance
        secret: abc
        timeout: 5s
      - kind: email
        to: ["Ops <ops@example.com>", billing@example.com]
        subject: "Reminder sent for {{.WorkflowID}}"
  - name: second
    steps:
      - kind: delay
        duration: 1s
`)
	r, err := workflow.LoadTypes(path, nil)
	if err != nil {
		t.Fatalf("LoadTypes: %v", err)
	}
	if got := r.Names(); !reflect.DeepEqual(got, []string{"invoice_reminder", "second"}) {
		t.Fatalf("names = %v", got)
	}
	typ, ok := r.Get("invoice_reminder")
	if !ok {
		t.Fatal("invoice_reminder missing")
	}
	want := workflow.Type{
		Name: "invoice_reminder", Description: "Remind a customer of an unpaid invoice.",
		Steps: []workflow.StepSpec{
			{Name: "wait", Kind: "delay", Duration: 1500 * time.Millisecond},
			{Name: "call_billing", Kind: "http", URL: "https://billing.example.com/remind", Method: "PUT",
				Headers: map[string]string{"X-Team": "finance"}, Secret: "abc", Timeout: 5 * time.Second},
			{Name: "email_3", Kind: "email", To: []string{"Ops <ops@example.com>", "billing@example.com"},
				Subject: "Reminder sent for {{.WorkflowID}}", Body: workflow.DefaultBody, Timeout: workflow.DefaultStepTimeout},
		},
	}
	if !reflect.DeepEqual(typ, want) {
		t.Errorf("invoice_reminder =\n%+v\nwant\n%+v", typ, want)
	}
	// Get returns a copy.
	typ.Steps[1].Headers["X-Team"] = "changed"
	again, _ := r.Get("invoice_reminder")
	if again.Steps[1].Headers["X-Team"] != "finance" {
		t.Error("Get shares the registry's maps")
	}
	if got := r.List(); len(got) != 2 || got[0].Name != "invoice_reminder" {
		t.Errorf("List = %+v", got)
	}
}

func TestLoadTypesErrors(t *testing.T) {
	t.Parallel()
	head := "workflows:\n  - name: a\n    steps:\n      - kind: delay\n        duration: 1s\n    notify:\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error, after the file name
	}{
		{"unknown kind", `
workflows:
  - name: a
    steps:
      - name: first
        kind: delay
        duration: 1s
      - name: teleport
        kind: teleport
`, []string{"line 8", `workflow type "a", step 2 ("teleport")`, `unknown kind "teleport" (known: delay, email, http)`}},
		{"yaml syntax", "workflows:\n  - name: a\n    steps: [\n", []string{"line"}},
		{"unknown field", `
workflows:
  - name: a
    steps:
      - kind: delay
        duraton: 1s
`, []string{"line 6", "field duraton not found"}},
		{"bad duration", `
workflows:
  - name: a
    steps:
      - kind: delay
        duration: soon
`, []string{"line 5", `duration "soon" is not a duration`}},
		{"missing duration", `
workflows:
  - name: a
    steps:
      - kind: delay
`, []string{"line 5", "duration is required"}},
		{"field of another kind", `
workflows:
  - name: a
    steps:
      - kind: delay
        duration: 1s
        url: http://x
`, []string{"delay step cannot have url"}},
		{"http without url", `
workflows:
  - name: a
    steps:
      - kind: http
`, []string{"url is required"}},
		{"relative url", `
workflows:
  - name: a
    steps:
      - kind: http
        url: /hook
`, []string{"not an absolute http or https URL"}},
		{"bad address", `
workflows:
  - name: a
    steps:
      - kind: email
        to: [not-an-address]
`, []string{`"not-an-address" is not an email address`}},
		{"bad template", `
workflows:
  - name: a
    steps:
      - kind: email
        to: [a@example.com]
        body: "{{.Oops"
`, []string{"body template"}},
		{"unset variable", `
workflows:
  - name: a
    steps:
      - kind: http
        url: https://x.example.com/
        secret: ${DOMINION_TEST_SURELY_UNSET}
`, []string{`environment variable "DOMINION_TEST_SURELY_UNSET" is not set`}},
		{"duplicate type", `
workflows:
  - name: a
    steps: [{kind: delay, duration: 1s}]
  - name: a
    steps: [{kind: delay, duration: 1s}]
`, []string{"line 5", `"a" is already defined`}},
		{"duplicate step", `
workflows:
  - name: a
    steps: [{name: x, kind: delay, duration: 1s}, {name: x, kind: delay, duration: 2s}]
`, []string{"already used by step 1"}},
		{"no steps", `
workflows:
  - name: a
`, []string{"line 3", `"a" has no steps`}},
		{"unknown need", `
workflows:
  - name: g
    steps:
      - {name: a, kind: delay, duration: 1s, needs: []}
      - {name: b, kind: delay, duration: 1s, needs: [a, z]}
`, []string{"line 6", `workflow type "g", step 2 ("b"): needs unknown step "z" (steps: a, b)`}},
		{"cycle", `
workflows:
  - name: g
    steps:
      - {name: a, kind: delay, duration: 1s, needs: []}
      - {name: b, kind: delay, duration: 1s, needs: [a, d]}
      - {name: c, kind: delay, duration: 1s, needs: [b]}
      - {name: d, kind: delay, duration: 1s, needs: [c]}
`, []string{"line 6", `workflow type "g", step 2 ("b"): its needs make a cycle: b → d → c → b`}},
		{"needs itself", `
workflows:
  - name: g
    steps:
      - {name: a, kind: delay, duration: 1s, needs: [a]}
`, []string{"line 5", `step 1 ("a"): needs itself`}},
		{"needs twice", `
workflows:
  - name: g
    steps:
      - {name: a, kind: delay, duration: 1s}
      - {name: b, kind: delay, duration: 1s, needs: [a, a]}
`, []string{"line 6", `needs "a" twice`}},
		{"retry without attempts", `
workflows:
  - name: g
    steps:
      - {name: a, kind: delay, duration: 1s, retry: {backoff: 1s}}
`, []string{"line 5", "retry: attempts is required"}},
		{"too many attempts", `
workflows:
  - name: g
    steps:
      - {name: a, kind: delay, duration: 1s, retry: {attempts: 1000}}
`, []string{"line 5", "retry: attempts 1000 is not between 1 and 100"}},
		{"bad backoff", `
workflows:
  - name: g
    steps:
      - {name: a, kind: delay, duration: 1s, retry: {attempts: 2, backoff: soon}}
`, []string{"line 5", `retry: backoff "soon" is not a duration`}},
		{"bad type name", `
workflows:
  - name: "a b"
    steps: [{kind: delay, duration: 1s}]
`, []string{`name "a b"`}},
		{"empty", ``, []string{"empty"}},
		{"no workflows", "other: 1\n", []string{"field other not found"}},
		// notify rules: the line of the rule (or weekly_report), the rule, the channel, the field
		{"unknown channel", head + "      - on: completed\n        channels:\n          - kind: pager\n",
			[]string{"line 7", `workflow type "a", notify rule 1: channel 1: unknown channel kind "pager" (known: email, slack, sms, webhook)`}},
		{"missing field", head + "      - on: completed\n        channels:\n          - kind: webhook\n            url: http://h/x\n          - kind: sms\n            to: [\"+15551230001\"]\n",
			[]string{"line 7", "notify rule 1: channel 2 (sms): from is required"}},
		{"bad url", head + "      - on: [completed]\n      - on: [failed]\n        channels:\n          - kind: slack\n            url: not-a-url/slack-Secret-2\n",
			[]string{"line 7", "notify rule 1: channels is required"}},
		{"bad url 2", head + "      - on: [failed]\n        channels:\n          - kind: slack\n            url: not-a-url/slack-Secret-2\n",
			[]string{"line 7", "notify rule 1: channel 1 (slack): url is not an absolute http or https URL"}},
		{"unknown event", head + "      - on: [finished]\n        channels:\n          - kind: webhook\n            url: http://h/x\n",
			[]string{"line 7", `notify rule 1: on: unknown event "finished" (known: completed, failed)`}},
		{"missing on", head + "      - channels:\n          - kind: webhook\n            url: http://h/x\n",
			[]string{"line 7", "notify rule 1: on is required"}},
		{"unset secret", head + "      - on: failed\n        channels:\n          - kind: webhook\n            url: http://h/x\n            secret: ${NO_SUCH_SECRET}\n",
			[]string{"line 7", `channel 1 (webhook): secret: environment variable "NO_SUCH_SECRET" is not set`}},
		{"unknown field", head + "      - on: failed\n        channels:\n          - kind: webhook\n            url: http://h/x\n            secrte: x\n",
			[]string{"line 11", "field secrte not found"}},
		{"report", "workflows:\n  - name: a\n    steps:\n      - kind: delay\n        duration: 1s\nweekly_report:\n  notify:\n    - kind: email\n",
			[]string{"line 7", "weekly_report notify: channel 1 (email): to is required"}},
	} {
		path := writeFile(t, "bad.yaml", tc.yaml)
		_, err := workflow.LoadTypes(path, nil)
		if err == nil {
			t.Errorf("%s: LoadTypes succeeded", tc.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, path) {
			t.Errorf("%s: error %q does not name the file", tc.name, msg)
		}
		if strings.Contains(msg, "slack-Secret-2") {
			t.Errorf("%s: error %q shows the Slack URL", tc.name, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not say %q", tc.name, msg, w)
			}
		}
	}
	_, err := workflow.LoadTypes(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestGraphTypes: needs, retry and timeout read from YAML; a step without needs follows the
// one before it, so a file without needs is a sequence, as before.
func TestGraphTypes(t *testing.T) {
	t.Parallel()
	r, err := workflow.ParseTypes("graph.yaml", []byte(`
workflows:
  - name: g
    steps:
      - {name: fetch, kind: delay, duration: 1s}
      - {name: left, kind: delay, duration: 1s, needs: [fetch], timeout: 2s, retry: {attempts: 3, backoff: 250ms}}
      - {name: right, kind: delay, duration: 1s, needs: [fetch], retry: {attempts: 2}}
      - {name: join, kind: delay, duration: 1s, needs: [left, right]}
      - {name: after, kind: delay, duration: 1s}
      - {name: alone, kind: delay, duration: 1s, needs: []}
  - name: seq
    steps:
      - {name: one, kind: delay, duration: 1s}
      - {name: two, kind: delay, duration: 1s}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := r.Get("g")
	if !g.Graph() {
		t.Fatal("a type with needs is not a graph")
	}
	if got, want := g.Needs(), [][]int{nil, {0}, {0}, {1, 2}, {3}, {}}; !reflect.DeepEqual(got, want) {
		t.Errorf("needs = %v, want %v", got, want)
	}
	left, right := g.Steps[1], g.Steps[2]
	if left.Timeout != 2*time.Second || left.Retry != (workflow.StepRetry{Attempts: 3, Backoff: 250 * time.Millisecond}) {
		t.Errorf("left = %+v", left)
	}
	if right.Timeout != 0 || right.Retry != (workflow.StepRetry{Attempts: 2, Backoff: workflow.DefaultRetryBackoff}) {
		t.Errorf("right = %+v (a delay has no timeout unless given one; backoff defaults to 1s)", right)
	}
	seq, _ := r.Get("seq")
	if seq.Graph() || !reflect.DeepEqual(seq.Needs(), [][]int{nil, {0}}) {
		t.Errorf("a type without needs: graph %v, needs %v; want a sequence", seq.Graph(), seq.Needs())
	}
	if def, _ := workflow.DefaultTypes().Get("customer_followup"); def.Graph() {
		t.Error("the shipped customer_followup became a graph")
	}
}

func TestRegistryAdd(t *testing.T) {
	t.Parallel()
	r := workflow.NewRegistry()
	if err := r.Add(workflow.Type{Name: "x", Steps: []workflow.StepSpec{{Kind: "fax"}}}); err == nil ||
		!strings.Contains(err.Error(), `unknown kind "fax"`) {
		t.Errorf("Add with unknown kind: %v", err)
	}
	if err := r.Add(workflow.Type{Name: "x", Steps: []workflow.StepSpec{{Kind: workflow.KindHTTP, URL: "http://127.0.0.1/"}}}); err != nil {
		t.Fatal(err)
	}
	typ, _ := r.Get("x")
	if s := typ.Steps[0]; s.Name != "http_1" || s.Method != "POST" || s.Timeout != workflow.DefaultStepTimeout {
		t.Errorf("defaults not filled: %+v", s)
	}
	if err := r.Add(delayType("x", time.Second)); err == nil {
		t.Error("Add accepted a duplicate name")
	}
	if err := r.Add(workflow.Type{Name: "y", Steps: []workflow.StepSpec{{Kind: workflow.KindDelay, Duration: 48 * time.Hour}}}); err == nil {
		t.Error("Add accepted a two-day delay")
	}
}
