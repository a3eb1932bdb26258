package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles holds the versioned schema migrations of each dialect:
// migrations/<dialect>/NNNN_name.sql, applied in version order.
//
//go:embed migrations
var migrationFiles embed.FS

type migrationFile struct {
	Migration
	sql string
}

// loadMigrations reads and orders the migrations of one dialect.
func loadMigrations(dialect string) ([]migrationFile, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read %s migrations: %w", dialect, err)
	}
	var out []migrationFile
	seen := map[int64]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		base := strings.TrimSuffix(name, ".sql")
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s/%s: name must be NNNN_name.sql", dialect, name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s/%s: %w", dialect, name, err)
		}
		out = append(out, migrationFile{Migration: Migration{Version: v, Name: label}, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies the pending migrations in one transaction, recording each
// in schema_migrations. Concurrent Migrate calls (several processes starting
// at once) are serialized: by an advisory lock on PostgreSQL, by the write
// lock of the IMMEDIATE transaction on SQLite.
func (s *sqlStore) Migrate(ctx context.Context) ([]Migration, error) {
	all, err := loadMigrations(s.d.name)
	if err != nil {
		return nil, err
	}
	var applied []Migration
	err = s.inTx(ctx, func(tx DBTX) error {
		applied = nil
		for _, q := range s.d.migrateLock {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.createMigrationsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		done := map[int64]bool{}
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				_ = rows.Close()
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			done[v] = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		now := s.d.ts(s.clock())
		for _, m := range all {
			if done[m.Version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, now); err != nil {
				return fmt.Errorf("record %04d_%s: %w", m.Version, m.Name, err)
			}
			applied = append(applied, m.Migration)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("migrate "+s.d.name, "", err)
	}
	return applied, nil
}
