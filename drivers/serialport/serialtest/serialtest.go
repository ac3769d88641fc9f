// Package serialtest gives serial drivers' tests a real pseudo-terminal to
// stand in for a sensor: the test (or a device model) writes the master, the
// driver opens the slave path through serialport exactly as it would open
// /dev/ttyUSB0, and closing the master looks to the driver like an unplug.
package serialtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is one pseudo-terminal pair.
type PTY struct {
	Master *os.File // the sensor's end: write frames here, read commands here
	Name   string   // the slave's path, /dev/pts/N: what the driver opens

	slave *os.File // held open so the line settings stay raw until the driver opens it
	once  sync.Once
}

// New opens a pseudo-terminal pair in raw mode (no echo, no line editing:
// bytes written to the master before the driver has opened the slave are kept
// as they are) and closes it when the test ends.
func New(tb testing.TB) *PTY {
	tb.Helper()
	m, s, err := pty.Open()
	if err != nil {
		tb.Fatalf("serialtest: open pty: %v", err)
	}
	if err := makeRaw(s); err != nil {
		_ = m.Close()
		_ = s.Close()
		tb.Fatalf("serialtest: raw mode on %s: %v", s.Name(), err)
	}
	p := &PTY{Master: m, Name: s.Name(), slave: s}
	tb.Cleanup(p.Unplug)
	return p
}

// Unplug closes both ends: a driver reading the slave then gets an unplug
// error, as when a USB adapter is pulled. Safe to call more than once.
func (p *PTY) Unplug() {
	p.once.Do(func() {
		_ = p.Master.Close()
		_ = p.slave.Close()
	})
}

// Link makes (or atomically re-points) the symlink at path to target, the way
// udev maintains /dev/serial/by-id links across a replug.
func Link(tb testing.TB, path, target string) {
	tb.Helper()
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.tmp", filepath.Base(path)))
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		tb.Fatalf("serialtest: symlink: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatalf("serialtest: re-point %s: %v", path, err)
	}
}

// makeRaw is cfmakeraw(3) on f's terminal.
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
