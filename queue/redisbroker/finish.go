package redisbroker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// finishChunk is the number of outcomes recorded by one script call.
const finishChunk = 500

// Finish records outcomes: one script call per queue (and chunk), all in one round trip.
func (b *Broker) Finish(ctx context.Context, outcomes []queue.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	now := time.Now()
	order, byQueue := groupByQueue(len(outcomes), func(i int) string { return outcomes[i].Queue })
	var calls []*evalCall
	for _, q := range order {
		if err := checkQueue(q); err != nil {
			return fmt.Errorf("redisbroker: finish %d jobs: %w", len(outcomes), err)
		}
		for idx := range slices.Chunk(byQueue[q], finishChunk) {
			args := make([]any, 0, 1+8*len(idx))
			args = append(args, b.maxDead)
			var worker argString
			for _, i := range idx {
				var err error
				if args, err = appendOutcomeArgs(args, &outcomes[i], now, &worker); err != nil {
					return fmt.Errorf("redisbroker: finish job %s: %w", outcomes[i].JobID, err)
				}
			}
			calls = append(calls, &evalCall{script: b.s.finish, keys: []string{b.keys.base(q)}, args: args})
		}
	}
	if err := b.acknowledged(ctx, calls, nil); err != nil {
		return b.wrap(err, "finish %d jobs of queues %v", len(outcomes), order)
	}
	return nil
}

// argString is a string script argument made once for many outcomes: the worker ID, the same
// in most outcomes of a call (a string put in an interface is allocated each time).
type argString struct {
	s   string
	arg any
}

func (a *argString) of(s string) any {
	if a.arg == nil || a.s != s {
		a.s, a.arg = s, s
	}
	return a.arg
}

// appendOutcomeArgs appends the 8 script arguments of outcome o (see finish.lua). Numbers are
// appended as integers and empty values as "", which go-redis writes without allocating.
func appendOutcomeArgs(args []any, o *queue.Outcome, now time.Time, worker *argString) ([]any, error) {
	var kind string
	switch o.State {
	case queue.StateCompleted:
		kind = "c"
	case queue.StateRetry:
		kind = "r"
		if o.Snooze {
			kind = "s"
		}
	case queue.StateDead:
		kind = "d"
	default:
		return nil, fmt.Errorf("outcome state %q, want completed, retry or dead", o.State)
	}
	var ago int64
	if !o.FinishedAt.IsZero() {
		ago = max(now.Sub(o.FinishedAt).Milliseconds(), 0)
	}
	var retryAt int64 // read for retries only
	if kind == "r" || kind == "s" {
		retryAt = now.UnixMilli()
		if !o.RetryAt.IsZero() {
			retryAt = o.RetryAt.UnixMilli()
		}
	}
	var errArg any = ""
	if kind != "c" && kind != "s" {
		ae := o.Error
		if ae == nil {
			ae = &queue.AttemptError{Error: "failed (no error given)"}
		}
		e := *ae
		if e.Attempt == 0 {
			e.Attempt = o.Attempt
		}
		if e.At.IsZero() {
			e.At = now.Add(-time.Duration(ago) * time.Millisecond)
		}
		errArg = encodeError(&e)
	}
	var result any = ""
	if len(o.Result) > 0 {
		if !json.Valid(o.Result) {
			return nil, fmt.Errorf("result is not valid JSON")
		}
		result = []byte(o.Result)
	}
	return append(args, o.JobID, worker.of(o.WorkerID), o.Attempt, kind, retryAt, ago, result, errArg), nil
}

// Requeue puts the active jobs of a worker that is shutting down back at the front of their
// queues, with the attempt they had started given back.
func (b *Broker) Requeue(ctx context.Context, workerID string, jobs []*queue.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	order, byQueue := groupByQueue(len(jobs), func(i int) string { return jobs[i].Queue })
	calls := make([]*evalCall, 0, len(order))
	for _, q := range order {
		if err := checkQueue(q); err != nil {
			return fmt.Errorf("redisbroker: requeue: %w", err)
		}
		args := []any{workerID}
		for _, i := range byQueue[q] {
			args = append(args, jobs[i].ID, strconv.Itoa(jobs[i].Attempt))
		}
		calls = append(calls, &evalCall{script: b.s.requeue, keys: []string{b.keys.base(q)}, args: args})
	}
	if err := b.pipelined(ctx, calls, nil); err != nil {
		return b.wrap(err, "requeue %d jobs of worker %s", len(jobs), workerID)
	}
	return nil
}

