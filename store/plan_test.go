package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestSQLitePlansSearch checks, on SQLite, that the lists, counts and summaries of workflows
// cost what they return, not the size of the table: a list reads its rows in list order
// through an index and stops at its limit (no sort, no walk of the table), and a count or a
// summary reads ranges of an index (SEARCH), never a whole table or index (SCAN).
func TestSQLitePlansSearch(t *testing.T) {
	t.Parallel()
	opened, err := Open(t.Context(), filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = opened.Close() })
	s := opened.(*sqlStore)
	cursor := encodeCursor(time.Now(), "01a23b62-9705-70ad-9908-ac3ed89789e1")
	for _, f := range []ListFilter{
		{}, {Cursor: cursor}, {Status: StatusCompleted}, {Status: StatusFailed, Cursor: cursor},
		{AgentID: "a"}, {Type: "t", Cursor: cursor}, {AgentID: "a", Status: StatusQueued},
	} {
		q, args, err := s.listQuery(f, 51)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("list %+v", f)
		for _, line := range explain(t, s, name, q, args...) {
			inOrder := strings.HasPrefix(line, "SEARCH") || strings.Contains(line, "USING INDEX")
			if !inOrder || strings.Contains(line, "TEMP B-TREE") {
				t.Errorf("%s does not read in list order: %s", name, line)
			}
		}
	}
	since := s.d.ts(time.Now())
	for name, q := range map[string]string{"summary": summarizeSQL, "counts": countsSQL} {
		plan := explain(t, s, name, q, since, since)
		for _, line := range plan {
			if strings.HasPrefix(line, "SCAN w") {
				t.Errorf("%s walks a whole table or index: %s", name, line)
			}
		}
		// The workflows finished since a time: a range of the index by finish time, not every
		// completed workflow through the status index.
		if name == "counts" && !strings.Contains(strings.Join(plan, "\n"), "workflows_finished_idx (finished_at>?)") {
			t.Errorf("counts do not read the finished workflows by finish time:\n%s", strings.Join(plan, "\n"))
		}
	}
}

// explain returns the lines of SQLite's plan of q with args, logged with -v.
func explain(t *testing.T, s *sqlStore, name, q string, args ...any) []string {
	t.Helper()
	plan := testenv.SQLitePlan(t.Context(), t, s.db, q, args...)
	if testing.Verbose() {
		t.Logf("%s:\n  %s", name, strings.Join(plan, "\n  "))
	}
	return plan
}
