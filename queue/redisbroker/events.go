package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codex-dominion/dominion/queue"
)

// storedProgress is the JSON of field pg and of an event's p field.
type storedProgress struct {
	Percent int    `json:"p"`
	Message string `json:"m,omitempty"`
	At      int64  `json:"t"` // Unix ms
}

// decodeProgress reads field pg; nil when it is absent or broken.
func decodeProgress(raw string) *queue.Progress {
	var sp storedProgress
	if raw == "" || json.Unmarshal([]byte(raw), &sp) != nil {
		return nil
	}
	return &queue.Progress{Percent: sp.Percent, Message: sp.Message, At: time.UnixMilli(sp.At)}
}

// SetProgress records an active attempt's progress in one script call (progress.lua), with
// its event.
func (b *Broker) SetProgress(ctx context.Context, u queue.ProgressUpdate) error {
	if err := checkQueue(u.Queue); err != nil {
		return fmt.Errorf("redisbroker: progress of job %s: %w", u.JobID, err)
	}
	raw, _ := json.Marshal(storedProgress{Percent: u.Progress.Percent, Message: u.Progress.Message, At: u.Progress.At.UnixMilli()})
	err := b.run(ctx, b.s.progress, []string{b.keys.base(u.Queue)}, u.JobID, u.WorkerID, u.Attempt, raw).Err()
	if err != nil {
		return b.wrap(err, "progress of job %s", u.JobID)
	}
	return nil
}

// Subscribe switches on the events of queues (all known queues when empty, and those that
// appear later, looked for once a second) by adding the stream to their p:{q}:subscribers
// sets for queue.SubscriberTTL, renewed while the stream is read, and returns a stream that
// reads their p:{q}:events streams (XREAD) from now on.
func (b *Broker) Subscribe(ctx context.Context, queues []string) (queue.EventStream, error) {
	for _, q := range queues {
		if err := checkQueue(q); err != nil {
			return nil, fmt.Errorf("redisbroker: subscribe: %w", err)
		}
	}
	t, err := b.rdb.Time(ctx).Result()
	if err != nil {
		return nil, b.wrap(err, "subscribe to events")
	}
	// Entries added from now on have IDs of this millisecond or later.
	s := &stream{b: b, id: rand.Text(), all: len(queues) == 0, from: fmt.Sprintf("%d-%d", t.UnixMilli()-1, uint64(math.MaxUint64)),
		last: map[string]string{}}
	for _, q := range queues {
		s.last[q] = s.from
	}
	if err := s.renew(ctx, time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// stream reads the event streams of its queues; last holds, per queue, the ID of the last
// entry read.
type stream struct {
	b        *Broker
	id       string // its member in the subscribers sets
	all      bool
	from     string
	last     map[string]string
	renewed  time.Time // when the subscribers sets were last renewed
	searched time.Time // when the set of queues was last read (all)
	closed   bool
	rd       *readers // on a cluster, once Next is called
}

// renew looks for new queues (all) once a second, and adds the stream to the subscribers sets
// of new queues at once and of every queue every SubscriberTTL/3. A member's score is when it
// expires (Unix ms), and the set itself expires SubscriberTTL after its last renewal.
func (s *stream) renew(ctx context.Context, now time.Time) error {
	var fresh []string
	if s.all && now.Sub(s.searched) >= time.Second {
		names, err := s.b.queueNames(ctx)
		if err != nil {
			return s.b.wrap(err, "subscribe to events: list queues")
		}
		s.searched = now
		for _, q := range names {
			if _, ok := s.last[q]; !ok {
				s.last[q] = s.from
				fresh = append(fresh, q)
			}
		}
	}
	all := now.Sub(s.renewed) >= queue.SubscriberTTL/3
	if !all && len(fresh) == 0 {
		return nil
	}
	if all {
		s.renewed, fresh = now, fresh[:0]
		for q := range s.last {
			fresh = append(fresh, q)
		}
	}
	expires := float64(now.Add(queue.SubscriberTTL).UnixMilli())
	_, err := s.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, q := range fresh {
			k := s.b.keys.base(q) + "subscribers"
			p.ZAdd(ctx, k, redis.Z{Score: expires, Member: s.id})
			p.PExpire(ctx, k, queue.SubscriberTTL)
		}
		return nil
	})
	if err != nil {
		return s.b.wrap(err, "subscribe to events")
	}
	return nil
}

