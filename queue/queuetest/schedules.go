package queuetest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/internal/clock"
	"github.com/codex-dominion/dominion/queue"
)

// Schedules: the broker's ScheduleStore and queue.Scheduler on it.

func scheduleStore(t *testing.T, b queue.Broker) queue.ScheduleStore {
	t.Helper()
	return b
}

func scheduleState(t *testing.T, st queue.ScheduleStore, name string) (queue.ScheduleState, bool) {
	t.Helper()
	all, err := st.ScheduleStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
	}
	return queue.ScheduleState{}, false
}

func testScheduleStore(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	st := scheduleStore(t, e.broker)
	if all, err := st.ScheduleStates(e.ctx); err != nil || len(all) != 0 {
		t.Fatalf("fresh broker: states %+v, %v", all, err)
	}
	t1 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	t3 := t2.Add(24 * time.Hour)
	if err := st.RecordScheduleRun(e.ctx, "nightly", t2, "nightly:2"); err != nil {
		t.Fatal(err)
	}
	// An older tick (a late scheduler) changes nothing; a newer one replaces it.
	if err := st.RecordScheduleRun(e.ctx, "nightly", t1, "nightly:1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := scheduleState(t, st, "nightly"); !s.LastRun.Equal(t2) || s.LastJobID != "nightly:2" || s.Enabled != nil {
		t.Fatalf("after an older tick: %+v, want last run %s (nightly:2), enabled unset", s, t2)
	}
	if err := st.SetScheduleEnabled(e.ctx, "nightly", false); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordScheduleRun(e.ctx, "nightly", t3, "nightly:3"); err != nil {
		t.Fatal(err)
	}
	s, _ := scheduleState(t, st, "nightly")
	if !s.LastRun.Equal(t3) || s.LastJobID != "nightly:3" || s.Enabled == nil || *s.Enabled {
		t.Fatalf("state = %+v, want last run %s (nightly:3), disabled", s, t3)
	}
	if err := st.SetScheduleEnabled(e.ctx, "nightly", true); err != nil {
		t.Fatal(err)
	}
	if err := st.SetScheduleEnabled(e.ctx, "another", true); err != nil {
		t.Fatal(err)
	}
	all, err := st.ScheduleStates(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "another" || all[1].Name != "nightly" {
		t.Fatalf("states = %+v, want another and nightly, sorted", all)
	}
	if a := all[0]; a.Enabled == nil || !*a.Enabled || !a.LastRun.IsZero() || a.LastJobID != "" {
		t.Fatalf("another = %+v", a)
	}
	// Manual runs: the latest is kept, apart from the ticks; a schedule with only a manual
	// run has a state.
	for _, m := range []struct {
		at time.Time
		id string
	}{{t2, "nightly:run:2"}, {t1, "nightly:run:1"}} {
		if err := st.RecordManualRun(e.ctx, "nightly", m.at, m.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordManualRun(e.ctx, "manual-only", t1, "manual-only:run:1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := scheduleState(t, st, "nightly"); !s.LastManualRun.Equal(t2) || s.LastManualJobID != "nightly:run:2" || !s.LastRun.Equal(t3) || s.LastJobID != "nightly:3" {
		t.Fatalf("after manual runs: %+v, want manual run %s (nightly:run:2), tick %s (nightly:3)", s, t2, t3)
	}
	if s, ok := scheduleState(t, st, "manual-only"); !ok || !s.LastManualRun.Equal(t1) || !s.LastRun.IsZero() {
		t.Fatalf("manual-only = %+v (found %t)", s, ok)
	}
	if n := all[1]; n.Enabled == nil || !*n.Enabled || !n.LastRun.Equal(t3) {
		t.Fatalf("nightly = %+v, want enabled with last run %s", n, t3)
	}
	// Concurrent records keep the latest tick, whatever their order.
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	done := make(chan error, 50)
	for i := range 50 {
		go func() {
			tick := base.Add(time.Duration(i) * time.Second)
			done <- st.RecordScheduleRun(e.ctx, "race", tick, queue.TickJobID("race", tick))
		}()
	}
	for range 50 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	last := base.Add(49 * time.Second)
	if s, _ := scheduleState(t, st, "race"); !s.LastRun.Equal(last) || s.LastJobID != queue.TickJobID("race", last) {
		t.Fatalf("after concurrent records: %+v, want the latest tick %s", s, last)
	}
}

// runScheduler starts a scheduler on b; it is stopped at cleanup or by the returned func,
// which waits until Run has returned.
func runScheduler(t *testing.T, b queue.Broker, cfg queue.SchedulerConfig) (*queue.Scheduler, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := queue.NewScheduler(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scheduler.Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("scheduler did not stop within 10 s")
		}
	}
	t.Cleanup(stop)
	return s, stop
}

// tickJobs returns the ticks of the jobs of schedule name on queue q (any state), sorted,
// and fails on a job of the queue that is not one of the schedule's ticks.
func tickJobs(t *testing.T, e *env, q, name string) []time.Time {
	t.Helper()
	var ticks []time.Time
	for _, st := range queue.States {
		jobs, err := e.client.List(e.ctx, q, st, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			rest, ok := strings.CutPrefix(j.ID, name+":")
			if !ok {
				continue
			}
			tick, err := time.Parse("20060102T150405Z", rest)
			if err != nil {
				t.Fatalf("job %s of schedule %s: id is not name:tick", j.ID, name)
			}
			ticks = append(ticks, tick)
		}
	}
	slices.SortFunc(ticks, func(a, b time.Time) int { return a.Compare(b) })
	return ticks
}

// newFakeClock returns a fake clock half a second past a whole second, so that each step
// (one second) passes exactly one tick of an every-second schedule.
func newFakeClock() *clock.Fake {
	return clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 500*int(time.Millisecond), time.UTC))
}

