package queue_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
	"github.com/codex-dominion/dominion/queue/queuetest"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	good := map[string]queue.Rate{
		"100/s": {N: 100, Per: time.Second}, "5/m": {N: 5, Per: time.Minute}, "1/h": {N: 1, Per: time.Hour},
		"10/500ms": {N: 10, Per: 500 * time.Millisecond}, "": {},
	}
	for in, want := range good {
		got, err := queue.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := queue.ParseRate(got.String()); back != got {
			t.Errorf("%q does not read back as %v", got.String(), got)
		}
	}
	for _, bad := range []string{"100", "0/s", "-1/s", "x/s", "10/parsec", "10/0s", "1/48h", "2000000/s", "1000000/100ms"} {
		if _, err := queue.ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) was accepted", bad)
		}
	}
}

func TestLimitCheck(t *testing.T) {
	t.Parallel()
	bad := []queue.QueueLimits{
		{Queue: queue.Limit{Concurrency: -1}},
		{Queue: queue.Limit{Burst: 3}},
		{Queue: queue.Limit{Rate: queue.Rate{N: 1}}},
		{Keys: map[string]queue.Limit{"a{b}": {Concurrency: 1}}},
		{Types: map[string]queue.Limit{"": {Concurrency: 1}}},
	}
	for _, l := range bad {
		if l.Check() == nil {
			t.Errorf("%+v was accepted", l)
		}
	}
	ok := queue.QueueLimits{Queue: queue.Limit{Rate: queue.Rate{N: 1, Per: time.Second}, Burst: 2}, Keys: map[string]queue.Limit{"": {Concurrency: 1}}}
	if err := ok.Check(); err != nil {
		t.Error(err)
	}
}

func TestForKey(t *testing.T) {
	t.Parallel()
	l := queue.QueueLimits{
		Keys:  map[string]queue.Limit{"": {Concurrency: 9}, "customer:": {Concurrency: 2}, "customer:vip:": {Concurrency: 5}},
		Types: map[string]queue.Limit{"email": {Concurrency: 1}},
	}
	cases := []struct {
		typ, key string
		want     int
		found    bool
	}{
		{"x", "", 0, false}, {"x", "other", 9, true}, {"x", "customer:1", 2, true},
		{"x", "customer:vip:1", 5, true}, {"email", "customer:1", 1, true}, {"email", "", 1, true},
	}
	for _, c := range cases {
		got, found := l.ForKey(c.typ, c.key)
		if found != c.found || got.Concurrency != c.want {
			t.Errorf("ForKey(%q, %q) = %d, %v; want %d, %v", c.typ, c.key, got.Concurrency, found, c.want, c.found)
		}
	}
	if a, b := queue.CountKey("email", ""), queue.CountKey("x", "email"); a != "@email" || b != "email" {
		t.Errorf("CountKey: %q and %q, want @email and email", a, b)
	}
}

// TestAdmit: starts are spaced one interval apart, a burst lets that many more through after a
// quiet spell, and a start refused is told when it may run.
func TestAdmit(t *testing.T) {
	t.Parallel()
	l := queue.Limit{Rate: queue.Rate{N: 10, Per: time.Second}, Burst: 2}
	now := time.Unix(1000, 0)
	var st queue.RateState
	var at time.Time
	for i := range 3 {
		if at, st = l.Admit(st, now); !at.Equal(now) {
			t.Fatalf("start %d of the burst allowed at %s, want now", i, at.Sub(now))
		}
	}
	if at, _ = l.Admit(st, now); at.Sub(now) != 100*time.Millisecond {
		t.Fatalf("start after the burst allowed in %s, want 100ms", at.Sub(now))
	}
}

