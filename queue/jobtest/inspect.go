package jobtest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Jobs returns a copy of every job the broker holds, in the order they were enqueued.
func (b *Broker) Jobs() []*queue.Job {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries := make([]*entry, 0, len(b.jobs))
	for _, e := range b.jobs {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(x, y *entry) int { return cmp.Compare(x.seq, y.seq) })
	jobs := make([]*queue.Job, len(entries))
	for i, e := range entries {
		jobs[i] = copyJob(&e.job)
	}
	return jobs
}

// Queues returns the statistics of every queue that has had a job or been paused, sorted by
// name.
func (b *Broker) Queues(ctx context.Context) ([]queue.QueueStats, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	stats := make(map[string]*queue.QueueStats, len(b.queues))
	for name, q := range b.queues {
		s := &queue.QueueStats{Name: name, Paused: q.paused, Processed: q.processed, Failed: q.failed}
		if q.limit != nil {
			l := q.limit.limits
			s.Limits = &l
		}
		for _, e := range q.pending {
			if s.PendingByPriority == nil {
				s.PendingByPriority = map[int]int64{}
			}
			s.PendingByPriority[e.job.Priority]++
			if at := e.job.EnqueuedAt; s.OldestPending.IsZero() || at.Before(s.OldestPending) {
				s.OldestPending = at
			}
		}
		stats[name] = s
	}
	for _, e := range b.jobs {
		if s := stats[e.job.Queue]; s != nil {
			count(s, e.job.State)
		}
	}
	out := make([]queue.QueueStats, 0, len(stats))
	for _, s := range stats {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(x, y queue.QueueStats) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

func count(s *queue.QueueStats, st queue.State) {
	switch st {
	case queue.StatePending:
		s.Pending++
	case queue.StateActive:
		s.Active++
	case queue.StateScheduled:
		s.Scheduled++
	case queue.StateRetry:
		s.Retry++
	case queue.StateDead:
		s.Dead++
	case queue.StateCompleted:
		s.Completed++
	case queue.StateCanceled:
		s.Canceled++
	case queue.StateWaiting:
		s.Waiting++
	}
}

// List returns jobs of a queue in a state, oldest first: pending jobs in queue order,
// scheduled and retry jobs by run-at, others by when they started or finished.
func (b *Broker) List(ctx context.Context, q string, st queue.State, offset, limit int) ([]*queue.Job, error) {
	if _, err := queue.ParseState(string(st)); err != nil {
		return nil, fmt.Errorf("jobtest: list %s jobs of %s: %w", st, q, err)
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	var matched []*entry
	if qi := b.queues[q]; st == queue.StatePending && qi != nil {
		matched = qi.pending
	} else {
		for _, e := range b.jobs {
			if e.job.Queue == q && e.job.State == st {
				matched = append(matched, e)
			}
		}
		slices.SortFunc(matched, func(x, y *entry) int {
			return cmp.Or(position(x).Compare(position(y)), cmp.Compare(x.seq, y.seq))
		})
	}
	offset = max(offset, 0)
	if offset >= len(matched) || limit <= 0 {
		return nil, nil
	}
	matched = matched[offset:min(len(matched), offset+limit)]
	jobs := make([]*queue.Job, len(matched))
	for i, e := range matched {
		jobs[i] = copyJob(&e.job)
	}
	return jobs, nil
}

// position is where a job that is not pending stands in its state's list.
func position(e *entry) time.Time {
	switch e.job.State {
	case queue.StateScheduled, queue.StateRetry:
		return e.job.RunAt
	case queue.StateActive:
		return e.job.StartedAt
	}
	return e.job.FinishedAt
}

// Workers returns the workers whose heartbeat is recent (within twice their lease), sorted
// by ID.
func (b *Broker) Workers(ctx context.Context) ([]queue.WorkerInfo, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	now := time.Now()
	var out []queue.WorkerInfo
	for id, w := range b.workers {
		if w.expires.Before(now) {
			delete(b.workers, id)
			continue
		}
		info := w.info
		info.Queues, info.Jobs = slices.Clone(info.Queues), slices.Clone(info.Jobs)
		out = append(out, info)
	}
	slices.SortFunc(out, func(x, y queue.WorkerInfo) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// ScheduleStates returns the state of every schedule that has one, sorted by name.
func (b *Broker) ScheduleStates(ctx context.Context) ([]queue.ScheduleState, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	out := make([]queue.ScheduleState, 0, len(b.schedules))
	for _, s := range b.schedules {
		if s.Enabled != nil {
			on := *s.Enabled
			s.Enabled = &on
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y queue.ScheduleState) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// SetScheduleEnabled sets the schedule's enabled flag.
func (b *Broker) SetScheduleEnabled(ctx context.Context, name string, enabled bool) error {
	return b.updateSchedule(name, func(s *queue.ScheduleState) { s.Enabled = &enabled })
}

// RecordScheduleRun records the tick's job unless a later tick is recorded already.
func (b *Broker) RecordScheduleRun(ctx context.Context, name string, tick time.Time, jobID string) error {
	return b.updateSchedule(name, func(s *queue.ScheduleState) {
		if tick.After(s.LastRun) {
			s.LastRun, s.LastJobID = tick, jobID
		}
	})
}

// RecordManualRun records the manual run's job unless a later one is recorded already.
func (b *Broker) RecordManualRun(ctx context.Context, name string, at time.Time, jobID string) error {
	return b.updateSchedule(name, func(s *queue.ScheduleState) {
		if at.After(s.LastManualRun) {
			s.LastManualRun, s.LastManualJobID = at, jobID
		}
	})
}

// updateSchedule changes the state of the named schedule (created if needed) with f.
func (b *Broker) updateSchedule(name string, f func(*queue.ScheduleState)) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	s := b.schedules[name]
	s.Name = name
	f(&s)
	b.schedules[name] = s
	return nil
}
