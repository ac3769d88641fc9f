package main

import (
	"os/exec"
	"syscall"

	"github.com/chairside/chairside/internal/childproc"
)

// dieWithDemo makes the kernel send cmd SIGTERM when the demo dies, however
// it dies (killed, or its stdout closed under it): no chairside or vitalsim
// is left running.
func dieWithDemo(cmd *exec.Cmd) { childproc.DieWithParent(cmd, syscall.SIGTERM) }
