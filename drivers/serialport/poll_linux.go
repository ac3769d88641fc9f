//go:build linux

package serialport

import (
	"errors"
	"os"
	"reflect"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// poller reads a port the library opened without the library's blocking
// select(2): the goroutine waits in the Go runtime's poller (epoll) on a
// duplicate of the library's descriptor instead.
//
// Why: a goroutine blocked in a system call holds its thread and its P, so
// the runtime's sysmon thread polls every 20 µs to 10 ms to hand the P off,
// and never sleeps for as long as a sensor's reader is waiting. Measured on
// the daemon at 75 Nonin frames/s: sysmon alone took 1.4 % of a core, four
// times the daemon's own work, and the threads woken for each handoff more.
// Waiting in the poller parks only the goroutine.
//
// The library still opens, configures and closes the port (line settings,
// exclusive access, its close signal); only the waiting for bytes moves. The
// descriptor is read from the library's port by reflection (there is no
// accessor; go.mod pins the version): a library whose port type or field
// changed is detected by pollable, and the Port then reads through the
// library as before.
type poller struct {
	f     *os.File        // the registered duplicate
	rc    syscall.RawConn // f's
	woken atomic.Bool     // wake was called: the pending or next read returns at once
}

// pollable returns a poller for the library's port sp, or nil when sp is not
// the library's Unix port (a test's fake) or anything about its descriptor is
// unexpected.
func pollable(sp serial.Port, dev string) *poller {
	v := reflect.ValueOf(sp)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	e := v.Elem()
	if t := e.Type(); t.Kind() != reflect.Struct || t.PkgPath() != "go.bug.st/serial" || t.Name() != "unixPort" {
		return nil
	}
	h := e.FieldByName("handle")
	if !h.IsValid() || h.Kind() != reflect.Int {
		return nil
	}
	fd := int(h.Int())
	var st unix.Stat_t
	if fd < 0 || unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return nil
	}
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return nil // not a tty
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	// O_NONBLOCK belongs to the open file, so the library's descriptor is
	// non-blocking too from here on. Nothing of the library that Port uses
	// minds: writes go through the poller as well (os.File.Write waits there
	// when the output buffer is full), the library's Read, used only for its
	// error after a failed read, waits in select(2) before it reads, and
	// Drain and ResetInputBuffer are ioctls.
	if err := unix.SetNonblock(dup, true); err != nil {
		_ = unix.Close(dup)
		return nil
	}
	f := os.NewFile(uintptr(dup), dev) // non-blocking: NewFile registers it
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{}) // fails unless it is in the poller
	}
	if err != nil {
		_ = unix.SetNonblock(fd, false)
		_ = f.Close()
		return nil
	}
	return &poller{f: f, rc: rc}
}

// read reads at least one byte, waiting up to timeout (none if <= 0). It
// returns (0, nil) at end of file, os.ErrDeadlineExceeded on timeout, and
// another error when the port was closed or the read failed.
func (pl *poller) read(b []byte, timeout time.Duration) (int, error) {
	if timeout > 0 {
		if err := pl.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return 0, err
		}
	}
	// After the deadline is set: a wake that set its own (expired) one
	// before it is not lost.
	if pl.woken.Swap(false) {
		return 0, os.ErrDeadlineExceeded
	}
	var n int
	var rerr error
	err := pl.rc.Read(func(fd uintptr) bool {
		n, rerr = rawRead(int(fd), b)
		return rerr != unix.EAGAIN // false: wait in the poller
	})
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			pl.woken.Store(false) // this return answers any wake so far
		}
		return 0, err
	}
	return n, rerr
}

// wake ends a pending read, or the next one, with os.ErrDeadlineExceeded.
func (pl *poller) wake() {
	pl.woken.Store(true)
	_ = pl.f.SetReadDeadline(time.Now()) // a past deadline wakes the reader
}

// rawRead is read(2) without telling the scheduler: os.File.Read enters it
// as a possibly blocking system call, and each such entry while the process
// is otherwise idle wakes sysmon, which then polls at 20 µs for a while
// (measured: 0.8 % of a core at 75 frames/s, two reads a frame). On a
// non-blocking descriptor read(2) never blocks, so the raw call is safe.
func rawRead(fd int, b []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// write writes b through the poller.
func (pl *poller) write(b []byte) (int, error) { return pl.f.Write(b) }

// close closes the library's port with closeLib, then the duplicate, which
// wakes a pending read: it then finds the library's port closed and gets the
// library's PortClosed at once.
func (pl *poller) close(closeLib func() error) error {
	err := closeLib()
	_ = pl.f.Close()
	return err
}
