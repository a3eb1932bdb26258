package jobtest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/jobtest"
)

// signUp is the application code under test: it enqueues a welcome email.
func signUp(ctx context.Context, c *queue.Client, email string) error {
	_, err := c.Enqueue(ctx, "email.welcome", map[string]string{"to": email},
		queue.OnQueue("mail"), queue.MaxRetries(5))
	return err
}

// register is the application's handler registration, used by its real workers.
func register(w *queue.Worker) {
	w.HandleFunc("email.welcome", func(ctx context.Context, j *queue.Job) (any, error) {
		var in struct{ To string }
		if err := j.Decode(&in); err != nil {
			return nil, err
		}
		return "sent to " + in.To, nil
	})
}

// Assert what the code under test enqueued, without running it. In a test, the same check
// is one line: jobtest.RequireEnqueued(t, b, "email.welcome", payload, queue.OnQueue("mail")).
func ExampleBroker_Enqueued() {
	ctx := context.Background()
	b := jobtest.NewBroker()
	defer b.Close()

	if err := signUp(ctx, queue.NewClient(b), "ada@example.com"); err != nil {
		fmt.Println(err)
		return
	}
	jobs := b.Enqueued("email.welcome", map[string]string{"to": "ada@example.com"},
		queue.OnQueue("mail"), queue.MaxRetries(5))
	fmt.Println(len(jobs), jobs[0].State)
	fmt.Println(len(b.Enqueued("email.welcome", nil, queue.OnQueue("default"))))
	// Output:
	// 1 pending
	// 0
}

// Run the enqueued jobs through the application's real handlers: start a worker on the
// broker and wait until nothing is left to run. In a test, jobtest.StartWorker(t, w) and
// jobtest.Drain(t, b) do the starting, stopping and waiting.
func ExampleBroker_WaitIdle() {
	ctx := context.Background()
	b := jobtest.NewBroker()
	defer b.Close()
	client := queue.NewClient(b)

	w := queue.NewWorker(b, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "mail", Weight: 1}},
		Logger: slog.New(slog.DiscardHandler),
	})
	register(w)
	wctx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- w.Run(wctx) }()
	defer func() { stop(); <-stopped }()

	if err := signUp(ctx, client, "ada@example.com"); err != nil {
		fmt.Println(err)
		return
	}
	if err := b.WaitIdle(ctx); err != nil {
		fmt.Println(err)
		return
	}
	job := b.Enqueued("email.welcome", nil)[0]
	fmt.Println(job.State, job.Attempt, string(job.Result))
	// Output: completed 1 "sent to ada@example.com"
}

// A failing job waits for its retry; Advance runs the retry without waiting out the backoff,
// and likewise a job delayed with queue.RunIn.
func ExampleBroker_Advance() {
	ctx := context.Background()
	b := jobtest.NewBroker()
	defer b.Close()
	client := queue.NewClient(b)

	w := queue.NewWorker(b, queue.WorkerConfig{Logger: slog.New(slog.DiscardHandler)})
	w.HandleFunc("charge", func(ctx context.Context, j *queue.Job) (any, error) {
		if j.Attempt == 1 {
			return nil, errors.New("payment provider unavailable")
		}
		return "charged", nil
	})
	wctx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- w.Run(wctx) }()
	defer func() { stop(); <-stopped }()

	charge, _ := client.Enqueue(ctx, "charge", nil)
	reminder, _ := client.Enqueue(ctx, "charge", nil, queue.RunIn(24*time.Hour))
	_ = b.WaitIdle(ctx)
	c, _ := client.Get(ctx, charge.ID)
	r, _ := client.Get(ctx, reminder.ID)
	fmt.Println("charge:", c.State, c.Errors[0].Error, "| reminder:", r.State)

	b.Advance(25 * time.Hour)
	_ = b.WaitIdle(ctx)
	c, _ = client.Get(ctx, charge.ID)
	r, _ = client.Get(ctx, reminder.ID)
	fmt.Println("charge:", c.State, c.Attempt, "| reminder:", r.State, r.Attempt)
	// Output:
	// charge: retry payment provider unavailable | reminder: scheduled
	// charge: completed 2 | reminder: completed 2
}
