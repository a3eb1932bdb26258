//go:build !nosqlite

package service

import (
	"context"
	"log/slog"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// openEmbeddedBroker opens the embedded SQLite broker's file.
func openEmbeddedBroker(ctx context.Context, path string, log *slog.Logger) (queue.Broker, error) {
	return sqlitebroker.Open(ctx, path, sqlitebroker.Options{Logger: log})
}
