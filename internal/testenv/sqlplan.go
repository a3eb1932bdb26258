package testenv

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// SQLitePlan returns the lines of SQLite's plan of query q (EXPLAIN QUERY PLAN) on db, with
// args, of which it passes only as many as q takes (numbered parameters count once each, so
// it tries fewer until one fits). A test checks with it that a query reads through an index.
func SQLitePlan(ctx context.Context, t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	var first error // the error with every argument: the one to show if none fits
	for n := len(args); n >= 0; n-- {
		rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args[:n]...)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatalf("explain %s: %v", q, err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		return plan
	}
	t.Fatalf("cannot explain %s: %v", strings.TrimSpace(q), first)
	return nil
}
