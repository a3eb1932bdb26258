//go:build !unix

package testenv

import "testing"

// Freeze skips the test: there is no SIGSTOP on this system.
func (r *Redis) Freeze(t testing.TB) {
	t.Helper()
	t.Skip("freezing redis-server needs SIGSTOP")
}

// Thaw does nothing on this system.
func (r *Redis) Thaw() {}
