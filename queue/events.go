package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// EventKind names what happened to a job.
type EventKind string

// The kinds of Event. Each is emitted by the broker in the same atomic step as the transition
// it reports, so an event never reports a transition that did not happen, and the events of
// one job come in the order of its transitions.
const (
	// EventEnqueued: the job was stored (state pending or scheduled).
	EventEnqueued EventKind = "enqueued"
	// EventStarted: a worker leased the job (state active; Attempt is the attempt it runs).
	EventStarted EventKind = "started"
	// EventProgress: the running attempt reported progress (Event.Progress).
	EventProgress EventKind = "progress"
	// EventFailed: an attempt ended without success and the job will run again: state retry
	// (its handler failed, Error says why, or it was snoozed by an Unavailable error, with no
	// Error), or pending (its worker's lease ran out).
	EventFailed EventKind = "failed"
	// EventRetried: the job went back to pending to run now: Retry or RetryAll, or a worker
	// shutting down gave it back (Requeue).
	EventRetried EventKind = "retried"
	// EventCompleted, EventDead and EventCanceled: the job reached that final state (Error
	// is the last attempt's error for dead).
	EventCompleted EventKind = "completed"
	EventDead      EventKind = "dead"
	EventCanceled  EventKind = "canceled"
)

// EventKinds lists every kind, in the order of a job's life.
var EventKinds = []EventKind{EventEnqueued, EventStarted, EventProgress, EventFailed, EventRetried,
	EventCompleted, EventDead, EventCanceled}

// ParseEventKind returns the kind named s, or an error listing the valid names.
func ParseEventKind(s string) (EventKind, error) {
	if k := EventKind(s); slices.Contains(EventKinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("unknown event kind %q (valid: enqueued, started, progress, failed, retried, completed, dead, canceled)", s)
}

// Event is one transition of one job, as Client.Subscribe delivers it.
type Event struct {
	Kind  EventKind `json:"kind"`
	JobID string    `json:"job_id"`
	Queue string    `json:"queue"`
	Type  string    `json:"type"`
	// State is the job's state right after the transition.
	State   State `json:"state"`
	Attempt int   `json:"attempt"`
	// Error is the failed attempt's error (failed, dead), when one was recorded.
	Error string `json:"error,omitempty"`
	// Progress is set for EventProgress.
	Progress *Progress `json:"progress,omitempty"`
	// At is when the broker recorded the transition (the broker's clock).
	At time.Time `json:"at"`
}

// EventFilter selects events. An empty field selects everything.
type EventFilter struct {
	Queues []string
	Types  []string
	Kinds  []EventKind
}

// Match reports whether ev passes the filter.
func (f EventFilter) Match(ev Event) bool {
	return (len(f.Queues) == 0 || slices.Contains(f.Queues, ev.Queue)) &&
		(len(f.Types) == 0 || slices.Contains(f.Types, ev.Type)) &&
		(len(f.Kinds) == 0 || slices.Contains(f.Kinds, ev.Kind))
}

// EventStore is the part of a Broker that records progress and delivers events.
//
// Delivery is at most once: a broker records events only while someone subscribes to the
// queue, keeps a bounded backlog of them, and a subscriber that falls further behind than the
// backlog, or whose broker connection is lost, misses events. The job's state in the broker
// stays the truth. The events of one job are delivered in the order of its transitions.
type EventStore interface {
	// Subscribe starts recording the events of queues (every queue when empty, including
	// queues that appear later, within a few seconds) and returns the stream of those that
	// happen from now on. The subscription lasts until the stream is closed or ctx is done.
	Subscribe(ctx context.Context, queues []string) (EventStream, error)
	// SetProgress records the progress of an active job's attempt (see ProgressUpdate), and
	// its EventProgress; an update for a job that is no longer active under that worker
	// and attempt is ignored.
	SetProgress(ctx context.Context, u ProgressUpdate) error
}

// EventStream is an open subscription.
type EventStream interface {
	// Next waits until events arrive and returns them, oldest first, or returns ctx's error
	// when ctx is done, or the broker's error when it fails.
	Next(ctx context.Context) ([]Event, error)
	// Close ends the subscription.
	Close() error
}

// Subscription delivers the events a Client subscribed to.
type Subscription struct {
	events chan Event
	err    error
	done   chan struct{}
}

// Events returns the channel of events. It is closed when the subscription ends (its context
// is done, or the broker failed: see Err).
func (s *Subscription) Events() <-chan Event { return s.events }

// Err returns why the subscription ended, once Events is closed: the context's error, or the
// broker's failure.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// Subscribe streams the events of jobs that pass filter, from now until ctx is done. The
// events of one job arrive in order; delivery is at most once (see EventStore): a consumer
// that must not miss an outcome reads the job's state with Get. Events are recorded only
// while someone subscribes, so that they cost nothing otherwise.
func (c *Client) Subscribe(ctx context.Context, filter EventFilter) (*Subscription, error) {
	for _, q := range filter.Queues {
		if err := CheckQueueName(q); err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
	}
	stream, err := c.broker.Subscribe(ctx, filter.Queues)
	if err != nil {
		return nil, fmt.Errorf("subscribe to events of %v: %w", filter.Queues, err)
	}
	s := &Subscription{events: make(chan Event, 256), done: make(chan struct{})}
	go s.pump(ctx, stream, filter)
	return s, nil
}

// pump moves the stream's events that pass filter to s.events until ctx is done or the
// stream fails.
func (s *Subscription) pump(ctx context.Context, stream EventStream, filter EventFilter) {
	defer close(s.done)
	defer close(s.events)
	defer stream.Close()
	for {
		evs, err := stream.Next(ctx)
		if err != nil {
			s.err = err
			if ctx.Err() != nil {
				s.err = ctx.Err()
			}
			return
		}
		for _, ev := range evs {
			if !filter.Match(ev) {
				continue
			}
			select {
			case s.events <- ev:
			case <-ctx.Done():
				s.err = ctx.Err()
				return
			}
		}
	}
}

// ErrSubscriptionClosed is returned by EventStream.Next after Close.
var ErrSubscriptionClosed = errors.New("subscription closed")

// EventBacklog is how many recent events a broker keeps per queue (Redis) or in all (SQLite,
// in memory) for subscribers that are behind; beyond it the oldest are dropped.
const EventBacklog = 10_000

// SubscriberTTL is how long a subscription keeps a queue's events switched on after its last
// renewal; a subscriber renews it every SubscriberTTL/3 while it waits.
const SubscriberTTL = 30 * time.Second
