//go:build !linux

package childproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent has no portable equivalent of Linux's Pdeathsig: elsewhere
// children are stopped only by their parent's own shutdown.
func DieWithParent(*exec.Cmd, syscall.Signal) {}
