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
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
	if m, err = pollable(m); err != nil {
		_ = s.Close()
		tb.Fatalf("serialtest: %v", err)
	}
	p := &PTY{Master: m, Name: s.Name(), slave: s}
	tb.Cleanup(p.Unplug)
	return p
}

// pollable replaces f by a copy that the Go runtime polls. pty.Open hands
// the master back in blocking mode (it asks for the descriptor), and a Read
// blocked on a blocking descriptor keeps it open through Close: a device
// model waiting for commands would then delay the unplug until the driver
// next wrote to it (a CMS50's keep-alive, a second later).
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("non-blocking %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
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

// Opened is a slog handler for a driver's logger that sends on its channel
// (without waiting) the time serialport logs that it opened a port: for
// benchmarks that time a reopen after an unplug.
type Opened chan time.Time

// Enabled takes every level: the line is logged at Info.
func (h Opened) Enabled(context.Context, slog.Level) bool { return true }

// Handle sends the time of a "serial port opened" record.
func (h Opened) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "serial port opened" {
		select {
		case h <- time.Now():
		default:
		}
	}
	return nil
}

// WithAttrs is h: attributes do not matter here.
func (h Opened) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup is h.
func (h Opened) WithGroup(string) slog.Handler { return h }

// Reopen is a driver's reopen benchmark: how long a sensor that had been
// working is out after an unplug and an immediate replug, from the moment
// the new device appears behind the same by-id link to the port being open
// (ms-open/op) and to the first reading at the sink (ms-reading/op).
type Reopen struct {
	Link   string // the link the driver opens; Run points it at each new pty
	Opened Opened // the handler of the driver's logger
	// Settle is how long each iteration first lets the session run, not
	// timed: longer than the driver's MaxBackoff, so the back-off is reset
	// as after a real, long-lived session.
	Settle time.Duration
	// Plug returns device i (-1 for the one before the first unplug), which
	// Run runs on the master of a new pty until it unplugs it.
	Plug func(i int) (run func(context.Context, *os.File) error)
	// Unplugged is called after the i-th unplug, before the timing starts,
	// and returns whether device i's first reading has reached the sink.
	Unplugged func(i int) (arrived func() bool)
	Notify    <-chan struct{} // a token whenever the sink gets something
}

// Run plugs the first device, waits for the driver to open it, then times
// b.N unplug-and-replug rounds.
func (r Reopen) Run(b *testing.B) {
	plug := func(pt *PTY, i int) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		run := r.Plug(i)
		go func() { _ = run(ctx, pt.Master); close(done) }()
		return func() { cancel(); <-done }
	}
	pt := New(b)
	Link(b, r.Link, pt.Name)
	stop := plug(pt, -1)
	<-r.Opened
	var openTotal, readTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(r.Settle)
		stop()
		Unlink(b, r.Link) // as udev does; see the package comment
		pt.Unplug()
		arrived := r.Unplugged(i)
		pt = New(b)
		b.StartTimer()

		t0 := time.Now()
		stop = plug(pt, i)
		Link(b, r.Link, pt.Name)
		select {
		case at := <-r.Opened:
			openTotal += at.Sub(t0)
		case <-time.After(10 * time.Second):
			b.Fatal("port not reopened")
		}
		for !arrived() {
			select {
			case <-r.Notify:
			case <-time.After(10 * time.Second):
				b.Fatal("no reading after the replug")
			}
		}
		readTotal += time.Since(t0)
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(openTotal.Microseconds())/1000/float64(b.N), "ms-open/op")
	b.ReportMetric(float64(readTotal.Microseconds())/1000/float64(b.N), "ms-reading/op")
}
