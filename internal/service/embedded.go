//go:build !nosqlite

package service

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
	"github.com/codex-dominion/dominion/store"
)

// openEmbeddedBroker opens the embedded SQLite broker's file.
func openEmbeddedBroker(ctx context.Context, path string, log *slog.Logger) (queue.Broker, error) {
	return sqlitebroker.Open(ctx, path, sqlitebroker.Options{Logger: log})
}

// queueWriter returns, when client's broker is the embedded one (whose file the store
// shares), the store's writer (the broker's: one writer for the file) and the engine's
// EnqueueIn (a job stored in the transaction of the store's write); ok is false otherwise.
func queueWriter(client *queue.Client) (w store.Writer, enqueueIn func(store.DBTX) queue.EnqueueFunc, ok bool) {
	if client == nil {
		return nil, nil, false
	}
	b, isSQLite := client.Broker().(*sqlitebroker.Broker)
	if !isSQLite {
		return nil, nil, false
	}
	w = func(ctx context.Context, fn func(store.DBTX) error) error {
		return b.InTx(ctx, func(tx *sqlitebroker.Tx) error { return fn(tx) })
	}
	enqueueIn = func(tx store.DBTX) queue.EnqueueFunc {
		return func(_ context.Context, jobs []*queue.Job) ([]error, error) {
			t, isTx := tx.(*sqlitebroker.Tx)
			if !isTx {
				return nil, fmt.Errorf("enqueue in the store's transaction: %T is not the queue's", tx)
			}
			return t.Enqueue(jobs)
		}
	}
	return w, enqueueIn, true
}