// Heartbeat extends the leases of the worker's jobs (one script call per queue it serves) and
// stores its record, in one round trip. The record expires after workerTTL(lease); it is not
// stored when the worker was removed after it started (RemoveWorker's tombstone).
func (b *Broker) Heartbeat(ctx context.Context, w queue.WorkerInfo, lease time.Duration) (cancel []string, err error) {
	b.heartbeats.sent(w.ID)
	defer func() { b.heartbeats.ended(w.ID, err) }()
	if lease <= 0 {
		lease = defaultLease
	}
	now := time.Now()
	w.Heartbeat = now
	info, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("redisbroker: heartbeat of worker %s: %w", w.ID, err)
	}
	queues := w.Queues
	if len(queues) == 0 && len(w.Jobs) > 0 {
		if queues, err = b.queueNames(ctx); err != nil {
			return nil, b.wrap(err, "heartbeat of worker %s", w.ID)
		}
	}
	started := w.StartedAt
	if started.IsZero() { // a caller of the broker's own that does not say: never refused
		started = now
	}
	record := &evalCall{script: b.s.worker, keys: []string{b.keys.worker(w.ID)},
		args: []any{info, workerTTL(lease).Milliseconds(), started.UnixMilli()}}
	calls := []*evalCall{record}
	if len(w.Jobs) > 0 {
		for _, q := range queues {
			if checkQueue(q) != nil {
				continue
			}
			args := make([]any, 0, 2+len(w.Jobs))
			args = append(args, w.ID, lease.Milliseconds())
			for _, id := range w.Jobs {
				args = append(args, id)
			}
			calls = append(calls, &evalCall{script: b.s.heartbeat, keys: []string{b.keys.base(q)}, args: args})
		}
	}
	err = b.pipelined(ctx, calls, func(p redis.Pipeliner) {
		p.ZAdd(ctx, b.keys.workers(), redis.Z{Score: float64(now.UnixMilli()), Member: w.ID})
	})
	if err != nil {
		return nil, b.wrap(err, "heartbeat of worker %s", w.ID)
	}
	for _, c := range calls[1:] {
		ids, err := c.cmd.StringSlice()
		if err != nil {
			return nil, b.wrap(err, "heartbeat of worker %s", w.ID)
		}
		cancel = append(cancel, ids...)
	}
	return cancel, nil
}

// workerTTL is how long a worker's record outlives its last heartbeat.
func workerTTL(lease time.Duration) time.Duration { return max(3*lease, 5*time.Second) }

// RemoveWorker deletes the worker's record. When a heartbeat this broker sent for it may
// still reach Redis (in flight, or failed without an answer), a tombstone takes the record's
// place for tombstoneTTL, so that the heartbeat, arriving late, does not list the worker again
// (lua/worker.lua).
func (b *Broker) RemoveWorker(ctx context.Context, workerID string) error {
	unsettled := b.heartbeats.forget(workerID)
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, b.keys.workers(), workerID)
		if unsettled {
			p.Set(ctx, b.keys.worker(workerID), tombstonePrefix+strconv.FormatInt(time.Now().UnixMilli(), 10), tombstoneTTL)
		} else {
			p.Del(ctx, b.keys.worker(workerID))
		}
		return nil
	})
	if err != nil {
		return b.wrap(err, "remove worker %s", workerID)
	}
	return nil
}

// A removed worker's record is "gone:<Unix ms of the removal>" for tombstoneTTL: longer than
// any heartbeat is held up in a Redis that hangs and comes back.
const (
	tombstonePrefix = "gone:"
	tombstoneTTL    = 10 * time.Minute
)

// Workers returns the workers whose record has not expired, sorted by ID, and forgets the
// others.
func (b *Broker) Workers(ctx context.Context) ([]queue.WorkerInfo, error) {
	ids, err := b.rdb.ZRange(ctx, b.keys.workers(), 0, -1).Result()
	if err != nil {
		return nil, b.wrap(err, "list workers")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	workerKeys := make([]string, len(ids))
	for i, id := range ids {
		workerKeys[i] = b.keys.worker(id)
	}
	// GETs, not an MGET: on a cluster the records live in different slots.
	gets := make([]*redis.StringCmd, len(workerKeys))
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range workerKeys {
			gets[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, b.wrap(err, "list workers")
	}
	infos := make([]any, len(gets))
	for i, g := range gets {
		if v, err := g.Result(); err == nil {
			infos[i] = v
		}
	}
	var out []queue.WorkerInfo
	var gone []any
	for i, v := range infos {
		s, ok := v.(string)
		if !ok || strings.HasPrefix(s, tombstonePrefix) {
			gone = append(gone, ids[i])
			continue
		}
		var w queue.WorkerInfo
		if err := json.Unmarshal([]byte(s), &w); err != nil {
			b.log.Warn("redisbroker: unreadable worker record", "worker", ids[i], "err", err)
			continue
		}
		out = append(out, w)
	}
	if len(gone) > 0 {
		if err := b.rdb.ZRem(ctx, b.keys.workers(), gone...).Err(); err != nil {
			b.log.Warn("redisbroker: forget expired workers", "err", err)
		}
	}
	slices.SortFunc(out, func(a, b queue.WorkerInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}
