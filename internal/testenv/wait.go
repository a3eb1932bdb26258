package testenv

import (
	"errors"
	"testing"
	"time"
)

// errExited is returned by pollReady when the server's process exited before it was ready.
var errExited = errors.New("exited at start-up")

// pollReady calls ping until it succeeds, the server's process exits (exited is closed) or
// timeout passes, waiting 1 ms between the first tries and up to 50 ms later. It returns nil,
// errExited, or ping's last error.
func pollReady(ping func() error, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		err := ping()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errExited
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-exited:
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// Eventually polls cond, with the back-off of the servers' readiness checks, until it returns
// nil; after within it fails the test with cond's last error, which should say what was
// awaited and what was seen instead.
func Eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	if err := pollReady(cond, nil, within); err != nil {
		t.Fatalf("after %s: %v", within, err)
	}
}
