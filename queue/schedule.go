package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Schedule is a periodic job: every tick of Spec in TimeZone, one job of Type with Payload is
// enqueued on Queue. Run it with a Scheduler.
type Schedule struct {
	// Name identifies the schedule; its ticks' job IDs start with it. Letters, digits, '.',
	// '_' and '-', at most 100.
	Name string `json:"name"`
	// Spec is a cron spec: five fields, six with seconds first, a descriptor such as
	// "@daily", or "@every 10m" (see Cron).
	Spec string `json:"spec"`
	// TimeZone is an IANA zone name such as "Europe/Berlin" (default UTC). Every scheduler
	// must see the same zone, so the machine's local zone is not a default.
	TimeZone string `json:"time_zone,omitempty"`
	// Queue the jobs go to (default "default").
	Queue   string          `json:"queue,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// Disabled schedules enqueue nothing until enabled with SetScheduleEnabled (the flag
	// kept in the broker, once set, overrides this one).
	Disabled bool `json:"disabled,omitempty"`
	// CatchUp says what to do at start-up about ticks missed while every scheduler was
	// down: enqueue the latest of them once (true) or skip them (false).
	CatchUp bool `json:"catch_up,omitempty"`
	// Options are further job options (MaxRetries, Timeout, ResultTTL …) for every job of the
	// schedule. The scheduler sets the queue and the job ID itself.
	Options []Option `json:"-"`
}

// ScheduleState is what the broker keeps about a schedule, shared by every process.
type ScheduleState struct {
	Name string `json:"name"`
	// Enabled is the flag set by SetScheduleEnabled (dominion schedules enable|disable);
	// nil when it was never set, so the schedule's own Disabled field applies.
	Enabled *bool `json:"enabled,omitempty"`
	// LastRun is the latest tick enqueued (ticks only: a manual run does not count) and
	// LastJobID the ID of its job.
	LastRun   time.Time `json:"last_run,omitzero"`
	LastJobID string    `json:"last_job_id,omitempty"`
	// LastManualRun is when the latest manual run (Scheduler.RunNow) was enqueued and
	// LastManualJobID its job's ID. Ticks and catch-up never read them.
	LastManualRun   time.Time `json:"last_manual_run,omitzero"`
	LastManualJobID string    `json:"last_manual_job_id,omitempty"`
}

// ScheduleStore is the part of a broker that keeps schedule state. Both brokers of this
// module implement it; the conformance suite (queuetest) covers it.
type ScheduleStore interface {
	// ScheduleStates returns the state of every schedule that has one, sorted by name.
	ScheduleStates(ctx context.Context) ([]ScheduleState, error)
	// SetScheduleEnabled sets the schedule's enabled flag, creating its state if needed.
	SetScheduleEnabled(ctx context.Context, name string, enabled bool) error
	// RecordScheduleRun records that the job jobID was enqueued for the schedule's tick, in
	// one atomic step that keeps the latest tick: an older tick than the one recorded
	// changes nothing.
	RecordScheduleRun(ctx context.Context, name string, tick time.Time, jobID string) error
	// RecordManualRun records that the job jobID was enqueued by hand at at, keeping the
	// latest manual run; it leaves the ticks' record alone.
	RecordManualRun(ctx context.Context, name string, at time.Time, jobID string) error
}

// tickFormat is how a tick appears in its job ID: its UTC instant to the second.
const tickFormat = "20060102T150405Z"

// TickJobID returns the ID of the job of a schedule's tick: the schedule name and the tick's
// UTC instant, as in "cleanup_old_workflows:20260301T020000Z". Every scheduler derives the
// same ID for the same tick, so the broker refuses all but the first enqueue.
func TickJobID(name string, tick time.Time) string {
	return name + ":" + tick.UTC().Format(tickFormat)
}

// Enabled reports whether the schedule enqueues jobs, given its state in the broker.
func (s Schedule) Enabled(state ScheduleState) bool {
	if state.Enabled != nil {
		return *state.Enabled
	}
	return !s.Disabled
}

// compiled is a validated schedule.
type compiled struct {
	Schedule
	cron *Cron
}

// compile validates one schedule; errors name it and the problem. knownTypes, when not nil,
// lists the job types a worker handles.
func compile(s Schedule, knownTypes []string) (*compiled, error) {
	name := s.Name
	if name == "" {
		return nil, errors.New("schedule with an empty name (spec " + strconvQuote(s.Spec) + ")")
	}
	if len(name) > 100 || strings.Contains(name, ":") || !validName(name) {
		return nil, fmt.Errorf("schedule %q: bad name: use at most 100 letters, digits, '.', '_' or '-'", name)
	}
	if s.Queue == "" {
		s.Queue = DefaultQueue
	}
	if err := CheckQueueName(s.Queue); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", name, err)
	}
	if s.Type == "" {
		return nil, fmt.Errorf("schedule %q: no job type", name)
	}
	if knownTypes != nil && !slices.Contains(knownTypes, s.Type) {
		known := slices.Clone(knownTypes)
		slices.Sort(known)
		return nil, fmt.Errorf("schedule %q: unknown job type %q (known: %s)", name, s.Type, strings.Join(known, ", "))
	}
	if len(s.Payload) > 0 && !json.Valid(s.Payload) {
		return nil, fmt.Errorf("schedule %q: payload is not valid JSON", name)
	}
	if len(s.Payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("schedule %q: payload of %d bytes is over the %d-byte limit", name, len(s.Payload), MaxPayloadBytes)
	}
	loc, err := LoadTimeZone(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", name, err)
	}
	c, err := ParseCron(s.Spec, loc)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", name, err)
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	return &compiled{Schedule: s, cron: c}, nil
}

// LoadTimeZone returns the IANA time zone name ("" is UTC). "Local" is refused: schedulers on
// machines set to different zones would disagree on the ticks.
func LoadTimeZone(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, errors.New(`time zone "Local" is not allowed: name the zone, such as "Europe/Berlin" or "UTC"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as \"Europe/Berlin\" or \"UTC\")", name)
	}
	return loc, nil
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }
