package redisbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// queueCmds are the commands that read one queue's statistics.
type queueCmds struct {
	pending                                             *evalCall // pending.lua: {{priority, count, front ID}, …}
	active, scheduled, retry, dead, completed, canceled *redis.IntCmd
	waiting                                             *redis.IntCmd
	stats                                               *redis.SliceCmd
	paused                                              *redis.IntCmd
	limits                                              *redis.StringCmd
}

// Queues returns the statistics of every known queue, sorted by name, in two round trips.
func (b *Broker) Queues(ctx context.Context) ([]queue.QueueStats, error) {
	names, err := b.queueNames(ctx)
	if err != nil {
		return nil, b.wrap(err, "queue statistics")
	}
	cmds, err := b.readQueues(ctx, names)
	if err != nil {
		return nil, b.wrap(err, "queue statistics")
	}
	out := make([]queue.QueueStats, len(names))
	fronts := make([][]string, len(names))
	for i, q := range names {
		out[i], fronts[i] = cmds[i].read(q)
	}
	if err := b.oldestPending(ctx, names, fronts, out); err != nil {
		return nil, b.wrap(err, "queue statistics")
	}
	return out, nil
}

// readQueues sends, in one pipeline, the commands that read the statistics of queues.
func (b *Broker) readQueues(ctx context.Context, names []string) ([]queueCmds, error) {
	cmds := make([]queueCmds, len(names))
	calls := make([]*evalCall, len(names))
	for i, q := range names {
		calls[i] = &evalCall{script: b.s.pending, keys: []string{b.keys.base(q)}}
	}
	err := b.pipelined(ctx, calls, func(p redis.Pipeliner) {
		for i, q := range names {
			base := b.keys.base(q)
			cmds[i] = queueCmds{
				pending: calls[i], active: p.ZCard(ctx, base+"active"), scheduled: p.ZCard(ctx, base+"scheduled"),
				retry: p.ZCard(ctx, base+"retry"), dead: p.ZCard(ctx, base+"dead"),
				completed: p.ZCard(ctx, base+"completed"), canceled: p.ZCard(ctx, base+"canceled"),
				waiting: p.ZCard(ctx, base+"waiting"), stats: p.HMGet(ctx, base+"stats", "processed", "failed"),
				paused: p.Exists(ctx, base+"paused"), limits: p.HGet(ctx, base+"limits", "json"),
			}
		}
	})
	return cmds, err
}

// read returns the statistics of queue q as its commands read them, and the ID of the job at
// the front of each of its priorities.
func (c *queueCmds) read(q string) (queue.QueueStats, []string) {
	st := c.stats.Val()
	out := queue.QueueStats{
		Name: q, Active: c.active.Val(), Scheduled: c.scheduled.Val(), Retry: c.retry.Val(),
		Dead: c.dead.Val(), Completed: c.completed.Val(), Canceled: c.canceled.Val(), Waiting: c.waiting.Val(),
		Processed: counter(st, 0), Failed: counter(st, 1), Paused: c.paused.Val() == 1,
	}
	out.Limits, _ = decodeLimits(c.limits.Val()) // unreadable limits are shown as none
	var fronts []string
	levels, _ := c.pending.cmd.Val().([]any)
	for _, l := range levels {
		l, _ := l.([]any)
		if len(l) != 3 {
			continue
		}
		prio, _ := l[0].(int64)
		n, _ := l[1].(int64)
		id, _ := l[2].(string)
		out.Pending += n
		if out.PendingByPriority == nil {
			out.PendingByPriority = map[int]int64{}
		}
		out.PendingByPriority[int(prio)] = n
		fronts = append(fronts, id)
	}
	return out, fronts
}

// oldestPending sets the OldestPending of each queue's statistics: the earliest enqueue time
// among the jobs at the front of its priorities (fronts), read in one pipeline.
func (b *Broker) oldestPending(ctx context.Context, names []string, fronts [][]string, out []queue.QueueStats) error {
	heads := make([][]*redis.StringCmd, len(names))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range names {
			for _, id := range fronts[i] {
				heads[i] = append(heads[i], p.HGet(ctx, b.keys.job(q, id), "d"))
			}
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return err
	}
	for i, cs := range heads {
		for _, c := range cs {
			var p packedJob
			if json.Unmarshal([]byte(c.Val()), &p) != nil || p.EnqueuedAt == 0 {
				continue
			}
			if at := time.Unix(0, p.EnqueuedAt); out[i].OldestPending.IsZero() || at.Before(out[i].OldestPending) {
				out[i].OldestPending = at
			}
		}
	}
	return nil
}

func counter(vals []any, i int) int64 {
	if i >= len(vals) {
		return 0
	}
	s, _ := vals[i].(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// List returns jobs of a queue in a state, in the order they are kept (pending: next to run
// first, highest priority first; scheduled and retry: soonest first; active: soonest lease end first; completed,
// canceled and dead: oldest first). It reads only the jobs it returns.
func (b *Broker) List(ctx context.Context, q string, st queue.State, offset, limit int) ([]*queue.Job, error) {
	if err := checkQueue(q); err != nil {
		return nil, fmt.Errorf("redisbroker: list: %w", err)
	}
	if _, err := queue.ParseState(string(st)); err != nil {
		return nil, fmt.Errorf("redisbroker: list %s jobs of %s: %w", st, q, err)
	}
	if limit <= 0 || offset < 0 {
		return nil, nil
	}
	base := b.keys.base(q)
	start, stop := int64(offset), int64(offset+limit-1)
	var ids []string
	var err error
	if st == queue.StatePending {
		ids, err = b.run(ctx, b.s.listPending, []string{base}, offset, limit).StringSlice()
	} else {
		ids, err = b.rdb.ZRange(ctx, base+string(st), start, stop).Result()
	}
	if err != nil {
		return nil, b.wrap(err, "list %s jobs of %s", st, q)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, base+"job:"+id)
		}
		return nil
	})
	if err != nil {
		return nil, b.wrap(err, "list %s jobs of %s", st, q)
	}
	jobs := make([]*queue.Job, 0, len(ids))
	for _, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			continue // removed meanwhile
		}
		job, err := decodeJob(h)
		if err != nil {
			return nil, b.wrap(err, "list %s jobs of %s", st, q)
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}
