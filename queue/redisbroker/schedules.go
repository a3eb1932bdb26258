package redisbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/codex-dominion/dominion/queue"
)

// Schedule state (queue.ScheduleStore) is one HASH, p:schedules, of schedule name → JSON
// {"enabled": bool (absent until set), "last_run": "<tick, ms>", "last_job_id": "<id>",
// "manual_run": "<ms>", "manual_job_id": "<id>"},
// changed only by lua/schedule.lua so that "keep the latest tick" is atomic.

var _ queue.ScheduleStore = (*Broker)(nil)

func (k keys) schedules() string { return k.prefix + ":schedules" }

type storedSchedule struct {
	Enabled   *bool  `json:"enabled,omitempty"`
	LastRun   string `json:"last_run,omitempty"`
	LastJobID string `json:"last_job_id,omitempty"`
	// ManualRun and ManualJobID are the latest manual run's (RecordManualRun).
	ManualRun   string `json:"manual_run,omitempty"`
	ManualJobID string `json:"manual_job_id,omitempty"`
}

// ScheduleStates returns the state of every schedule that has one, sorted by name.
func (b *Broker) ScheduleStates(ctx context.Context) ([]queue.ScheduleState, error) {
	all, err := b.rdb.HGetAll(ctx, b.keys.schedules()).Result()
	if err != nil {
		return nil, b.wrap(err, "schedule states")
	}
	out := make([]queue.ScheduleState, 0, len(all))
	for name, raw := range all {
		var s storedSchedule
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return nil, fmt.Errorf("redisbroker: schedule %s: bad state %q: %w", name, raw, err)
		}
		st := queue.ScheduleState{Name: name, Enabled: s.Enabled, LastJobID: s.LastJobID, LastManualJobID: s.ManualJobID}
		if st.LastRun, err = storedMillis(s.LastRun); err != nil {
			return nil, fmt.Errorf("redisbroker: schedule %s: bad last run: %w", name, err)
		}
		if st.LastManualRun, err = storedMillis(s.ManualRun); err != nil {
			return nil, fmt.Errorf("redisbroker: schedule %s: bad manual run: %w", name, err)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// storedMillis parses a schedule time stored as milliseconds since the epoch ("" is the
// zero time); unlike msTime, a malformed one is an error.
func storedMillis(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not milliseconds", s)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// SetScheduleEnabled sets the schedule's enabled flag.
func (b *Broker) SetScheduleEnabled(ctx context.Context, name string, enabled bool) error {
	flag := "0"
	if enabled {
		flag = "1"
	}
	if err := b.run(ctx, b.s.schedule, []string{b.keys.schedules()}, name, "enable", flag).Err(); err != nil {
		return b.wrap(err, "set schedule %s enabled=%t", name, enabled)
	}
	return nil
}

// RecordScheduleRun records the tick's job unless a later tick is recorded already.
func (b *Broker) RecordScheduleRun(ctx context.Context, name string, tick time.Time, jobID string) error {
	err := b.run(ctx, b.s.schedule, []string{b.keys.schedules()}, name, "run", tick.UnixMilli(), jobID).Err()
	if err != nil {
		return b.wrap(err, "record run of schedule %s", name)
	}
	return nil
}

// RecordManualRun records the manual run's job unless a later one is recorded already.
func (b *Broker) RecordManualRun(ctx context.Context, name string, at time.Time, jobID string) error {
	err := b.run(ctx, b.s.schedule, []string{b.keys.schedules()}, name, "manual", at.UnixMilli(), jobID).Err()
	if err != nil {
		return b.wrap(err, "record manual run of schedule %s", name)
	}
	return nil
}
