//go:build !linux

package testenv

import "os/exec"

// dieWithParent does nothing where the parent-death signal does not exist: a crashed test
// binary may leave its redis-server running there.
func dieWithParent(*exec.Cmd) {}
