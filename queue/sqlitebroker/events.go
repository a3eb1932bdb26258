package sqlitebroker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// SetProgress records an active attempt's progress; the trigger jobs_event_update records
// its event in the same transaction.
func (b *Broker) SetProgress(ctx context.Context, u queue.ProgressUpdate) error {
	raw, _ := json.Marshal(u.Progress) // a Progress always marshals
	err := b.write(ctx, func(tx *wtx) error {
		_, err := tx.exec("set-progress", u.JobID, u.WorkerID, u.Attempt, u.Queue, string(raw))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitebroker: progress of job %s in %s: %w", u.JobID, b.path, err)
	}
	return nil
}

// Subscribe records a subscription to queues (every queue when empty) in the file and creates
// the event triggers if they are not there, so that every process that writes to the file
// records their events, and returns a stream of the events that follow.
func (b *Broker) Subscribe(ctx context.Context, queues []string) (queue.EventStream, error) {
	s := &stream{b: b, id: rand.Text(), queues: slices.Clone(queues)}
	err := b.write(ctx, func(tx *wtx) error {
		if err := s.register(tx, time.Now()); err != nil {
			return err
		}
		_, err := tx.queryRow("last-event", nil, &s.last)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: subscribe to events in %s: %w", b.path, err)
	}
	return s, nil
}

// stream is one subscription: last is the seq of the last event it read.
type stream struct {
	b       *Broker
	id      string
	queues  []string
	last    int64
	renewed time.Time

	mu     sync.Mutex
	closed bool
}

// register writes (or renews) the subscription's rows, alive for queue.SubscriberTTL.
func (s *stream) register(tx *wtx, now time.Time) error {
	expires := now.Add(queue.SubscriberTTL).Unix()
	for _, q := range s.queuesOrAll() {
		if _, err := tx.exec("subscribe", s.id, q, expires); err != nil {
			return err
		}
	}
	for _, on := range []string{"events-on-insert", "events-on-update", "events-on-trim"} {
		if _, err := tx.exec(on); err != nil {
			return err
		}
	}
	s.renewed = now
	return nil
}

// switchOffIdle drops the event triggers when no subscription is alive (the last one ended,
// or its process died and its rows expired), so that transitions cost nothing more.
func switchOffIdle(tx *wtx, now time.Time) error {
	var idle bool
	if _, err := tx.queryRow("events-idle", []any{now.Unix()}, &idle); err != nil || !idle {
		return err
	}
	for _, off := range []string{"events-off-insert", "events-off-update", "events-off-trim"} {
		if _, err := tx.exec(off); err != nil {
			return err
		}
	}
	return nil
}

func (s *stream) queuesOrAll() []string {
	if len(s.queues) == 0 {
		return []string{""}
	}
	return s.queues
}

// Next returns the events recorded after the last it read. With none it waits for a commit
// of this process, or for a write of another process, which the writer sees within
// Options.PollInterval (PRAGMA data_version, as for a waiting Fetch).
func (s *stream) Next(ctx context.Context) ([]queue.Event, error) {
	for {
		if s.isClosed() {
			return nil, queue.ErrSubscriptionClosed
		}
		written := s.b.written.wait()
		if now := time.Now(); now.Sub(s.renewed) >= queue.SubscriberTTL/3 {
			if err := s.b.write(ctx, func(tx *wtx) error { return s.register(tx, now) }); err != nil {
				return nil, fmt.Errorf("sqlitebroker: renew subscription in %s: %w", s.b.path, err)
			}
		}
		evs, err := s.read(ctx)
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 {
			return evs, nil
		}
		if err := s.b.waitWritten(ctx, written, queue.SubscriberTTL/3); err != nil {
			return nil, err
		}
	}
}

// read returns the events after s.last of the stream's queues.
func (s *stream) read(ctx context.Context) ([]queue.Event, error) {
	rows, err := s.b.rstmt["read-events"].QueryContext(ctx, s.last)
	if err != nil {
		return nil, fmt.Errorf("sqlitebroker: read events from %s: %w", s.b.path, err)
	}
	defer rows.Close()
	var out []queue.Event
	for rows.Next() {
		var ev queue.Event
		var kind, state, progress string
		var at int64
		if err := rows.Scan(&s.last, &kind, &ev.JobID, &ev.Queue, &ev.Type, &state, &ev.Attempt,
			&ev.Error, &progress, &at); err != nil {
			return nil, fmt.Errorf("sqlitebroker: read events from %s: %w", s.b.path, err)
		}
		if len(s.queues) > 0 && !slices.Contains(s.queues, ev.Queue) {
			continue
		}
		ev.Kind, ev.State, ev.At = queue.EventKind(kind), queue.State(state), time.UnixMilli(at)
		if progress != "" {
			ev.Progress = new(queue.Progress)
			if err := json.Unmarshal([]byte(progress), ev.Progress); err != nil {
				ev.Progress = nil
			}
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitebroker: read events from %s: %w", s.b.path, err)
	}
	return out, nil
}

func (s *stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close deletes the subscription's rows (and any other subscription's that expired), and the
// event triggers when nobody else subscribes.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.b.opts.BusyTimeout)
	defer cancel()
	err := s.b.write(ctx, func(tx *wtx) error {
		now := time.Now()
		if _, err := tx.exec("unsubscribe", s.id, now.Unix()); err != nil {
			return err
		}
		return switchOffIdle(tx, now)
	})
	if err != nil && err != errClosed {
		return fmt.Errorf("sqlitebroker: end subscription in %s: %w", s.b.path, err)
	}
	return nil
}

// waitWritten blocks until written is closed (a commit of this process, or a write of another
// one seen by the writer loop), d has elapsed, ctx is done or the broker closes.
func (b *Broker) waitWritten(ctx context.Context, written <-chan struct{}, d time.Duration) error {
	return b.block(ctx, written, d, &b.eventWaiters)
}
