package queue_test

import (
	"testing"
	"time"

	"github.com/codex-dominion/dominion/queue"
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
	var tat time.Time
	var at time.Time
	for i := range 3 {
		if at, tat = l.Admit(tat, now); !at.Equal(now) {
			t.Fatalf("start %d of the burst allowed at %s, want now", i, at.Sub(now))
		}
	}
	if at, _ = l.Admit(tat, now); at.Sub(now) != 100*time.Millisecond {
		t.Fatalf("start after the burst allowed in %s, want 100ms", at.Sub(now))
	}
}
