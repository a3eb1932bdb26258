package sqlitebroker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codex-dominion/dominion/internal/testenv"
)

// TestQueryPlansUseIndexes checks that no query walks the whole jobs table: each finds its
// rows through an index, so its cost follows the rows it touches, not the size of the queue.
func TestQueryPlansUseIndexes(t *testing.T) {
	t.Parallel()
	b := openBroker(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	queries, err := parseQueries()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, q := range queries {
		if strings.HasPrefix(q, "PRAGMA") {
			continue
		}
		args := make([]any, strings.Count(q, "?")) // enough; extra ones are ignored by position
		for i := range args {
			args[i] = 1
		}
		plan := testenv.SQLitePlan(ctx, t, b.w, q, args...)
		for _, line := range plan {
			if strings.HasPrefix(line, "SCAN jobs") {
				t.Errorf("query %s scans the jobs table:\n%s", name, strings.Join(plan, "\n"))
			}
		}
		if testing.Verbose() {
			t.Logf("%s:\n  %s", name, strings.Join(plan, "\n  "))
		}
	}
}
