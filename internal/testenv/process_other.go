//go:build !linux

package testenv

import (
	"os/exec"
	"syscall"
)

// dieWithParent does nothing where the parent-death signal does not exist: a crashed test
// binary may leave its server running there.
func dieWithParent(*exec.Cmd, syscall.Signal) {}
