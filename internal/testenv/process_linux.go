package testenv

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the server get SIGKILL when the test process dies, so that a test
// binary that crashes (a panic, a timeout) leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
