package childproc

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestChildDiesWithParent starts a parent (this test binary, re-run as a
// helper) that starts a sleeping child with DieWithParent and then exits: the
// child must be gone soon after.
func TestChildDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only")
	}
	if os.Getenv("CHILDPROC_PARENT") == "1" {
		child := exec.Command("sleep", "60")
		DieWithParent(child, syscall.SIGKILL)
		if err := child.Start(); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(child.Process.Pid) + "\n")
		os.Exit(0) // the child is not waited for: the kernel must end it
	}
	parent := exec.Command(os.Args[0], "-test.run", "^TestChildDiesWithParent$")
	parent.Env = append(os.Environ(), "CHILDPROC_PARENT=1")
	out, err := parent.Output()
	if err != nil {
		t.Fatalf("parent: %v", err)
	}
	pid, err := strconv.Atoi(string(out[:len(out)-1]))
	if err != nil {
		t.Fatalf("parent printed %q, not a pid", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// A killed child that nobody waits for is a zombie until init reaps
		// it; /proc/<pid>/stat says Z. Either way it no longer runs.
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || zombie(string(b)) {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still running 5 s after its parent exited", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func zombie(stat string) bool {
	for i := len(stat) - 1; i > 0; i-- {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2] == 'Z' || stat[i+2] == 'X'
		}
	}
	return false
}
