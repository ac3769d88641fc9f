package main

import (
	"os/exec"
	"syscall"
)

// dieWithDemo makes the kernel send cmd SIGTERM when the demo dies, however
// it dies (killed, or its stdout closed under it): no chairside or vitalsim
// is left running. Pdeathsig follows the thread that started the child; the
// demo locks none, so its threads live as long as it does.
func dieWithDemo(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
