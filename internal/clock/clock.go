// Package clock is the time as the scheduler and the workflow engine read it: Now, and
// timers. Real is the wall clock; Fake is a clock a test sets and advances, firing the timers
// that fall due, so that a test of a one-second schedule takes no real second. AtMost is the
// one bounded wait for a channel, on either.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once d has passed.
	NewTimer(d time.Duration) Timer
}

// Timer is a time.Timer of a Clock.
type Timer interface {
	// C is the channel the time is sent on.
	C() <-chan time.Time
	// Reset makes the timer fire d from now (as time.Timer.Reset, Go 1.23 semantics: no
	// stale value is received after it).
	Reset(d time.Duration)
	// Stop stops the timer.
	Stop()
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

// OrReal returns c, or the wall clock when c is nil.
func OrReal(c Clock) Clock {
	if c == nil {
		return realClock{}
	}
	return c
}

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }

// AtMost waits until done is closed or d has passed on clock c, and reports whether done was
// closed: a bounded wait for a call that nothing depends on (a stopping worker's last
// heartbeat, a canceled fetch's answer from a Redis that may hang).
func AtMost(c Clock, done <-chan struct{}, d time.Duration) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C():
		return false
	}
}

// Fake is a Clock that moves only when told (Set, Advance). Its methods are safe for
// concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*fakeTimer]struct{} // armed timers
	changed chan struct{}           // closed and replaced when the armed timers change
}

// NewFake returns a Fake clock reading now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, timers: map[*fakeTimer]struct{}{}, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the time forward by d and fires the timers that fall due, in order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	var due []*fakeTimer
	for t := range f.timers {
		if !t.at.After(f.now) {
			due = append(due, t)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		f.fire(t)
	}
}

// Armed returns the number of timers waiting to fire.
func (f *Fake) Armed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// WaitArmed blocks until exactly n timers wait to fire (the goroutines under test are
// asleep), or until stop is closed; it reports whether n were reached.
func (f *Fake) WaitArmed(n int, stop <-chan struct{}) bool {
	for {
		f.mu.Lock()
		armed, changed := len(f.timers), f.changed
		f.mu.Unlock()
		if armed == n {
			return true
		}
		select {
		case <-changed:
		case <-stop:
			return false
		}
	}
}

// fire sends the time on t and disarms it; f.mu is held.
func (f *Fake) fire(t *fakeTimer) {
	select {
	case t.c <- f.now:
	default:
	}
	f.disarm(t)
}

// disarm removes t from the armed timers; f.mu is held.
func (f *Fake) disarm(t *fakeTimer) {
	if _, ok := f.timers[t]; ok {
		delete(f.timers, t)
		f.signal()
	}
}

// signal wakes WaitArmed; f.mu is held.
func (f *Fake) signal() {
	close(f.changed)
	f.changed = make(chan struct{})
}

type fakeTimer struct {
	f  *Fake
	c  chan time.Time
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disarm(t)
	select { // drop a value not received, as time.Timer does since Go 1.23
	case <-t.c:
	default:
	}
	t.at = f.now.Add(d)
	if d <= 0 {
		f.fire(t)
		return
	}
	f.timers[t] = struct{}{}
	f.signal()
}

func (t *fakeTimer) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.disarm(t)
}
