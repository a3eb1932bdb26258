package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is one server process that a test runs (redis-server, postgres, prometheus, a
// dominion binary): its output goes to a log file, Start waits until it is ready, and Stop
// ends it with a signal and, after a grace time, SIGKILL. Every server a test starts is run
// with it, so that starting, waiting, showing the log and stopping exist once. Its methods
// are safe for concurrent use.
type Process struct {
	// Name names the process in errors ("redis-server on port 6379").
	Name string
	// Command returns a new, unstarted command for each Start; Process sets its Stdout and
	// Stderr (to the log file) and its parent-death signal.
	Command func() *exec.Cmd
	// Log is the file the output is appended to.
	Log string
	// Ready is called until it returns nil, the process exits or StartTimeout passes (nil:
	// ready once started).
	Ready        func() error
	StartTimeout time.Duration
	// DeathSignal is what the process gets when the test process dies (Linux only; default
	// SIGKILL), so that a crashed test binary leaves no server behind.
	DeathSignal syscall.Signal

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the running process has exited
}

// StartProcess starts p (see Start) and stops it with SIGKILL when the test ends; when the
// test failed, the end of the log is logged.
func StartProcess(t testing.TB, p *Process) *Process {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, p)
	return p
}

// stopAtEnd stops the started p with SIGKILL when the test ends and, when the test failed,
// logs the end of its log.
func stopAtEnd(t testing.TB, p *Process) {
	t.Cleanup(func() {
		p.Stop(stopTimeout, syscall.SIGKILL)
		if t.Failed() || os.Getenv("DOMINION_TEST_VERBOSE") != "" {
			t.Logf("%s output:\n%s", p.Name, p.Output())
		}
	})
}

// Start starts the process (again, after Stop) and waits until it is ready; if it is not,
// it is killed and the error holds the end of its log. Starting a running process is an
// error.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running() {
		return fmt.Errorf("testenv: %s is already running", p.Name)
	}
	log, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: %s: %w", p.Name, err)
	}
	defer log.Close() // the child has its own descriptor
	cmd := p.Command()
	cmd.Stdout, cmd.Stderr = log, log
	sig := p.DeathSignal
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	dieWithParent(cmd, sig)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	if err := p.waitReady(done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return err
	}
	return nil
}

// waitReady polls Ready until it succeeds, the process exits, or StartTimeout passes.
func (p *Process) waitReady(exited <-chan struct{}) error {
	if p.Ready == nil {
		return nil
	}
	err := pollReady(p.Ready, exited, p.StartTimeout)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errExited):
		return fmt.Errorf("testenv: %s exited at start-up: %s", p.Name, p.LogTail())
	}
	return fmt.Errorf("testenv: %s not ready after %s: %w; log: %s", p.Name, p.StartTimeout, err, p.LogTail())
}

// Running reports whether the last started process is still alive.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running()
}

// running is Running with p.mu held.
func (p *Process) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the running process (nothing when it is not running).
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("testenv: signal %s to %s: %w", sig, p.Name, err)
	}
	return nil
}

// Wait waits up to within for the last started process to exit and returns its exit code
// (-1 when a signal ended it); exited is false when it still runs.
func (p *Process) Wait(within time.Duration) (code int, exited bool) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if done == nil {
		return 0, true
	}
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), true
	case <-t.C:
		return 0, false
	}
}

// Stop sends each of sigs in turn, waiting up to grace after each for the process to exit,
// then SIGKILL, and returns the exit code (-1 when a signal ended it). Stopping a stopped
// process does nothing.
func (p *Process) Stop(grace time.Duration, sigs ...syscall.Signal) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return 0
	}
	for _, sig := range sigs {
		if !p.running() {
			break
		}
		_ = p.cmd.Process.Signal(sig)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
		}
		t.Stop()
	}
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// Output returns everything the process wrote to its log.
func (p *Process) Output() string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

// LogTail returns the end of the log, for error messages.
func (p *Process) LogTail() string { return logTail(p.Log) }

// logTail returns the last 2000 bytes of the file at path.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another process may
// take it before the test binds it: a server started on it should be retried on a new port
// when it cannot bind (the servers of this package are).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr returns 127.0.0.1:PORT for a free port (see FreePort), failing the test when
// there is none.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
}
