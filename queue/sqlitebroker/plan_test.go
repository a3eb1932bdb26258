package sqlitebroker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
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
		plan := queryPlan(ctx, t, b, q, args)
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

func queryPlan(ctx context.Context, t *testing.T, b *Broker, q string, args []any) []string {
	t.Helper()
	// Numbered parameters (?1, ?2) count once each: try fewer arguments until one fits.
	for n := len(args); n >= 0; n-- {
		rows, err := b.w.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args[:n]...)
		if err != nil {
			continue
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		return plan
	}
	t.Fatalf("cannot explain %s", q)
	return nil
}
