package redisbroker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// RecordSample stores s as the sample of its slot unless the slot has one, and drops the
// samples older than keep, in one script on the history sorted set.
func (b *Broker) RecordSample(ctx context.Context, s queue.Sample, slot, keep time.Duration) (bool, error) {
	start := s.At.Truncate(slot)
	fields := []int64{s.Pending, s.Active, s.Scheduled, s.Retry, s.Dead, s.Processed, s.Failed}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = strconv.FormatInt(f, 10)
	}
	n, err := b.run(ctx, b.s.history, []string{b.keys.history()},
		start.UnixMilli(), strings.Join(parts, ","), s.At.Add(-keep).UnixMilli()).Int()
	if err != nil {
		return false, b.wrap(err, "record the queue history")
	}
	return n == 1, nil
}

// Samples returns the stored samples of slots starting at or after since, oldest first.
func (b *Broker) Samples(ctx context.Context, since time.Time) ([]queue.Sample, error) {
	members, err := b.rdb.ZRangeByScore(ctx, b.keys.history(), &redis.ZRangeBy{
		Min: strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, b.wrap(err, "read the queue history")
	}
	out := make([]queue.Sample, 0, len(members))
	for _, m := range members {
		s, err := parseSample(m)
		if err != nil {
			return nil, b.wrap(err, "read the queue history")
		}
		out = append(out, s)
	}
	return out, nil
}

// parseSample decodes a member of the history set: "<slot ms>:p,a,s,r,d,processed,failed".
func parseSample(m string) (queue.Sample, error) {
	at, rest, _ := strings.Cut(m, ":")
	parts := strings.Split(rest, ",")
	nums := make([]int64, 0, 8)
	for _, p := range append([]string{at}, parts...) {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return queue.Sample{}, fmt.Errorf("history sample %q: %w", m, err)
		}
		nums = append(nums, n)
	}
	if len(nums) != 8 {
		return queue.Sample{}, fmt.Errorf("history sample %q: want 8 numbers, got %d", m, len(nums))
	}
	return queue.Sample{At: time.UnixMilli(nums[0]).UTC(), Pending: nums[1], Active: nums[2], Scheduled: nums[3],
		Retry: nums[4], Dead: nums[5], Processed: nums[6], Failed: nums[7]}, nil
}
