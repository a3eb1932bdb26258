package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// measureLatency enqueues samples jobs 2 ms apart with enqueue and collects the enqueue-to-start
// latencies the handlers send on lat; it returns the 50th and 99th percentiles.
func measureLatency(ctx context.Context, samples int, lat chan time.Duration, enqueue func() error) (time.Duration, time.Duration, error) {
	got := make([]time.Duration, 0, samples)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for range samples {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
		if err := enqueue(); err != nil {
			return 0, 0, err
		}
	}
	timeout := time.After(30 * time.Second)
	for len(got) < samples {
		select {
		case d := <-lat:
			got = append(got, d)
		case <-timeout:
			return 0, 0, fmt.Errorf("only %d of %d latency jobs ran", len(got), samples)
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	slices.Sort(got)
	return got[len(got)/2], got[len(got)*99/100], nil
}

// wait waits until done is closed, ctx is done or the timeout passes.
func wait(ctx context.Context, done <-chan struct{}, timeout time.Duration) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return errors.New("timed out after " + timeout.String())
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitRedis(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer within 10 s: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// concurrently calls fn n times in all from callers goroutines, and returns the first error.
func concurrently(n, callers int, fn func() error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
