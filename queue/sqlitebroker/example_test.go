package sqlitebroker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// ExampleBroker_InTx stores a row of the program's own and the job that processes it in one
// transaction of the queue's file, as River's InsertTx does: both commit, or neither does.
// The client's middleware (here, a count of enqueued jobs) sees the job once the
// transaction has committed (queue.InTransaction).
func ExampleBroker_InTx() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "intx-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	b, err := sqlitebroker.Open(ctx, filepath.Join(dir, "queue.db"), sqlitebroker.Options{})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	counted := 0
	count := func(next queue.EnqueueFunc) queue.EnqueueFunc {
		return func(ctx context.Context, jobs []*queue.Job) ([]error, error) {
			errs, err := next(ctx, jobs)
			if err == nil {
				queue.AfterCommit(ctx, func() { counted += len(jobs) })
			}
			return errs, err
		}
	}
	client := queue.NewClient(b, queue.WithEnqueueMiddleware(count))

	// placeOrder inserts an order and enqueues its confirmation email in tx.
	placeOrder := func(tx *sqlitebroker.Tx, id string) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES (?)`, id); err != nil {
			return err
		}
		store := func(_ context.Context, jobs []*queue.Job) ([]error, error) { return tx.Enqueue(jobs) }
		_, err := client.EnqueueVia(queue.InTransaction(ctx, tx), store, "send_confirmation",
			map[string]string{"order": id}, queue.WithID("confirm-"+id))
		return err
	}
	err = b.InTx(ctx, func(tx *sqlitebroker.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY)`)
		return err
	})
	if err != nil {
		panic(err)
	}

	err = b.InTx(ctx, func(tx *sqlitebroker.Tx) error { return placeOrder(tx, "o-1") })
	fmt.Println("o-1:", err)
	err = b.InTx(ctx, func(tx *sqlitebroker.Tx) error {
		if err := placeOrder(tx, "o-2"); err != nil {
			return err
		}
		return errors.New("payment refused") // rolls back the order and its job
	})
	fmt.Println("o-2:", err)

	for _, id := range []string{"confirm-o-1", "confirm-o-2"} {
		_, err := b.Get(ctx, id)
		fmt.Printf("job %s stored: %t\n", id, err == nil)
	}
	fmt.Println("jobs counted:", counted)
	// Output:
	// o-1: <nil>
	// o-2: payment refused
	// job confirm-o-1 stored: true
	// job confirm-o-2 stored: false
	// jobs counted: 1
}