// waitAsleep waits until n schedulers on clk sleep on their timers: everything due before
// the clock's time is done.
func waitAsleep(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	stop := make(chan struct{})
	deadline := time.AfterFunc(30*time.Second, func() { close(stop) })
	defer deadline.Stop()
	if !clk.WaitArmed(n, stop) {
		t.Fatalf("%d schedulers not asleep within 30 s (%d timers armed)", n, clk.Armed())
	}
}

// step moves clk one second on and waits until the n schedulers on it have done what fell
// due and sleep again.
func step(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	waitAsleep(t, clk, n)
	clk.Advance(time.Second)
	waitAsleep(t, clk, n)
}

func testSchedulerOncePerTick(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	sched := queue.Schedule{Name: "every-second", Spec: "* * * * * *", Queue: "cron", Type: "tick", Payload: []byte(`{"n":1}`)}
	clk := newFakeClock()
	cfg := queue.SchedulerConfig{Schedules: []queue.Schedule{sched}, Clock: clk}
	first := clk.Now().Truncate(time.Second).Add(time.Second)
	_, stop1 := runScheduler(t, e.broker, cfg)
	_, stop2 := runScheduler(t, e.broker, cfg)
	// Three seconds with both schedulers, then two with the second alone.
	for range 3 {
		step(t, clk, 2)
	}
	stop1()
	for range 2 {
		step(t, clk, 1)
	}
	stop2()

	ticks := tickJobs(t, e, "cron", sched.Name)
	want := make([]time.Time, 5)
	for i := range want {
		want[i] = first.Add(time.Duration(i) * time.Second)
	}
	if !slices.EqualFunc(ticks, want, time.Time.Equal) {
		t.Errorf("ticks %v, want one job for each of %v", ticks, want)
	}
	q := e.stats("cron")
	if total := q.Pending + q.Scheduled + q.Active + q.Completed; total != int64(len(ticks)) {
		t.Errorf("queue holds %d jobs for %d ticks: %+v", total, len(ticks), q)
	}
	job := e.get(queue.TickJobID(sched.Name, first))
	if job.Type != "tick" || string(job.Payload) != `{"n":1}` || job.Queue != "cron" || job.State != queue.StatePending {
		t.Errorf("tick job = %+v", job)
	}
	last := want[len(want)-1]
	if s, _ := scheduleState(t, scheduleStore(t, e.broker), sched.Name); !s.LastRun.Equal(last) || s.LastJobID != queue.TickJobID(sched.Name, last) {
		t.Errorf("state = %+v, want last run %s", s, last)
	}
}

