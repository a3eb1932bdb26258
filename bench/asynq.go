package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

type asynqSystem struct {
	opt    asynq.RedisClientOpt
	client *asynq.Client
	rdb    *redis.Client
}

func newAsynq(addr string) *asynqSystem {
	opt := asynq.RedisClientOpt{Addr: addr}
	return &asynqSystem{opt: opt, client: asynq.NewClient(opt), rdb: redis.NewClient(&redis.Options{Addr: addr})}
}

func (a *asynqSystem) Name() string { return "asynq" }

func (a *asynqSystem) Close() error {
	_ = a.rdb.Close()
	return a.client.Close()
}

func (a *asynqSystem) Reset(ctx context.Context) error { return a.rdb.FlushDB(ctx).Err() }

func (a *asynqSystem) EnqueueSeq(ctx context.Context, n int) (float64, error) {
	start := time.Now()
	for range n {
		if _, err := a.client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.Queue("bench")); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// EnqueueBatch: Asynq has no batch enqueue; the fastest a user can do is many goroutines.
func (a *asynqSystem) EnqueueBatch(ctx context.Context, n int) (float64, error) {
	start := time.Now()
	if err := a.fill(ctx, "bench", n); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// EnqueueConcurrent: Client.EnqueueContext from callers goroutines (what its EnqueueBatch
// does with 50).
func (a *asynqSystem) EnqueueConcurrent(ctx context.Context, n, callers int) (float64, error) {
	start := time.Now()
	err := concurrently(n, callers, func() error {
		_, err := a.client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.Queue("bench"))
		return err
	})
	return float64(n) / time.Since(start).Seconds(), err
}

func (a *asynqSystem) fill(ctx context.Context, q string, n int) error {
	return concurrently(n, 50, func() error {
		_, err := a.client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.Queue(q))
		return err
	})
}

func (a *asynqSystem) Process(ctx context.Context, n, concurrency int, m *meter) (float64, error) {
	if err := a.fill(ctx, "bench", n); err != nil {
		return 0, err
	}
	var count atomic.Int64
	done := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
		if count.Add(1) == int64(n) {
			close(done)
		}
		return nil
	})
	srv := a.server(concurrency)
	if err := m.Start(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	if err := wait(ctx, done, 2*time.Minute); err != nil {
		return 0, fmt.Errorf("processed %d of %d: %w", count.Load(), n, err)
	}
	elapsed := time.Since(start)
	if err := m.Stop(ctx); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

func (a *asynqSystem) Latency(ctx context.Context, samples, backlog int) (time.Duration, time.Duration, error) {
	if err := a.fill(ctx, "backlog", backlog); err != nil {
		return 0, 0, err
	}
	lat := make(chan time.Duration, samples)
	mux := asynq.NewServeMux()
	mux.HandleFunc("ping", func(_ context.Context, t *asynq.Task) error {
		sent := int64(binary.BigEndian.Uint64(t.Payload()))
		lat <- time.Since(time.Unix(0, sent))
		return nil
	})
	srv := a.server(10)
	if err := srv.Start(mux); err != nil {
		return 0, 0, err
	}
	defer srv.Shutdown()
	return measureLatency(ctx, samples, lat, func() error {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
		_, err := a.client.EnqueueContext(ctx, asynq.NewTask("ping", b[:]), asynq.Queue("bench"))
		return err
	})
}

func (a *asynqSystem) server(concurrency int) *asynq.Server {
	return asynq.NewServer(a.opt, asynq.Config{
		Concurrency: concurrency, Queues: map[string]int{"bench": 1}, LogLevel: asynq.FatalLevel,
	})
}