// TestAdmitLateWorkers: with no burst, workers that come up to an interval late at every start
// (random lateness, a quiet spell now and then) lose little time, and no one-period window
// ever holds more than N starts; a burst allows N + burst. (A limit of 1 per period must lose
// the lateness: each start is one period after the one before.)
func TestAdmitLateWorkers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rate     queue.Rate
		burst    int
		maxLate  time.Duration
		minRatio float64
	}{
		{queue.Rate{N: 10, Per: time.Second}, 0, 5 * time.Millisecond, 0.99},
		{queue.Rate{N: 100, Per: time.Second}, 0, 3 * time.Millisecond, 0.99},
		{queue.Rate{N: 100, Per: time.Second}, 0, 9 * time.Millisecond, 0.98},
		{queue.Rate{N: 1, Per: time.Second}, 0, 100 * time.Millisecond, 0.9},
		{queue.Rate{N: 100, Per: time.Second}, 10, 3 * time.Millisecond, 0.99},
	} {
		l := queue.Limit{Rate: c.rate, Burst: c.burst}
		rng := rand.New(rand.NewPCG(1, uint64(c.rate.N+c.burst)))
		var st queue.RateState
		now := time.Unix(1000, 0)
		var starts []time.Time
		const n = 3000
		for len(starts) < n {
			at, next := l.Admit(st, now)
			if at.After(now) { // a worker waits for the slot and comes late
				now = at.Add(time.Duration(rng.Int64N(int64(c.maxLate) + 1)))
				continue
			}
			st = next
			starts = append(starts, now)
			if rng.IntN(200) == 0 { // a quiet spell
				now = now.Add(3 * c.rate.Per)
			}
		}
		worst := queuetest.MaxInWindow(starts, c.rate.Per)
		gaps, busy := busyGaps(starts, c.rate.Per)
		ratio := float64(gaps) * float64(c.rate.Interval()) / float64(busy)
		t.Logf("%s burst %d, late up to %s: achieved %.3f of the rate, worst period %d", c.rate, c.burst, c.maxLate, ratio, worst)
		if worst > c.rate.N+c.burst {
			t.Errorf("%s burst %d, late up to %s: %d starts in one period", c.rate, c.burst, c.maxLate, worst)
		}
		if ratio < c.minRatio || ratio > 1.0001 && c.burst == 0 {
			t.Errorf("%s burst %d, late up to %s: achieved %.3f of the rate, want %.2f to 1", c.rate, c.burst, c.maxLate, ratio, c.minRatio)
		}
	}
}

// busyGaps returns how many gaps between starts are shorter than 3 periods (no quiet spell)
// and their sum.
func busyGaps(starts []time.Time, per time.Duration) (n int, sum time.Duration) {
	for i := 1; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-1]); d < 3*per {
			n, sum = n+1, sum+d
		}
	}
	return n, sum
}

// TestAdmitWindow: whatever the lateness of the workers (none, just under an interval, up to
// two, with pauses between starts), no one-period window holds more than N starts with no
// burst, for limits of 1 to 20 per second whose interval is not a whole number of nanoseconds.
func TestAdmitWindow(t *testing.T) {
	t.Parallel()
	for seed := range 100 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		n := 1 + rng.IntN(20)
		l := queue.Limit{Rate: queue.Rate{N: n, Per: time.Second}}
		T := l.Rate.Interval()
		lateness := []func() time.Duration{
			func() time.Duration { return 0 },
			func() time.Duration { return T - time.Duration(rng.Int64N(int64(T)/10+1)) },
			func() time.Duration { return time.Duration(rng.Int64N(int64(2 * T))) },
			func() time.Duration { return time.Duration(rng.Int64N(int64(T))) },
		}
		var st queue.RateState
		now := time.Unix(1000, 0)
		var starts []time.Time
		for len(starts) < 2000 {
			at, next := l.Admit(st, now)
			if at.After(now) {
				now = at.Add(lateness[rng.IntN(len(lateness))]())
				continue
			}
			st = next
			starts = append(starts, now)
			if rng.IntN(3) == 0 {
				now = now.Add(time.Duration(rng.Int64N(int64(T))))
			}
		}
		if w := queuetest.MaxInWindow(starts, time.Second); w > n {
			t.Fatalf("seed %d: %d starts in one second at %d/s", seed, w, n)
		}
	}
}
