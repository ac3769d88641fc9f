package childproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes the kernel send sig to cmd's process when the parent
// dies, however it dies. Pdeathsig follows the OS thread that started the
// child; Go programs that lock no thread keep their threads for life. Call it
// before cmd.Start; it keeps any SysProcAttr already set.
func DieWithParent(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
}