func testSchedulerCatchUp(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	st := scheduleStore(t, e.broker)
	now := time.Now().UTC()
	thisYear := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	longAgo := thisYear.AddDate(-3, 0, 0)
	// "a-skip" sorts before "b-catch": once b-catch's catch-up is in, a-skip was decided.
	for _, name := range []string{"a-skip", "b-catch", "c-disabled"} {
		if err := st.RecordScheduleRun(e.ctx, name, longAgo, queue.TickJobID(name, longAgo)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetScheduleEnabled(e.ctx, "c-disabled", false); err != nil {
		t.Fatal(err)
	}
	cfg := queue.SchedulerConfig{Schedules: []queue.Schedule{
		{Name: "a-skip", Spec: "@yearly", Type: "y", CatchUp: false},
		{Name: "b-catch", Spec: "@yearly", Type: "y", CatchUp: true},
		{Name: "c-disabled", Spec: "@yearly", Type: "y", CatchUp: true},
		{Name: "d-new", Spec: "@yearly", Type: "y", CatchUp: true}, // no state: nothing to catch up
	}}
	// Two schedulers start together: the missed tick is still enqueued once.
	runScheduler(t, e.broker, cfg)
	runScheduler(t, e.broker, cfg)
	want := queue.TickJobID("b-catch", thisYear)
	e.waitState(want, queue.StatePending)
	eventually(t, 10*time.Second, func() bool {
		s, _ := scheduleState(t, st, "b-catch")
		return s.LastRun.Equal(thisYear)
	}, func() string { s, _ := scheduleState(t, st, "b-catch"); return fmt.Sprintf("b-catch state %+v", s) })
	if s := e.stats(queue.DefaultQueue); s.Pending != 1 {
		t.Fatalf("pending = %d, want only the caught-up tick (%+v)", s.Pending, s)
	}
	for _, name := range []string{"a-skip", "c-disabled"} {
		if s, _ := scheduleState(t, st, name); !s.LastRun.Equal(longAgo) {
			t.Errorf("%s: last run moved to %s", name, s.LastRun)
		}
	}
	if s, ok := scheduleState(t, st, "d-new"); ok {
		t.Errorf("d-new got a state %+v", s)
	}
}

func testSchedulerEnableDisable(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	st := scheduleStore(t, e.broker)
	if err := st.SetScheduleEnabled(e.ctx, "off-in-broker", false); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	cfg := queue.SchedulerConfig{Clock: clk, Schedules: []queue.Schedule{
		{Name: "control", Spec: "* * * * * *", Type: "t"},
		{Name: "off-in-broker", Spec: "* * * * * *", Type: "t"},
		{Name: "off-in-config", Spec: "* * * * * *", Type: "t", Disabled: true},
	}}
	s, _ := runScheduler(t, e.broker, cfg)
	step(t, clk, 1)
	step(t, clk, 1)
	if n := len(tickJobs(t, e, queue.DefaultQueue, "control")); n != 2 {
		t.Fatalf("the control schedule ticked %d times in two seconds", n)
	}
	for _, name := range []string{"off-in-broker", "off-in-config"} {
		if n := len(tickJobs(t, e, queue.DefaultQueue, name)); n != 0 {
			t.Fatalf("disabled schedule %s enqueued %d jobs", name, n)
		}
	}
	infos, err := s.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 || !infos[0].Enabled || infos[1].Enabled || infos[2].Enabled ||
		!infos[0].NextRun.Equal(clk.Now().Truncate(time.Second).Add(time.Second)) || !infos[1].NextRun.IsZero() ||
		infos[0].LastJobState != queue.StatePending {
		t.Fatalf("list = %+v", infos)
	}
	// Enabling (here through another process's view: the broker) starts both; disabling the
	// control stops it, from the next tick on.
	for name, on := range map[string]bool{"off-in-broker": true, "off-in-config": true, "control": false} {
		if err := s.SetEnabled(e.ctx, name, on); err != nil {
			t.Fatal(err)
		}
	}
	disabledAt := clk.Now()
	for range 3 {
		step(t, clk, 1)
	}
	for _, name := range []string{"off-in-broker", "off-in-config"} {
		if n := len(tickJobs(t, e, queue.DefaultQueue, name)); n != 3 {
			t.Errorf("enabled schedule %s ticked %d times in three seconds", name, n)
		}
	}
	if c := tickJobs(t, e, queue.DefaultQueue, "control"); len(c) != 2 || c[1].After(disabledAt) {
		t.Fatalf("disabled control schedule went on: disabled at %s, ticks %v", disabledAt, c)
	}
	if err := s.SetEnabled(e.ctx, "nope", true); err == nil || !strings.Contains(err.Error(), `unknown schedule "nope"`) {
		t.Fatalf("SetEnabled of an unknown schedule: %v", err)
	}
}

func testSchedulerRunNow(t *testing.T, nb NewBroker) {
	e := newEnv(t, nb)
	cfg := queue.SchedulerConfig{Schedules: []queue.Schedule{
		{Name: "report", Spec: "0 9 * * 1", TimeZone: "Europe/Berlin", Queue: "reports", Type: "generate_weekly_report",
			Payload: []byte(`{}`), Options: []queue.Option{queue.MaxRetries(1)}},
	}}
	s, err := queue.NewScheduler(e.broker, cfg)
	if err != nil {
		t.Fatal(err)
	}
	job, err := s.RunNow(e.ctx, "report")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(job.ID, "report:run:") {
		t.Fatalf("manual run id %s", job.ID)
	}
	got := e.get(job.ID)
	if got.Queue != "reports" || got.Type != "generate_weekly_report" || got.MaxRetries != 1 || got.State != queue.StatePending {
		t.Fatalf("manual run job = %+v", got)
	}
	// A manual run is no tick: the state's last tick stays unset, and the run is kept apart.
	st, _ := scheduleState(t, scheduleStore(t, e.broker), "report")
	if !st.LastRun.IsZero() || st.LastManualJobID != job.ID || st.LastManualRun.Sub(job.EnqueuedAt).Abs() >= time.Millisecond {
		t.Fatalf("after a manual run: state %+v, want no tick and manual run %s at %s", st, job.ID, job.EnqueuedAt)
	}
	// Listed as the last run, marked manual, with its job's state.
	infos, err := s.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := infos[0]; !i.LastRunManual || i.LastJobID != job.ID || i.LastRun.IsZero() || i.LastJobState != queue.StatePending {
		t.Fatalf("list after a manual run: %+v", i)
	}
	// A later tick is the last run again.
	if err := scheduleStore(t, e.broker).RecordScheduleRun(e.ctx, "report", time.Now().Add(time.Hour), "report:tick"); err != nil {
		t.Fatal(err)
	}
	if infos, err = s.List(e.ctx); err != nil || infos[0].LastRunManual || infos[0].LastJobID != "report:tick" {
		t.Fatalf("list after a later tick: %+v, %v", infos, err)
	}
	next := infos[0].NextRun.In(infos[0].NextRun.Location())
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if local := next.In(berlin); local.Weekday() != time.Monday || local.Hour() != 9 || local.Minute() != 0 || !next.After(time.Now()) {
		t.Fatalf("next run %s, want a coming Monday 09:00 Berlin time", next)
	}
	if _, err := s.RunNow(e.ctx, "nope"); err == nil || !strings.Contains(err.Error(), `unknown schedule "nope"`) {
		t.Fatalf("RunNow of an unknown schedule: %v", err)
	}
}
