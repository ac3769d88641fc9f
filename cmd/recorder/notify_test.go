package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/internal/childproc"
)

// TestSystemdNotify: the unit is Type=notify with a watchdog, so the
// recorder must say READY=1 once it runs, feed the watchdog with a STATUS
// line while its ingest turns, and say STOPPING=1 at SIGTERM.
func TestSystemdNotify(t *testing.T) {
	m := broker(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := writeConfig(t, "notify", "sqlite:"+filepath.Join(dir, "records.db"), m.PlainURL(), "")
	cmd := exec.Command(binPath, "-config", cfg)
	childproc.DieWithParent(cmd, syscall.SIGKILL)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=90000000")
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	read := func(within time.Duration) string {
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(within))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification from the recorder: %v\n%s", err, log.String())
		}
		return string(buf[:n])
	}
	if first := read(15 * time.Second); !strings.Contains(first, "READY=1") {
		t.Fatalf("first notification %q, want READY=1", first)
	}
	if _, err := os.Stat(filepath.Join(dir, "records.db")); err != nil {
		t.Errorf("READY=1 before the archive exists: %v", err)
	}
	if msg := read(10 * time.Second); !strings.Contains(msg, "WATCHDOG=1") || !strings.Contains(msg, "STATUS=0 records stored") {
		t.Errorf("second notification %q, want WATCHDOG=1 with a STATUS line", msg)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for {
		if msg := read(5 * time.Second); strings.Contains(msg, "STOPPING=1") {
			break
		}
	}
	cmd.Wait()
}
