package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/codex-dominion/dominion/internal/clock"
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Schedules []Schedule
	// KnownTypes, when not nil, lists the job types the workers handle: a schedule of
	// another type is refused by NewScheduler.
	KnownTypes []string
	// Client enqueues the ticks' jobs (default NewClient(broker)); give one with the
	// program's enqueue middleware.
	Client *Client
	// Observer, when set, is told what became of each tick (metrics).
	Observer SchedulerObserver
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Clock is the time the ticks are computed from and waited for (default the wall
	// clock; the module's tests pass a clock.Fake and advance it).
	Clock clock.Clock
}

// Scheduler enqueues the jobs of periodic schedules. Any number of schedulers, in any number
// of processes, may run the same schedules on one broker: each tick's job has an ID derived
// from the schedule name and the tick's instant (TickJobID), so the broker stores it once
// and refuses the others (ErrDuplicateJob, which a scheduler takes as "another scheduler got
// this tick"). While one scheduler runs, no tick is missed; ticks missed while none ran are
// enqueued once at start-up or skipped, per schedule (Schedule.CatchUp).
//
// The schedules' state (enabled flag, last tick and its job) lives in the broker, which must
// implement ScheduleStore.
type Scheduler struct {
	broker  Broker
	client  *Client
	obs     SchedulerObserver
	log     *slog.Logger
	entries []*compiled
	byName  map[string]*compiled
	clock   clock.Clock
	down    *downLog // logs the broker's outages, one line each way
}

// maxTicksPerWake bounds the ticks of one schedule enqueued in one pass: a scheduler that
// fell further behind (a suspended machine) treats the older ticks as missed.
const maxTicksPerWake = 100

// maxSleep bounds one wait, so that a change of the wall clock is noticed within it.
const maxSleep = time.Minute

// NewScheduler validates the schedules and returns a scheduler for them. Every problem — a
// bad name or cron spec, an unknown time zone or job type, two schedules with one name — is
// an error that names the schedule.
func NewScheduler(broker Broker, cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(broker)
	}
	s := &Scheduler{
		broker: broker, client: cfg.Client, obs: cfg.Observer, log: cfg.Logger,
		byName: map[string]*compiled{}, clock: clock.OrReal(cfg.Clock),
		down: &downLog{log: cfg.Logger,
			down: "scheduler: the queue is unreachable; the ticks due meanwhile are enqueued when it answers",
			back: "scheduler: the queue answers again"},
	}
	entries, err := compileAll(cfg.Schedules, cfg.KnownTypes)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.entries = entries
	for _, e := range entries {
		s.byName[e.Name] = e
	}
	slices.SortFunc(s.entries, func(a, b *compiled) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return s, nil
}

// ValidateSchedules checks schedules as NewScheduler does, without a broker: a bad name or
// cron spec, an unknown time zone or job type (when knownTypes is not nil), two schedules
// with one name. The error names each schedule at fault and its problem.
func ValidateSchedules(schedules []Schedule, knownTypes []string) error {
	_, err := compileAll(schedules, knownTypes)
	return err
}

