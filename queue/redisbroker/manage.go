package redisbroker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// bulkLimit is the number of jobs one CancelAll, RetryAll or DeleteAll script call moves;
// the calls repeat until the state is empty, so that Redis is never blocked long.
const bulkLimit = 1000

// queueNames returns the names of the known queues, sorted.
func (b *Broker) queueNames(ctx context.Context) ([]string, error) {
	names, err := b.rdb.SMembers(ctx, b.keys.queues()).Result()
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// locate returns the queue of job id: the first known queue, by name, that has a job with this
// ID (IDs are unique per queue).
func (b *Broker) locate(ctx context.Context, id string) (string, error) {
	names, err := b.queueNames(ctx)
	if err != nil {
		return "", err
	}
	cmds := make([]*redis.IntCmd, len(names))
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range names {
			cmds[i] = p.Exists(ctx, b.keys.job(q, id))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for i, c := range cmds {
		if c.Val() == 1 {
			return names[i], nil
		}
	}
	return "", queue.ErrJobNotFound
}

// Get returns the job with that ID.
func (b *Broker) Get(ctx context.Context, id string) (*queue.Job, error) {
	names, err := b.queueNames(ctx)
	if err != nil {
		return nil, b.wrap(err, "get job %s", id)
	}
	cmds := make([]*redis.MapStringStringCmd, len(names))
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range names {
			cmds[i] = p.HGetAll(ctx, b.keys.job(q, id))
		}
		return nil
	})
	if err != nil {
		return nil, b.wrap(err, "get job %s", id)
	}
	for _, c := range cmds {
		if h := c.Val(); len(h) > 0 {
			job, err := decodeJob(h)
			if err != nil {
				return nil, b.wrap(err, "get job %s", id)
			}
			return job, nil
		}
	}
	return nil, b.wrap(queue.ErrJobNotFound, "get job %s", id)
}

// transition runs a script that changes one job given by ID and replies {code, state}.
func (b *Broker) transition(ctx context.Context, what string, s *redis.Script, id string) (queue.State, error) {
	q, err := b.locate(ctx, id)
	if err != nil {
		return "", b.wrap(err, "%s job %s", what, id)
	}
	reply, err := b.run(ctx, s, []string{b.keys.base(q)}, id, callToken()).Slice()
	if err != nil {
		return "", b.wrap(err, "%s job %s", what, id)
	}
	code, _ := reply[0].(int64)
	state, _ := reply[1].(string)
	switch code {
	case 0:
		return queue.State(state), nil
	case 1:
		return "", b.wrap(queue.ErrJobNotFound, "%s job %s", what, id)
	}
	return queue.State(state), b.wrap(fmt.Errorf("%w: job is %s", queue.ErrInvalidState, state), "%s job %s", what, id)
}

// Cancel cancels a pending, scheduled, retry or waiting job at once and flags an active one.
func (b *Broker) Cancel(ctx context.Context, id string) (queue.State, error) {
	return b.transition(ctx, "cancel", b.s.cancel, id)
}

// Retry moves a dead, canceled, retry or scheduled job back to the end of pending.
func (b *Broker) Retry(ctx context.Context, id string) error {
	_, err := b.transition(ctx, "retry", b.s.retry, id)
	return err
}

// Delete removes a job that is not active.
func (b *Broker) Delete(ctx context.Context, id string) error {
	_, err := b.transition(ctx, "delete", b.s.del, id)
	return err
}

// CancelAll cancels every job of the queue in state st (pending, scheduled, retry or waiting), as
// Cancel does, and returns how many. Each script call cancels at most bulkLimit jobs
// atomically; the calls repeat until the state is empty.
func (b *Broker) CancelAll(ctx context.Context, q string, st queue.State) (int, error) {
	switch st {
	case queue.StatePending, queue.StateScheduled, queue.StateRetry, queue.StateWaiting:
	default:
		return 0, fmt.Errorf("redisbroker: cancel %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	if err := checkQueue(q); err != nil {
		return 0, fmt.Errorf("redisbroker: cancel %s jobs: %w", st, err)
	}
	total := 0
	for {
		reply, err := b.run(ctx, b.s.cancelAll, []string{b.keys.base(q)}, string(st), bulkLimit).Int64Slice()
		if err != nil {
			return total, b.wrap(err, "cancel %s jobs of %s", st, q)
		}
		if len(reply) != 2 {
			return total, b.wrap(fmt.Errorf("cancelall script replied %v", reply), "cancel %s jobs of %s", st, q)
		}
		total += int(reply[1])
		if reply[0] < bulkLimit {
			return total, nil
		}
	}
}

// RetryAll moves every job of the queue in state st (dead, canceled, retry or scheduled)
// back to pending and returns how many.
func (b *Broker) RetryAll(ctx context.Context, q string, st queue.State) (int, error) {
	switch st {
	case queue.StateDead, queue.StateCanceled, queue.StateRetry, queue.StateScheduled:
	default:
		return 0, fmt.Errorf("redisbroker: retry %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	return b.bulk(ctx, "retry", b.s.retryAll, q, st)
}

// DeleteAll removes every job of the queue in state st (any state but active) and returns how
// many.
func (b *Broker) DeleteAll(ctx context.Context, q string, st queue.State) (int, error) {
	if _, err := queue.ParseState(string(st)); err != nil || st == queue.StateActive {
		return 0, fmt.Errorf("redisbroker: delete %s jobs of %s: %w", st, q, queue.ErrInvalidState)
	}
	return b.bulk(ctx, "delete", b.s.delAll, q, st)
}

// bulk runs a bulk script until it moves fewer than bulkLimit jobs.
func (b *Broker) bulk(ctx context.Context, what string, s *redis.Script, q string, st queue.State) (int, error) {
	if err := checkQueue(q); err != nil {
		return 0, fmt.Errorf("redisbroker: %s %s jobs: %w", what, st, err)
	}
	total := 0
	for {
		n, err := b.run(ctx, s, []string{b.keys.base(q)}, string(st), bulkLimit).Int()
		if err != nil {
			return total, b.wrap(err, "%s %s jobs of %s", what, st, q)
		}
		total += n
		if n < bulkLimit {
			return total, nil
		}
	}
}

// Pause stops workers from fetching the queue's jobs. ErrQueueNotFound for a queue that has
// never had a job: a misspelled name is refused rather than created.
func (b *Broker) Pause(ctx context.Context, q string) error {
	if err := b.checkKnown(ctx, "pause", q); err != nil {
		return err
	}
	if err := b.run(ctx, b.s.pause, []string{b.keys.base(q)}).Err(); err != nil {
		return b.wrap(err, "pause queue %s", q)
	}
	return nil
}

// Resume lets workers fetch the queue's jobs again. ErrQueueNotFound as for Pause.
func (b *Broker) Resume(ctx context.Context, q string) error {
	if err := b.checkKnown(ctx, "resume", q); err != nil {
		return err
	}
	if err := b.run(ctx, b.s.resume, []string{b.keys.base(q)}).Err(); err != nil {
		return b.wrap(err, "resume queue %s", q)
	}
	return nil
}

// checkKnown checks that q is a well-formed name of a queue there is (in the set of queues
// Queues lists), for action. The queue set lives in its own slot, so this is a separate
// step: a queue removed between it and the action is paused as an empty queue.
func (b *Broker) checkKnown(ctx context.Context, action, q string) error {
	if err := checkQueue(q); err != nil {
		return fmt.Errorf("redisbroker: %s: %w", action, err)
	}
	known, err := b.rdb.SIsMember(ctx, b.keys.queues(), q).Result()
	if err != nil {
		return b.wrap(err, "%s queue %s", action, q)
	}
	if !known {
		return fmt.Errorf("redisbroker: %s queue %s: %w", action, q, queue.ErrQueueNotFound)
	}
	return nil
}

// RemoveQueue deletes every key of the queue (found with SCAN on its key base) and forgets
// the queue. Workers' outcomes for its active jobs are then ignored. ErrQueueNotFound when the
// queue had no key.
func (b *Broker) RemoveQueue(ctx context.Context, q string) error {
	if err := checkQueue(q); err != nil {
		return fmt.Errorf("redisbroker: remove queue: %w", err)
	}
	b.registered.Delete(q)
	known, err := b.rdb.SRem(ctx, b.keys.queues(), q).Result()
	if err != nil {
		return b.wrap(err, "remove queue %s", q)
	}
	node := redis.Cmdable(b.rdb)
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		if node, err = cc.MasterForKey(ctx, b.keys.base(q)); err != nil {
			return b.wrap(err, "remove queue %s", q)
		}
	}
	deleted := 0
	iter := node.Scan(ctx, 0, globEscape(b.keys.base(q))+"*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := node.Unlink(ctx, batch...).Result()
		deleted += int(n)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return b.wrap(err, "remove queue %s", q)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return b.wrap(err, "remove queue %s", q)
	}
	if err := flush(); err != nil {
		return b.wrap(err, "remove queue %s", q)
	}
	if known == 0 && deleted == 0 {
		return b.wrap(queue.ErrQueueNotFound, "remove queue %s", q)
	}
	return nil
}

// globEscape escapes the characters SCAN MATCH patterns treat specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
