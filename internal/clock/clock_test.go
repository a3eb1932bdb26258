package clock

import (
	"testing"
	"time"
)

func TestFakeFiresTimersWhenAdvanced(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	tm := f.NewTimer(time.Second)
	if f.Armed() != 1 {
		t.Fatalf("armed %d, want 1", f.Armed())
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-tm.C(); !got.Equal(start.Add(time.Second)) || f.Armed() != 0 {
		t.Fatalf("fired at %s, armed %d", got, f.Armed())
	}
	tm.Reset(time.Minute)
	tm.Stop()
	f.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if !f.WaitArmed(0, nil) {
		t.Fatal("WaitArmed(0)")
	}
}

func TestAtMost(t *testing.T) {
	t.Parallel()
	f := NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	done := make(chan struct{})
	got := make(chan bool)
	go func() { got <- AtMost(f, done, time.Second) }()
	if !f.WaitArmed(1, nil) {
		t.Fatal("AtMost armed no timer")
	}
	f.Advance(time.Second)
	if <-got {
		t.Fatal("AtMost reported done after its time ran out")
	}
	close(done)
	if !AtMost(f, done, time.Second) {
		t.Fatal("AtMost did not report done closed")
	}
	if f.Armed() != 0 {
		t.Fatalf("AtMost left %d timers armed", f.Armed())
	}
}
