package schedules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

func find(t *testing.T, list []queue.Schedule, name string) queue.Schedule {
	t.Helper()
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no schedule %q in %+v", name, list)
	return queue.Schedule{}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	list, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("defaults = %+v", list)
	}
	c := find(t, list, "cleanup_old_workflows")
	if c.Spec != "0 2 * * *" || c.Type != "cleanup_old_workflows" || string(c.Payload) != `{"days":30}` || c.Queue != "default" || c.Disabled || !c.CatchUp {
		t.Fatalf("cleanup default = %+v", c)
	}
	r := find(t, list, "generate_weekly_report")
	if r.Spec != "0 9 * * 1" || r.Type != "generate_weekly_report" || r.Disabled {
		t.Fatalf("report default = %+v", r)
	}
	if err := queue.ValidateSchedules(list, KnownTypes()); err != nil {
		t.Fatal(err)
	}
}

func TestParseOverridesAndAdds(t *testing.T) {
	t.Parallel()
	doc := `
workflow_types: {ignored: true}   # the workflow config file may hold other sections
schedules:
  - name: cleanup_old_workflows
    spec: "0 3 * * *"
    payload: {days: 7}
    time_zone: Europe/Berlin
  - name: generate_weekly_report
    enabled: false
  - name: heartbeat
    spec: "@every 10m"
    type: dominion.noop
    queue: low
    catch_up: true
    max_retries: 0
    timeout: 30s
    priority: -2
    deadline: 5m
    rate_key: "crm:sync"
  - name: dominion.sleep
    spec: "*/5 * * * * *"
    payload: {ms: 5}
`
	list, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("got %d schedules: %+v", len(list), list)
	}
	c := find(t, list, "cleanup_old_workflows")
	if c.Spec != "0 3 * * *" || string(c.Payload) != `{"days":7}` || c.TimeZone != "Europe/Berlin" || c.Type != "cleanup_old_workflows" || !c.CatchUp {
		t.Fatalf("cleanup = %+v", c)
	}
	if r := find(t, list, "generate_weekly_report"); !r.Disabled || r.Spec != "0 9 * * 1" {
		t.Fatalf("report = %+v", r)
	}
	h := find(t, list, "heartbeat")
	if h.Spec != "@every 10m" || h.Type != "dominion.noop" || h.Queue != "low" || !h.CatchUp || h.Disabled || len(h.Options) != 5 || h.Payload != nil {
		t.Fatalf("heartbeat = %+v", h)
	}
	var j queue.Job
	for _, o := range h.Options {
		o(&j)
	}
	inFive := time.Until(j.Deadline)
	if j.MaxRetries != 0 || j.Timeout != 30*time.Second || j.Priority != -2 || j.RateKey != "crm:sync" || inFive <= 4*time.Minute || inFive > 5*time.Minute {
		t.Fatalf("heartbeat options give %+v (deadline in %s, want 5m)", j, inFive)
	}
	s := find(t, list, "dominion.sleep")
	if s.Type != "dominion.sleep" || s.Queue != "default" || s.TimeZone != "UTC" || string(s.Payload) != `{"ms":5}` || s.CatchUp {
		t.Fatalf("sleep = %+v (type defaults to the name)", s)
	}
	if err := queue.ValidateSchedules(list, KnownTypes()); err != nil {
		t.Fatal(err)
	}
	// A bare list works too.
	list, err = Parse([]byte("- name: generate_weekly_report\n  spec: '0 8 * * 1'\n"))
	if err != nil || find(t, list, "generate_weekly_report").Spec != "0 8 * * 1" {
		t.Fatalf("bare list: %+v, %v", list, err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"schedules:\n  - name: x\n    spec: '* * * * *'\n    timezone: UTC\n":               `line 4: schedule "x": unknown field "timezone"`,
		"schedules:\n  - spec: '* * * * *'\n":                                               "line 2: schedule without a name",
		"schedules:\n  - name: x\n":                                                         `schedule "x": no spec`,
		"schedules:\n  - name: x\n    spec: '* * * * *'\n  - name: x\n    spec: '@daily'\n": `line 4: schedule "x": defined twice (first at line 2)`,
		"schedules:\n  - name: x\n    spec: '* * * * *'\n    enabled: maybe\n":              `schedule "x":`,
		"schedules:\n  - name: x\n    spec: '* * * * *'\n    timeout: soon\n":               `schedule "x": timeout "soon" is not a positive duration`,
		"schedules:\n  - name: x\n    spec: '* * * * *'\n    max_retries: -1\n":             `schedule "x": max_retries -1 is negative`,
		"schedules:\n  - name: x\n    spec: '* * * * *'\n    priority: 6\n":                 `schedule "x": priority 6 is not from -5 to 5`,
		"schedules:\n  - name: x\n    spec: '* * * * *'\n    deadline: tomorrow\n":          `schedule "x": deadline "tomorrow" is not a positive duration`,
		"schedules:\n  - name: x\n    spec: '* * * * *'\n    rate_key: 'a b'\n":             `schedule "x": rate_key "a b": use at most 200 letters`,
		"schedules: {x: 1}\n":             "want a list of schedules",
		"schedules:\n  - just a string\n": "line 2: a schedule must be a mapping",
		"schedules: [\n":                  "yaml:",
	}
	for doc, want := range cases {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", doc, err, want)
		}
	}
}

// TestValidationNamesScheduleAndProblem: what stops start-up, through the file a user writes.
func TestValidationNamesScheduleAndProblem(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"- name: nightly\n  spec: '0 25 * * *'\n  type: dominion.noop\n":                           `schedule "nightly": cron spec "0 25 * * *": hour field "25": 25 is out of range 0-23`,
		"- name: nightly\n  spec: '0 2 * * *'\n  time_zone: Mars/Olympus\n  type: dominion.noop\n": `schedule "nightly": unknown time zone "Mars/Olympus"`,
		"- name: nightly\n  spec: '0 2 * * *'\n  type: send_invoices\n":                            `schedule "nightly": unknown job type "send_invoices"`,
		"- name: 'bad name'\n  spec: '0 2 * * *'\n  type: dominion.noop\n":                         `schedule "bad name": bad name`,
	}
	dir := t.TempDir()
	for doc, want := range cases {
		path := filepath.Join(dir, "s.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		list, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		err = queue.ValidateSchedules(list, KnownTypes())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", doc, err, want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
