package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/redisbroker"
	"github.com/redis/go-redis/v9"
)

type dominion struct {
	broker *redisbroker.Broker
	client *queue.Client
	rdb    *redis.Client
}

func newDominion(ctx context.Context, addr string) (*dominion, error) {
	b, err := redisbroker.Open(ctx, "redis://"+addr+"/0", redisbroker.Options{Prefix: "bench"})
	if err != nil {
		return nil, err
	}
	return &dominion{broker: b, client: queue.NewClient(b), rdb: redis.NewClient(&redis.Options{Addr: addr})}, nil
}

func (d *dominion) Name() string { return "dominion" }

func (d *dominion) Close() error {
	_ = d.rdb.Close()
	return d.broker.Close()
}

func (d *dominion) Reset(ctx context.Context) error { return d.rdb.FlushDB(ctx).Err() }

func (d *dominion) EnqueueSeq(ctx context.Context, n int) (float64, error) {
	start := time.Now()
	for range n {
		if _, err := d.client.Enqueue(ctx, "noop", nil, queue.OnQueue("bench")); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// EnqueueConcurrent: Client.Enqueue from callers goroutines, one job per call; the broker
// gathers the calls that wait at the same time into one pipeline.
func (d *dominion) EnqueueConcurrent(ctx context.Context, n, callers int) (float64, error) {
	start := time.Now()
	err := concurrently(n, callers, func() error {
		_, err := d.client.Enqueue(ctx, "noop", nil, queue.OnQueue("bench"))
		return err
	})
	return float64(n) / time.Since(start).Seconds(), err
}

func (d *dominion) EnqueueBatch(ctx context.Context, n int) (float64, error) {
	start := time.Now()
	if err := d.fill(ctx, "bench", n); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func (d *dominion) fill(ctx context.Context, q string, n int) error {
	const chunk = 1000
	for done := 0; done < n; done += chunk {
		reqs := make([]queue.Request, min(chunk, n-done))
		for i := range reqs {
			reqs[i] = queue.Request{Type: "noop", Options: []queue.Option{queue.OnQueue(q)}}
		}
		if _, _, err := d.client.EnqueueMany(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

func (d *dominion) Process(ctx context.Context, n, concurrency int, m *meter) (float64, error) {
	if err := d.fill(ctx, "bench", n); err != nil {
		return 0, err
	}
	var count atomic.Int64
	done := make(chan struct{})
	w := d.worker(concurrency)
	w.HandleFunc("noop", func(context.Context, *queue.Job) (any, error) {
		if count.Add(1) == int64(n) {
			close(done)
		}
		return nil, nil
	})
	if err := m.Start(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	stop := startWorker(ctx, w)
	defer stop()
	if err := wait(ctx, done, time.Minute); err != nil {
		return 0, fmt.Errorf("processed %d of %d: %w", count.Load(), n, err)
	}
	elapsed := time.Since(start)
	if err := m.Stop(ctx); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

func (d *dominion) Latency(ctx context.Context, samples, backlog int) (time.Duration, time.Duration, error) {
	if err := d.fill(ctx, "backlog", backlog); err != nil {
		return 0, 0, err
	}
	lat := make(chan time.Duration, samples)
	w := d.worker(10)
	w.HandleFunc("ping", func(_ context.Context, j *queue.Job) (any, error) {
		var sent int64
		if err := j.Decode(&sent); err != nil {
			return nil, err
		}
		lat <- time.Since(time.Unix(0, sent))
		return nil, nil
	})
	stop := startWorker(ctx, w)
	defer stop()
	return measureLatency(ctx, samples, lat, func() error {
		_, err := d.client.Enqueue(ctx, "ping", time.Now().UnixNano(), queue.OnQueue("bench"))
		return err
	})
}

func (d *dominion) worker(concurrency int) *queue.Worker {
	return queue.NewWorker(d.broker, queue.WorkerConfig{
		Queues: []queue.QueueWeight{{Name: "bench", Weight: 1}}, Concurrency: concurrency,
		ShutdownTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
}

// run starts w and returns a function that stops it and waits for it.
func startWorker(ctx context.Context, w *queue.Worker) (stop func()) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	return func() { cancel(); <-done }
}