// eventBlock bounds one blocking XREAD, so that the stream renews its keys and finds new
// queues while nothing happens.
const eventBlock = time.Second

// Next reads the next entries of the queues' streams, blocking up to a second per XREAD.
func (s *stream) Next(ctx context.Context) ([]queue.Event, error) {
	for {
		if s.closed {
			return nil, queue.ErrSubscriptionClosed
		}
		if err := s.renew(ctx, time.Now()); err != nil {
			return nil, err
		}
		if len(s.last) == 0 { // no queue yet: look again in a second
			if err := sleep(ctx, eventBlock); err != nil {
				return nil, err
			}
			continue
		}
		if s.b.cluster {
			if evs, err := s.clusterNext(ctx); err != nil || len(evs) > 0 {
				return evs, err
			}
			continue
		}
		args := make([]string, 0, 2*len(s.last))
		names := make([]string, 0, len(s.last))
		for q := range s.last {
			names = append(names, q)
			args = append(args, s.b.keys.base(q)+"events")
		}
		for _, q := range names {
			args = append(args, s.last[q])
		}
		res, err := s.b.rdb.XRead(ctx, &redis.XReadArgs{Streams: args, Count: 1000, Block: eventBlock}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, s.b.wrap(err, "read events")
		}
		if evs := s.decode(res); len(evs) > 0 {
			return evs, nil
		}
	}
}

// decode turns XREAD's answer into events and moves each queue's last ID on.
func (s *stream) decode(res []redis.XStream) []queue.Event {
	var out []queue.Event
	for _, xs := range res {
		q := strings.TrimSuffix(strings.TrimPrefix(xs.Stream, s.b.keys.prefix+":{"), "}:events")
		for _, m := range xs.Messages {
			s.last[q] = m.ID
			out = append(out, decodeEvent(q, m))
		}
	}
	return out
}

// decodeEvent builds an event from a stream entry (fields: see emit in lib.lua).
func decodeEvent(q string, m redis.XMessage) queue.Event {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	ms, _ := strconv.ParseInt(strings.SplitN(m.ID, "-", 2)[0], 10, 64)
	ev := queue.Event{Kind: queue.EventKind(str("k")), JobID: str("i"), Queue: q, Type: str("y"),
		State: queue.State(str("s")), At: time.UnixMilli(ms)}
	ev.Attempt, _ = strconv.Atoi(str("a"))
	if ev.Kind == queue.EventFailed || ev.Kind == queue.EventDead {
		var se storedError
		if json.Unmarshal([]byte(str("e")), &se) == nil {
			ev.Error = se.Error
		}
	}
	ev.Progress = decodeProgress(str("p"))
	return ev
}

// Close ends the stream and takes it out of its queues' subscribers sets, with the members
// of subscribers that died without leaving (expired): a queue that nobody else subscribes to
// stops recording events at once (its set, empty, is gone).
func (s *stream) Close() error {
	s.closed = true
	if s.rd != nil {
		s.rd.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	_, err := s.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for q := range s.last {
			k := s.b.keys.base(q) + "subscribers"
			p.ZRem(ctx, k, s.id)
			p.ZRemRangeByScore(ctx, k, "-inf", "("+now)
		}
		return nil
	})
	if err != nil {
		return s.b.wrap(err, "end the event subscription")
	}
	return nil
}

// closeTimeout bounds Close's call to Redis; when it fails, the sets expire by themselves
// within queue.SubscriberTTL.
const closeTimeout = 2 * time.Second

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
