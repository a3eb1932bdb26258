package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/queue"
)

// TestSchedulesRunShowsAsLastRun runs a schedule by hand and checks that `schedules list`
// shows it as the last run, marked manual, with its job (the text table and --json).
func TestSchedulesRunShowsAsLastRun(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, tb testBroker) {
		out := ok(t, tb.cfg, "schedules", "run", "cleanup_old_workflows")
		m := regexp.MustCompile(`Enqueued (cleanup_old_workflows:run:\S+) `).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("schedules run printed %q", out)
		}
		id := m[1]
		var line string
		for l := range strings.SplitSeq(ok(t, tb.cfg, "schedules", "list"), "\n") {
			if strings.HasPrefix(l, "cleanup_old_workflows ") {
				line = l
			}
		}
		if !strings.Contains(line, "(manual)") || !strings.Contains(line, id) || !strings.Contains(line, "pending") {
			t.Errorf("schedules list does not show the manual run %s as the last run:\n%s", id, line)
		}
		var infos []queue.ScheduleInfo
		decodeJSON(t, ok(t, tb.cfg, "schedules", "list", "--json"), &infos)
		for _, i := range infos {
			if i.Name == "cleanup_old_workflows" && (!i.LastRunManual || i.LastJobID != id || i.LastRun.IsZero()) {
				t.Errorf("schedules list --json: %+v", i)
			}
		}
	})
}
