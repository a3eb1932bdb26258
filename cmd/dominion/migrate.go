package main

import (
	"context"
	"fmt"

	"github.com/codex-dominion/dominion/internal/redact"
	"github.com/codex-dominion/dominion/internal/service"
	"github.com/codex-dominion/dominion/store"
)

func runMigrate(ctx context.Context, a *app, path string, args []string) int {
	f := a.newFlags(path, "", `Bring the workflow store's schema up to date and print the migrations applied:
PostgreSQL when DATABASE_URL is postgres://…, else the SQLite file DATABASE_URL names, else
the embedded one: DOMINION_DATA_DIR/queue.db, which holds the queue too (with REDIS_URL set,
or in a data directory that has one from an earlier version: DOMINION_DATA_DIR/dominion.db).
'dominion serve' does the same when it starts; run this
first to upgrade a shared database once, before starting new versions of serve.
Concurrent runs are safe (the migrations are applied under a lock, in one transaction).`, 0, 0)
	if _, code, ok := f.parse(args); !ok {
		return code
	}
	dsn := a.cfg.StoreDSN()
	if a.cfg.DatabaseURL == "" {
		if err := service.PrepareDataDir(a.cfg.DataDir); err != nil {
			return a.runtimeError(path, err)
		}
	}
	where := redact.URL(dsn)
	st, err := store.Open(ctx, dsn, store.WithoutMigrate())
	if err != nil {
		return a.runtimeError(path, err) // the store names itself, password redacted
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return a.runtimeError(path, fmt.Errorf("migrate store %s: %w", where, err))
	}
	if len(applied) == 0 {
		fmt.Fprintf(a.stdout, "store %s (%s): schema up to date\n", where, st.Dialect())
		return exitOK
	}
	fmt.Fprintf(a.stdout, "store %s (%s): applied %d migration(s)\n", where, st.Dialect(), len(applied))
	for _, m := range applied {
		fmt.Fprintf(a.stdout, "  %04d_%s\n", m.Version, m.Name)
	}
	return exitOK
}
