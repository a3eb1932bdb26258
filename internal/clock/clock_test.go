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
