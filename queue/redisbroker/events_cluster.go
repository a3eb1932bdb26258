package redisbroker

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// On a cluster each queue's event stream lives in the queue's own hash slot, and one XREAD
// cannot read streams of several slots: a reader per queue blocks on its stream and hands
// what it reads to Next, in order per queue.

// readers are a cluster stream's per-queue readers.
type readers struct {
	ctx     context.Context // canceled by Close: the readers stop
	cancel  context.CancelFunc
	out     chan readResult
	running map[string]bool
}

type readResult struct {
	queue string
	msgs  []redis.XMessage
	err   error
}

// clusterNext starts a reader for each queue that has none, and returns what one of them
// read next, or nothing after eventBlock (Next then renews and calls again).
func (s *stream) clusterNext(ctx context.Context) ([]queue.Event, error) {
	if s.rd == nil {
		rctx, cancel := context.WithCancel(context.Background())
		s.rd = &readers{ctx: rctx, cancel: cancel, out: make(chan readResult), running: map[string]bool{}}
	}
	for q, from := range s.last {
		if !s.rd.running[q] {
			s.rd.running[q] = true
			go s.read(q, from)
		}
	}
	t := time.NewTimer(eventBlock)
	defer t.Stop()
	select {
	case r := <-s.rd.out:
		if r.err != nil {
			return nil, s.b.wrap(r.err, "read the events of queue %s", r.queue)
		}
		evs := make([]queue.Event, len(r.msgs))
		for i, m := range r.msgs {
			evs[i] = decodeEvent(r.queue, m)
		}
		return evs, nil
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read reads queue q's stream from the entry after from until the stream is closed; after an
// error it waits eventBlock and reads on from where it was.
func (s *stream) read(q, from string) {
	key := s.b.keys.base(q) + "events"
	for {
		res, err := s.b.rdb.XRead(s.rd.ctx, &redis.XReadArgs{Streams: []string{key, from}, Count: 1000, Block: eventBlock}).Result()
		if s.rd.ctx.Err() != nil {
			return
		}
		if errors.Is(err, redis.Nil) {
			continue
		}
		var msgs []redis.XMessage
		if err == nil && len(res) > 0 {
			msgs = res[0].Messages
			if len(msgs) == 0 {
				continue
			}
			from = msgs[len(msgs)-1].ID
		}
		select {
		case s.rd.out <- readResult{queue: q, msgs: msgs, err: err}:
		case <-s.rd.ctx.Done():
			return
		}
		if err != nil && sleep(s.rd.ctx, eventBlock) != nil {
			return
		}
	}
}
