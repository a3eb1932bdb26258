package jobtest

import (
	"context"
	"slices"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// eventLog holds the events recorded while someone subscribes: log[i] is event number
// first+i. At most 2×queue.EventBacklog are kept.
type eventLog struct {
	log   []queue.Event
	first int
	subs  int
}

// emit records an event of e's job, when someone subscribes, and wakes the subscribers.
// Call with b.mu held.
func (b *Broker) emit(e *entry, kind queue.EventKind, errMsg string) {
	if b.events.subs == 0 {
		return
	}
	j := &e.job
	ev := queue.Event{Kind: kind, JobID: j.ID, Queue: j.Queue, Type: j.Type, State: j.State,
		Attempt: j.Attempt, Error: errMsg, At: time.Now()}
	if kind == queue.EventProgress && j.Progress != nil {
		p := *j.Progress
		ev.Progress = &p
	}
	l := &b.events
	l.log = append(l.log, ev)
	if len(l.log) > 2*queue.EventBacklog {
		l.log = slices.Delete(l.log, 0, queue.EventBacklog)
		l.first += queue.EventBacklog
	}
	b.broadcast()
}

// lastError is the message of the job's latest recorded error, or "".
func lastError(j *queue.Job) string {
	if len(j.Errors) == 0 {
		return ""
	}
	return j.Errors[len(j.Errors)-1].Error
}

// SetProgress records an active attempt's progress and emits its event; an update for a job
// no longer active under that worker and attempt is ignored.
func (b *Broker) SetProgress(ctx context.Context, u queue.ProgressUpdate) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	e, ok := b.jobs[u.JobID]
	if !ok || e.job.State != queue.StateActive || e.job.WorkerID != u.WorkerID || e.job.Attempt != u.Attempt {
		return nil
	}
	p := u.Progress
	e.job.Progress = &p
	b.emit(e, queue.EventProgress, "")
	return nil
}

// Subscribe returns the events of queues (all when empty) recorded from now on.
func (b *Broker) Subscribe(ctx context.Context, queues []string) (queue.EventStream, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	b.events.subs++
	return &stream{b: b, queues: slices.Clone(queues), next: b.events.first + len(b.events.log)}, nil
}

// stream is one subscription: next is the number of the next event it reads.
type stream struct {
	b      *Broker
	queues []string
	next   int
	closed bool
}

// Next returns the events recorded since the last call, waiting for one when there is none.
func (s *stream) Next(ctx context.Context) ([]queue.Event, error) {
	for {
		if err := s.b.lock(); err != nil {
			return nil, err
		}
		if s.closed {
			s.b.mu.Unlock()
			return nil, queue.ErrSubscriptionClosed
		}
		l := &s.b.events
		s.next = max(s.next, l.first) // fell behind the backlog: the rest is lost
		var out []queue.Event
		for _, ev := range l.log[s.next-l.first:] {
			if len(s.queues) == 0 || slices.Contains(s.queues, ev.Queue) {
				out = append(out, ev)
			}
		}
		s.next = l.first + len(l.log)
		changed := s.b.changed
		s.b.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		if err := waitChange(ctx, changed, time.Hour); err != nil {
			return nil, err
		}
	}
}

// Close ends the subscription.
func (s *stream) Close() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.b.events.subs--
	}
	return nil
}
