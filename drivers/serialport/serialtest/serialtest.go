//go:build linux

// Package serialtest gives serial drivers' tests a real pseudo-terminal to
// stand in for a sensor: the test (or a device model) writes the master, the
// driver opens the slave path through serialport exactly as it would open
// /dev/ttyUSB0, and closing the master looks to the driver like an unplug.
//
// Drivers are configured with a /dev/serial/by-id link, which udev points at
// the device when it appears and removes when it goes away. Tests play udev
// with Link and Unlink on a symlink of their own (in t.TempDir()). An unplug
// and replug is
//
//	serialtest.Unlink(t, link) // the device goes away: so does its link
//	pt1.Unplug()
//	pt2 := serialtest.New(t)
//	serialtest.Link(t, link, pt2.Name)
//
// Do not leave the link pointing at an unplugged PTY: the kernel hands its
// /dev/pts number to the next pseudo-terminal opened on the machine (another
// test, another process), and a driver reopening the stale link would open
// that stranger's terminal. Unlinking first, as above, leaves no moment in
// which the link names a freed number.
package serialtest

import (
	"errors"
	"fmt"
	"io/fs"
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
// error, as when a USB adapter is pulled. Safe to call more than once. Unlink
// a link to the PTY before (see the package comment).
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

// Unlink removes the symlink at path, the way udev removes a
// /dev/serial/by-id link when the device goes away: a driver reopening path
// then gets "no such file" until Link makes it again. A missing link is not
// an error; anything at path other than a symlink is (Unlink never removes a
// real file).
func Unlink(tb testing.TB, path string) {
	tb.Helper()
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		tb.Fatalf("serialtest: unlink %s: %v", path, err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		tb.Fatalf("serialtest: unlink %s: not a symlink (%v)", path, fi.Mode())
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("serialtest: unlink %s: %v", path, err)
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
