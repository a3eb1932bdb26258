package testenv

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the server get sig when the test process dies, so that a test binary
// that crashes (a panic, a timeout) leaves no server behind.
func dieWithParent(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
}
