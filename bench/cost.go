package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// meter measures what one timed window of a phase costs in CPU: redis-server's (INFO cpu,
// read before and after) and this process's (its Go systems' clients and workers). CPU time
// moves much less with a shared machine's load than a rate does, so the ratio of two systems'
// CPU per job survives reruns where the ratio of their rates does not. A system calls Start
// when its timed window begins and Stop when it ends; one that cannot (BullMQ, whose Node.js
// process times itself) leaves the meter unread.
type meter struct {
	rdb               *redis.Client
	redis0, redisUsed float64       // seconds
	self0, selfUsed   time.Duration // this process
	ok, running       bool
}

func newMeter(addr string) *meter { return &meter{rdb: redis.NewClient(&redis.Options{Addr: addr})} }

func (m *meter) Close() error { return m.rdb.Close() }

// reset forgets the last window.
func (m *meter) reset() { m.ok, m.running = false, false }

// Start begins a window.
func (m *meter) Start(ctx context.Context) error {
	r, err := redisCPU(ctx, m.rdb)
	if err != nil {
		return err
	}
	m.redis0, m.self0, m.running = r, processCPU(), true
	return nil
}

// Stop ends the window begun by Start.
func (m *meter) Stop(ctx context.Context) error {
	if !m.running {
		return fmt.Errorf("meter stopped without a start")
	}
	self := processCPU()
	r, err := redisCPU(ctx, m.rdb)
	if err != nil {
		return err
	}
	m.redisUsed, m.selfUsed, m.running, m.ok = r-m.redis0, self-m.self0, false, true
	return nil
}

// perJob returns redis-server's and this process's CPU per job of the last window, in µs;
// ok is false when no window was measured (or this OS does not report the process's CPU).
func (m *meter) perJob(n int) (redisUS, clientUS float64, ok bool) {
	if !m.ok || n <= 0 || m.self0 < 0 {
		return 0, 0, false
	}
	return m.redisUsed * 1e6 / float64(n), float64(m.selfUsed.Microseconds()) / float64(n), true
}

// redisCPU is redis-server's CPU time so far (used_cpu_sys + used_cpu_user), in seconds.
func redisCPU(ctx context.Context, rdb *redis.Client) (float64, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO cpu: %w", err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu: %s: %w", line, err)
			}
			total += f
		}
	}
	return total, nil
}
