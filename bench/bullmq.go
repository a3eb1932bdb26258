package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// bullmqSystem measures BullMQ (Node.js): each step is one run of bullmq/bench.mjs, which
// times itself and prints its figure, so that Node's start-up is not measured.
type bullmqSystem struct {
	addr, dir string
	rdb       *redis.Client
}

// newBullMQ finds node and bench.mjs's packages, installing them with npm (from
// bullmq/package-lock.json) when they are missing.
func newBullMQ(ctx context.Context, addr string) (*bullmqSystem, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, errors.New("node not found: install Node.js 20 or newer, or pass -systems dominion,asynq")
	}
	dir, err := filepath.Abs("bullmq")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "bench.mjs")); err != nil {
		return nil, fmt.Errorf("%s not found: run the bench from its directory (cd bench && go run .)", filepath.Join(dir, "bench.mjs"))
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bullmq")); err != nil {
		fmt.Fprintln(os.Stderr, "installing BullMQ with npm ci in", dir)
		cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %w", dir, err)
		}
	}
	return &bullmqSystem{addr: addr, dir: dir, rdb: redis.NewClient(&redis.Options{Addr: addr})}, nil
}

func (m *bullmqSystem) Name() string                    { return "bullmq" }
func (m *bullmqSystem) Close() error                    { return m.rdb.Close() }
func (m *bullmqSystem) Reset(ctx context.Context) error { return m.rdb.FlushDB(ctx).Err() }

func (m *bullmqSystem) EnqueueSeq(ctx context.Context, n int) (float64, error) {
	var r struct{ Value float64 }
	return r.Value, m.step(ctx, &r, "enqueue_seq", n)
}

// EnqueueBatch: Queue.addBulk in lists of 1,000, one after the other, as Dominion's
// EnqueueMany.
func (m *bullmqSystem) EnqueueBatch(ctx context.Context, n int) (float64, error) {
	var r struct{ Value float64 }
	return r.Value, m.step(ctx, &r, "enqueue_batch", n)
}

// EnqueueConcurrent: Queue.add with callers calls on their way at once, in one Node.js process.
func (m *bullmqSystem) EnqueueConcurrent(ctx context.Context, n, callers int) (float64, error) {
	var r struct{ Value float64 }
	return r.Value, m.step(ctx, &r, "enqueue_concurrent", n, callers)
}

// Process: bench.mjs fills the queue and times the worker in one Node.js process, so its
// CPU per job is not measured (the meter stays unread).
func (m *bullmqSystem) Process(ctx context.Context, n, concurrency int, _ *meter) (float64, error) {
	var r struct{ Value float64 }
	return r.Value, m.step(ctx, &r, "process", n, concurrency)
}

func (m *bullmqSystem) Latency(ctx context.Context, samples, backlog int) (time.Duration, time.Duration, error) {
	var r struct {
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
	}
	err := m.step(ctx, &r, "latency", samples, backlog)
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return ms(r.P50), ms(r.P99), err
}

// step runs one step of bench.mjs and decodes the JSON line it prints into out.
func (m *bullmqSystem) step(ctx context.Context, out any, name string, nums ...int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	args := []string{"bench.mjs", name, m.addr}
	for _, n := range nums {
		args = append(args, strconv.Itoa(n))
	}
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir, cmd.Stderr = m.dir, os.Stderr
	line, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("node bench.mjs %s: %w", name, err)
	}
	if err := json.Unmarshal(line, out); err != nil {
		return fmt.Errorf("node bench.mjs %s printed %q: %w", name, line, err)
	}
	return nil
}
