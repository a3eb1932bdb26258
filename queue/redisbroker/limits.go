package redisbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// SetLimits stores the queue's limits in its limits hash (see setlimits.lua), registering the
// queue; every worker's next fetch applies them.
func (b *Broker) SetLimits(ctx context.Context, q string, l queue.QueueLimits) error {
	if err := checkQueue(q); err != nil {
		return fmt.Errorf("redisbroker: set limits: %w", err)
	}
	args := []any{""}
	if !l.IsZero() {
		raw, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("redisbroker: set limits of queue %s: %w", q, err)
		}
		args[0] = string(raw)
		if !l.Queue.IsZero() {
			args = append(args, "q", rule(l.Queue))
		}
		for p, k := range l.Keys {
			args = append(args, "k:"+p, rule(k))
		}
		for t, k := range l.Types {
			args = append(args, "t:"+t, rule(k))
		}
	}
	if err := b.rdb.SAdd(ctx, b.keys.queues(), q).Err(); err != nil {
		return b.wrap(err, "set limits of queue %s", q)
	}
	if err := b.run(ctx, b.s.setLimits, []string{b.keys.base(q)}, args...).Err(); err != nil {
		return b.wrap(err, "set limits of queue %s", q)
	}
	return nil
}

// rule is a limit as fetch.lua reads it: "rate per-ms burst concurrency".
func rule(l queue.Limit) string {
	per := float64(l.Rate.Per.Microseconds()) / 1000
	return strconv.Itoa(l.Rate.N) + " " + strconv.FormatFloat(per, 'f', -1, 64) + " " +
		strconv.Itoa(l.Burst) + " " + strconv.Itoa(l.Concurrency)
}

// Limits returns the queue's limits (zero when none).
func (b *Broker) Limits(ctx context.Context, q string) (queue.QueueLimits, error) {
	raw, err := b.rdb.HGet(ctx, b.keys.base(q)+"limits", "json").Result()
	if err != nil && err != redis.Nil {
		return queue.QueueLimits{}, b.wrap(err, "limits of queue %s", q)
	}
	l, err := decodeLimits(raw)
	if err != nil {
		return queue.QueueLimits{}, fmt.Errorf("redisbroker: limits of queue %s: %w", q, err)
	}
	if l == nil {
		return queue.QueueLimits{}, nil
	}
	return *l, nil
}

// decodeLimits reads the JSON of stored limits: nil for "".
func decodeLimits(raw string) (*queue.QueueLimits, error) {
	if raw == "" {
		return nil, nil
	}
	var l queue.QueueLimits
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return nil, fmt.Errorf("stored limits: %w", err)
	}
	return &l, nil
}
