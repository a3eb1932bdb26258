package sqlitebroker

import (
	"bufio"
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// jobColumns are the columns scanJob reads, in its order; queries.sql refers to them as
// {{job_columns}}.
const jobColumns = `id, queue, type, payload, state, attempt, max_retries, timeout, run_at,
	unique_key, unique_for, result_ttl, result, errors, enqueued_at, started_at, finished_at,
	worker_id, cancel_requested, metadata, retried_at, priority, deadline, progress, rate_key,
	parents, run_anyway, batch`

// parseQueries reads queries.sql: every query follows a "-- name: NAME" line and runs until
// the next one. Comment lines inside a query are kept (SQLite ignores them).
func parseQueries() (map[string]string, error) {
	data, err := sqlFiles.ReadFile("sql/queries.sql")
	if err != nil {
		return nil, err
	}
	queries := make(map[string]string)
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			q := strings.TrimSpace(body.String())
			queries[name] = strings.ReplaceAll(q, "{{job_columns}}", jobColumns)
		}
		body.Reset()
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "-- name:"); ok {
			flush()
			name = strings.TrimSpace(n)
			if _, dup := queries[name]; dup {
				return nil, fmt.Errorf("queries.sql: query %q defined twice", name)
			}
			continue
		}
		if name != "" {
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	flush()
	return queries, sc.Err()
}

// migration is one schema_NNN.sql file: applying it brings the schema to version.
type migration struct {
	version int
	name    string
}

// migrations lists the embedded schema files in version order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(sqlFiles, "sql/schema_*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		num := strings.TrimSuffix(strings.TrimPrefix(path.Base(n), "schema_"), ".sql")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("schema file %s: bad version: %w", n, err)
		}
		ms = append(ms, migration{version: v, name: n})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("schema files: version %d missing", i+1)
		}
	}
	return ms, nil
}

// migrate brings the database's schema (PRAGMA user_version) up to the embedded one, in one
// write transaction, and refuses a database made by a newer version of this package. A file
// already up to date is only read: opening it never waits for another process's writes.
func migrate(ctx context.Context, db *sql.DB, begin func(context.Context) (*sql.Tx, error)) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current == len(ms) {
		return nil
	}
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("schema version %d is newer than this program's %d", current, len(ms))
	}
	if current == len(ms) {
		return nil
	}
	for _, m := range ms[current:] {
		script, err := sqlFiles.ReadFile(m.name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(script)); err != nil {
			return fmt.Errorf("apply %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
		return err
	}
	return tx.Commit()
}
