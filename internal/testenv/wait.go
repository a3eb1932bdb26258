package testenv

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Poll calls cond until it returns true, ctx is done or within has passed, waiting 1 ms
// between the first tries and up to 50 ms later (a polling interval, not synchronisation:
// cond decides). It reports whether cond held.
func Poll(ctx context.Context, within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	delay := time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		timer.Reset(min(delay, time.Until(deadline)))
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// Eventually fails the test unless cond returns nil within the given time (polled as Poll
// does); the failure message is cond's last error.
func Eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	if err := pollReady(cond, nil, within); err != nil {
		t.Fatalf("after %s: %v", within, err)
	}
}

// Until fails the test unless cond holds within the given time (polled as Poll does). what
// says what was awaited; last, when given, describes the state seen at the end, for the
// failure message. Every test waits with it, Eventually or Poll rather than its own loop.
func Until(t testing.TB, within time.Duration, what string, cond func() bool, last ...func() string) {
	t.Helper()
	if Poll(context.Background(), within, cond) {
		return
	}
	msg := what
	for _, l := range last {
		msg += ": " + l()
	}
	t.Fatalf("not within %s: %s", within, msg)
}

// errExited is returned by pollReady when the server's process exited before it was ready.
var errExited = errors.New("exited at start-up")

// pollReady calls ping until it succeeds, the server's process exits (exited is closed) or
// timeout passes (see Poll). It returns nil, errExited, or ping's last error.
func pollReady(ping func() error, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	var err error
	if Poll(ctx, timeout, func() bool { err = ping(); return err == nil }) {
		return nil
	}
	select {
	case <-exited:
		return errExited
	default:
		return err
	}
}
