//go:build nosqlite

package service

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/store"
)

// openEmbeddedBroker refuses: this build has no SQLite (PrepareDataDir says so first).
func openEmbeddedBroker(_ context.Context, path string, _ *slog.Logger) (queue.Broker, error) {
	return nil, fmt.Errorf("queue: open %s: %w", path, store.ErrNoSQLite)
}

// queueWriter reports that the store cannot share the embedded queue's writer: this build
// has no embedded queue.
func queueWriter(*queue.Client) (store.Writer, func(store.DBTX) queue.EnqueueFunc, bool) {
	return nil, nil, false
}
