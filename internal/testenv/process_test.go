//go:build unix

package testenv

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessShowsLogTailWhenItExitsAtStartUp checks that a server that dies before it is
// ready fails Start at once (not after StartTimeout) with the end of its output.
func TestProcessShowsLogTailWhenItExitsAtStartUp(t *testing.T) {
	t.Parallel()
	p := &Process{
		Name:         "broken server",
		Command:      func() *exec.Cmd { return exec.Command("sh", "-c", "echo cannot bind port >&2; exit 3") },
		Log:          filepath.Join(t.TempDir(), "server.log"),
		Ready:        func() error { return errors.New("not answering") },
		StartTimeout: time.Minute,
	}
	start := time.Now()
	err := p.Start()
	if err == nil || !strings.Contains(err.Error(), "exited at start-up") || !strings.Contains(err.Error(), "cannot bind port") {
		t.Fatalf("Start = %v, want an exit at start-up with the log's end", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Start took %s: it waited for the timeout instead of the exit", took)
	}
}

// TestProcessStopEscalates checks that Stop sends its signals in turn and kills a process
// that ignores them, and that Wait reports the exit.
func TestProcessStopEscalates(t *testing.T) {
	t.Parallel()
	p := StartProcess(t, &Process{
		Name: "stubborn",
		Command: func() *exec.Cmd {
			return exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done")
		},
		Log: filepath.Join(t.TempDir(), "stubborn.log"),
	})
	Until(t, 30*time.Second, "the process to start", func() bool { return strings.Contains(p.Output(), "ready") })
	if code := p.Stop(200*time.Millisecond, syscall.SIGTERM); code != -1 || p.Running() {
		t.Fatalf("Stop = %d, running %t: want killed", code, p.Running())
	}
	if _, exited := p.Wait(time.Second); !exited {
		t.Fatal("Wait after Stop: still running")
	}
}