func compileAll(schedules []Schedule, knownTypes []string) ([]*compiled, error) {
	var errs []error
	var out []*compiled
	seen := map[string]bool{}
	for _, sc := range schedules {
		c, err := compile(sc, knownTypes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("schedule %q: defined twice", c.Name))
			continue
		}
		seen[c.Name] = true
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// Schedules returns the validated schedules (queue and time zone filled in), sorted by name.
func (s *Scheduler) Schedules() []Schedule {
	out := make([]Schedule, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.Schedule
	}
	return out
}

// Next returns the first tick of the named schedule after t (zero when there is none or no
// such schedule).
func (s *Scheduler) Next(name string, t time.Time) time.Time {
	if e, ok := s.byName[name]; ok {
		return e.cron.Next(t)
	}
	return time.Time{}
}

// ScheduleInfo is a schedule with its state, for listings.
type ScheduleInfo struct {
	Schedule
	Enabled bool      `json:"enabled"`
	NextRun time.Time `json:"next_run,omitzero"`
	// LastRun is the latest run, a tick's or a manual one (LastRunManual), and LastJobID its
	// job's ID.
	LastRun       time.Time `json:"last_run,omitzero"`
	LastRunManual bool      `json:"last_run_manual,omitempty"`
	LastJobID     string    `json:"last_job_id,omitempty"`
	// LastJobState is the state of the last run's job; empty when it no longer exists
	// (its result TTL ran out, or it was deleted).
	LastJobState State `json:"last_job_state,omitempty"`
}

// List returns every schedule with its state in the broker and its next run (none while
// disabled), sorted by name.
func (s *Scheduler) List(ctx context.Context) ([]ScheduleInfo, error) {
	states, err := s.states(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	out := make([]ScheduleInfo, 0, len(s.entries))
	for _, e := range s.entries {
		st := states[e.Name]
		info := ScheduleInfo{
			Schedule: e.Schedule, Enabled: e.Enabled(st), LastRun: st.LastRun, LastJobID: st.LastJobID,
		}
		if st.LastManualRun.After(st.LastRun) {
			info.LastRun, info.LastJobID, info.LastRunManual = st.LastManualRun, st.LastManualJobID, true
		}
		if info.Enabled {
			info.NextRun = e.cron.Next(now)
		}
		if info.LastJobID != "" {
			job, err := s.broker.Get(ctx, info.LastJobID)
			switch {
			case err == nil:
				info.LastJobState = job.State
			case !errors.Is(err, ErrJobNotFound):
				return nil, fmt.Errorf("schedule %q: get last job %s: %w", e.Name, info.LastJobID, err)
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// ErrUnknownSchedule is returned for a schedule name the scheduler does not have.
var ErrUnknownSchedule = errors.New("unknown schedule")

func (s *Scheduler) entry(name string) (*compiled, error) {
	e, ok := s.byName[name]
	if !ok {
		names := make([]string, len(s.entries))
		for i, e := range s.entries {
			names[i] = e.Name
		}
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownSchedule, name, names)
	}
	return e, nil
}

// RunNow enqueues a job of the named schedule at once, whether or not it is enabled. Its ID
// is the schedule name, "run" and a new ID; it does not count as a tick, so the schedule's
// next tick runs as planned. It is recorded as the schedule's last manual run (List shows it
// as the last run, marked manual, until a later tick).
func (s *Scheduler) RunNow(ctx context.Context, name string) (*Job, error) {
	e, err := s.entry(name)
	if err != nil {
		return nil, err
	}
	job, err := s.client.Enqueue(ctx, e.Type, e.Payload, e.options(e.Name+":run:"+NewID())...)
	if err != nil {
		return nil, err
	}
	if err := s.broker.RecordManualRun(ctx, e.Name, job.EnqueuedAt, job.ID); err != nil {
		s.log.Warn("scheduler: record manual run failed", "schedule", e.Name, "job_id", job.ID, "err", err)
	}
	return job, nil
}

// SetEnabled enables or disables the named schedule for every scheduler on the broker.
func (s *Scheduler) SetEnabled(ctx context.Context, name string, enabled bool) error {
	if _, err := s.entry(name); err != nil {
		return err
	}
	if err := s.broker.SetScheduleEnabled(ctx, name, enabled); err != nil {
		return fmt.Errorf("schedule %q: set enabled=%t: %w", name, enabled, err)
	}
	return nil
}

func (e *compiled) options(id string) []Option {
	opts := slices.Clone(e.Options)
	return append(opts, OnQueue(e.Queue), WithID(id))
}

func (s *Scheduler) states(ctx context.Context) (map[string]ScheduleState, error) {
	list, err := s.broker.ScheduleStates(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler: read schedule states: %w", err)
	}
	m := make(map[string]ScheduleState, len(list))
	for _, st := range list {
		m[st.Name] = st
	}
	return m, nil
}

// Run enqueues the schedules' ticks until ctx is done, then returns nil. At start it
// enqueues, for each enabled schedule with CatchUp, the latest tick missed since the last
// one recorded in the broker. Between ticks it sleeps until the next one (no polling). A
// failed broker call is retried with a backoff; the ticks due meanwhile are enqueued when the
// broker answers again.
func (s *Scheduler) Run(ctx context.Context) error {
	if len(s.entries) == 0 {
		s.log.Info("scheduler: no schedules; idle")
		<-ctx.Done()
		return nil
	}
	retry := newReconnectDelay()
	next, ok := s.start(ctx, retry)
	if !ok {
		return nil
	}
	timer := s.clock.NewTimer(0)
	defer timer.Stop()
	<-timer.C()
	var retryAt time.Time
	for {
		wake := s.nextWake(next, retryAt)
		if wake.IsZero() {
			<-ctx.Done()
			return nil
		}
		timer.Reset(min(max(wake.Sub(s.clock.Now()), 0), maxSleep))
		select {
		case <-ctx.Done():
			s.log.Info("scheduler stopped")
			return nil
		case <-timer.C():
		}
		now := s.clock.Now()
		if now.Before(wake) {
			continue // woke early to look at the clock again
		}
		retryAt = s.tick(ctx, next, now, retry) // a ctx done meanwhile ends the loop above
	}
}

// start reads the schedules' states (retrying until ctx is done: ok false), enqueues the
// ticks missed of those with CatchUp, and returns each schedule's next tick.
func (s *Scheduler) start(ctx context.Context, retry *reconnectDelay) (next map[*compiled]time.Time, ok bool) {
	states, ok := s.loadStates(ctx, retry)
	if !ok {
		return nil, false
	}
	retry.reset()
	now := s.clock.Now()
	next = make(map[*compiled]time.Time, len(s.entries))
	for _, e := range s.entries {
		next[e] = e.cron.Next(now)
		s.catchUp(ctx, e, states[e.Name], now)
	}
	s.log.Info("scheduler started", "schedules", len(s.entries))
	return next, true
}

// tick enqueues the ticks due at now and moves next past them. It returns when to try again
// after a failed broker call (zero: none failed), or zero when ctx is done.
func (s *Scheduler) tick(ctx context.Context, next map[*compiled]time.Time, now time.Time, retry *reconnectDelay) time.Time {
	began := time.Now()
	states, err := s.states(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return time.Time{}
		}
		s.down.report(began, err, "call", "read schedule states")
		return now.Add(retry.next())
	}
	failed := false
	for _, e := range s.entries {
		var ok bool
		next[e], ok = s.fireDue(ctx, e, next[e], states[e.Name], now, began)
		if !ok && ctx.Err() != nil {
			return time.Time{}
		}
		failed = failed || !ok
	}
	if failed {
		return now.Add(retry.next())
	}
	s.down.report(began, nil)
	retry.reset()
	return time.Time{}
}

// loadStates reads the schedules' states, retrying with retry's backoff until it succeeds
// (ok) or ctx is done.
func (s *Scheduler) loadStates(ctx context.Context, retry *reconnectDelay) (states map[string]ScheduleState, ok bool) {
	for {
		began := time.Now()
		states, err := s.states(ctx)
		if err != nil && ctx.Err() != nil {
			return nil, false
		}
		s.down.report(began, err, "call", "read schedule states")
		if err == nil {
			return states, true
		}
		if !sleepCtx(ctx, retry.next()) {
			return nil, false
		}
	}
}

// nextWake is the earliest next tick of the schedules, or retryAt when a failure is being
// backed off from and that is later (zero when nothing is ever due).
func (s *Scheduler) nextWake(next map[*compiled]time.Time, retryAt time.Time) time.Time {
	var wake time.Time
	for _, e := range s.entries {
		if t := next[e]; !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	if !retryAt.IsZero() && (wake.IsZero() || wake.Before(retryAt)) {
		wake = retryAt // after a failure, wait for the backoff even if ticks are due
	}
	return wake
}

// fireDue enqueues schedule e's ticks from t up to now (at most maxTicksPerWake of them; older
// ones are treated as missed) and returns its next tick; ok is false when an enqueue failed
// (the next tick is then the one that failed, tried again after a backoff). began is when
// the pass over the schedules began, for the report of a failure.
func (s *Scheduler) fireDue(ctx context.Context, e *compiled, t time.Time, st ScheduleState, now, began time.Time) (nextTick time.Time, ok bool) {
	for ticks := 0; !t.IsZero() && !t.After(now); ticks++ {
		if ticks == maxTicksPerWake {
			latest := s.latestTick(e, t, now)
			s.log.Warn("scheduler: fell behind; treating older ticks as missed", "schedule", e.Name,
				"missed_from", t, "missed_to", latest, "catch_up", e.CatchUp)
			t = latest
			if !e.CatchUp {
				return e.cron.Next(latest), true
			}
		}
		if e.Enabled(st) && t.After(st.LastRun) {
			if err := s.fire(ctx, e, t); err != nil {
				if ctx.Err() == nil {
					s.down.report(began, err, "call", "enqueue tick", "schedule", e.Name, "tick", t)
				}
				return t, false
			}
		}
		t = e.cron.Next(t)
	}
	return t, true
}

// catchUp enqueues or skips, per the schedule's CatchUp, the latest tick missed between the
// last one recorded and now.
func (s *Scheduler) catchUp(ctx context.Context, e *compiled, st ScheduleState, now time.Time) {
	if st.LastRun.IsZero() || !e.Enabled(st) {
		return
	}
	first := e.cron.Next(st.LastRun)
	if first.IsZero() || first.After(now) {
		return
	}
	missed := s.latestTick(e, first, now)
	if !e.CatchUp {
		s.log.Info("scheduler: skipping ticks missed while no scheduler ran (catch_up is off)",
			"schedule", e.Name, "last_run", st.LastRun, "missed_from", first, "missed_to", missed)
		return
	}
	s.log.Info("scheduler: catching up a tick missed while no scheduler ran",
		"schedule", e.Name, "last_run", st.LastRun, "tick", missed)
	if err := s.fire(ctx, e, missed); err != nil && ctx.Err() == nil {
		s.log.Error("scheduler: catch-up enqueue failed", "schedule", e.Name, "tick", missed, "err", err)
	}
}

// latestTick returns the latest tick at or before now, given a tick from ≤ now.
func (s *Scheduler) latestTick(e *compiled, from, now time.Time) time.Time {
	// Look back over a window that doubles until it holds a tick, then walk forward in it.
	for w := time.Second; ; w *= 2 {
		start := now.Add(-w)
		if !start.After(from) {
			start = from.Add(-time.Nanosecond)
		}
		t := e.cron.Next(start)
		if !t.IsZero() && !t.After(now) {
			for {
				n := e.cron.Next(t)
				if n.IsZero() || n.After(now) {
					return t
				}
				t = n
			}
		}
		if !start.After(from) {
			return from
		}
	}
}

// fire enqueues the job of tick and records the run. A duplicate means another scheduler
// enqueued this tick: it is recorded too (the record keeps the latest tick), so that a
// scheduler that died between its enqueue and its record leaves no gap.
func (s *Scheduler) fire(ctx context.Context, e *compiled, tick time.Time) error {
	id := TickJobID(e.Name, tick)
	_, err := s.client.Enqueue(ctx, e.Type, e.Payload, e.options(id)...)
	switch {
	case err == nil:
		s.observe(e.Name, TickEnqueued)
		s.log.Info("scheduler: tick enqueued", "schedule", e.Name, "tick", tick, "job_id", id)
	case errors.Is(err, ErrDuplicateJob):
		s.observe(e.Name, TickDuplicate)
		s.log.Debug("scheduler: tick already enqueued by another scheduler", "schedule", e.Name, "job_id", id)
	default:
		if ctx.Err() == nil {
			s.observe(e.Name, TickFailed)
		}
		return err
	}
	// The tick is enqueued: record it even if the scheduler is stopping meanwhile.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.broker.RecordScheduleRun(rctx, e.Name, tick, id); err != nil {
		s.log.Warn("scheduler: record tick failed", "schedule", e.Name, "job_id", id, "err", err)
	}
	return nil
}

func (s *Scheduler) observe(schedule string, r TickResult) {
	if s.obs != nil {
		s.obs.Tick(schedule, r)
	}
}
