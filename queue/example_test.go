package queue_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/sqlitebroker"
)

// Enqueue a job, run it with a worker, and read its result: the whole life of a job on the
// embedded broker (the Redis broker works the same way).
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "dominion-example")
	defer os.RemoveAll(dir)
	broker, err := sqlitebroker.Open(ctx, filepath.Join(dir, "queue.db"), sqlitebroker.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer broker.Close()

	client := queue.NewClient(broker)
	job, err := client.Enqueue(ctx, "greet", map[string]string{"name": "Ada"}, queue.MaxRetries(2))
	if err != nil {
		fmt.Println(err)
		return
	}

	done := make(chan struct{})
	w := queue.NewWorker(broker, queue.WorkerConfig{Concurrency: 4, Logger: slog.New(slog.DiscardHandler)})
	w.HandleFunc("greet", func(ctx context.Context, j *queue.Job) (any, error) {
		defer close(done)
		var in struct{ Name string }
		if err := j.Decode(&in); err != nil {
			return nil, err // a payload that does not decode is not retried
		}
		return "hello, " + in.Name, nil
	})
	wctx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- w.Run(wctx) }()
	<-done
	stop() // graceful: the worker records the outcome before Run returns
	<-stopped

	got, _ := client.Get(ctx, job.ID)
	fmt.Println(got.State, got.Attempt, string(got.Result))
	// Output: completed 1 "hello, Ada"
}

// Errors marked with NoRetry send a job straight to the dead-letter state.
func ExampleNoRetry() {
	err := queue.NoRetry(fmt.Errorf("account %d is closed", 42))
	fmt.Println(queue.IsNoRetry(err), err)
	// Output: true account 42 is closed
}

// The default retry delay grows exponentially, with jitter in [d/2, d].
func ExampleDefaultBackoff() {
	for attempt := 1; attempt <= 4; attempt++ {
		d := queue.DefaultBackoff(attempt)
		full := time.Second << (attempt - 1)
		fmt.Println(attempt, d >= full/2 && d <= full)
	}
	// Output:
	// 1 true
	// 2 true
	// 3 true
	// 4 true
}
