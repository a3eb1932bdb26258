//go:build unix

package testenv

import (
	"syscall"
	"testing"
)

// Freeze stops the server with SIGSTOP: it keeps its connections but answers nothing, as a
// server that hangs (or a network that drops everything) would, until Thaw. The test's
// cleanup thaws it, so that it can be stopped.
func (r *Redis) Freeze(t testing.TB) {
	t.Helper()
	if err := r.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("freeze redis-server: %v", err)
	}
	t.Cleanup(r.Thaw)
}

// Thaw resumes a server stopped by Freeze (SIGCONT); on a running server it does nothing.
func (r *Redis) Thaw() { _ = r.proc.Signal(syscall.SIGCONT) }
