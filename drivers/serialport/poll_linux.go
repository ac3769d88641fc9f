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
// select(2): the goroutine waits in the Go runtime's poller (epoll) instead,
// on an epoll instance of its own that watches a duplicate of the library's
// descriptor for input.
//
// Why the runtime's poller: a goroutine blocked in a system call holds its
// thread and its P, so the runtime's sysmon thread polls every 20 µs to
// 10 ms to hand the P off, and never sleeps for as long as a sensor's reader
// is waiting. Measured on the daemon at 75 Nonin frames/s: sysmon alone took
// 1.4 % of a core, four times the daemon's own work, and the threads woken
// for each handoff more. Waiting in the poller parks only the goroutine.
//
// Why an epoll instance between them: the runtime registers a descriptor
// edge-triggered for input and output together, and a tty is always
// writable, so every chunk of bytes that arrives wakes the runtime's poller
// thread even while no goroutine waits for it. A reader that sleeps over
// frames it does not need (PumpPaced) would still be woken 75 times a second
// (measured: a third of the daemon's context switches). The poller's own
// instance watches input only, and a paused reader takes the tty out of it
// (unwatch), so bytes left in the buffer wake nobody until the reader comes
// back.
//
// The library still opens, configures and closes the port (line settings,
// exclusive access, its close signal); only the waiting for bytes moves. The
// descriptor is read from the library's port by reflection (there is no
// accessor; go.mod pins the version): a library whose port type or field
// changed is detected by pollable, and the Port then reads through the
// library as before.
type poller struct {
	tty      int             // the duplicate: non-blocking, read and written directly
	ep       *os.File        // the epoll instance watching tty; it is what the runtime polls
	rc       syscall.RawConn // ep's: its callbacks run only while ep (and so tty) is open
	woken    atomic.Bool     // wake was called: the pending or next read returns at once
	watching bool            // tty is in ep; only the reading goroutine touches it
	waited   bool            // the last read's bytes came while it waited; reader's only
	closing  chan struct{}   // closed by close: ends a write's back-off at once
}

// pollable returns a poller for the library's port sp, or nil when sp is not
// the library's Unix port (a test's fake) or anything about its descriptor is
// unexpected.
func pollable(sp serial.Port, dev string) *poller {
	fd, ok := libTTY(sp)
	if !ok {
		return nil
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	pl, err := newPoller(dup, dev)
	if err != nil {
		_ = unix.SetNonblock(fd, false)
		_ = unix.Close(dup)
		return nil
	}
	return pl
}

// libTTY returns the descriptor of the library's port sp, when sp is the
// library's Unix port and its descriptor is an open tty; ok is false for a
// test's fake port or anything unexpected.
func libTTY(sp serial.Port) (fd int, ok bool) {
	v := reflect.ValueOf(sp)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return -1, false
	}
	e := v.Elem()
	if t := e.Type(); t.Kind() != reflect.Struct || t.PkgPath() != "go.bug.st/serial" || t.Name() != "unixPort" {
		return -1, false
	}
	h := e.FieldByName("handle")
	if !h.IsValid() || h.Kind() != reflect.Int {
		return -1, false
	}
	fd = int(h.Int())
	var st unix.Stat_t
	if fd < 0 || unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return -1, false
	}
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return -1, false // not a tty
	}
	return fd, true
}

// newPoller makes the epoll instance for tty and puts it in the runtime's
// poller. O_NONBLOCK belongs to the open file, so the library's descriptor
// is non-blocking too from here on. Nothing of the library that Port uses
// minds: writes go through the poller as well, the library's Read, used
// only for its error after a failed read, waits in select(2) before it
// reads, and Drain and ResetInputBuffer are ioctls.
func newPoller(tty int, dev string) (*poller, error) {
	if err := unix.SetNonblock(tty, true); err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	ep := os.NewFile(uintptr(epfd), dev+" (epoll)") // non-blocking: NewFile registers it
	rc, err := ep.SyscallConn()
	if err == nil {
		err = ep.SetReadDeadline(time.Time{}) // fails unless it is in the poller
	}
	if err != nil {
		_ = ep.Close()
		return nil, err
	}
	return &poller{tty: tty, ep: ep, rc: rc, closing: make(chan struct{})}, nil
}

// watch puts tty in the epoll instance (level-triggered, input only), so
// that bytes waiting or arriving make ep readable. Adding a tty that already
// has bytes or has hung up marks it ready at once.
func (pl *poller) watch() error {
	if pl.watching {
		return nil
	}
	var cerr error
	err := pl.rc.Control(func(fd uintptr) {
		cerr = epollCtl(int(fd), unix.EPOLL_CTL_ADD, pl.tty, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(pl.tty)})
		if cerr == unix.EEXIST { // an unwatch whose removal failed: still watched
			cerr = nil
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	pl.watching = true
	return nil
}

// unwatch takes tty out of the epoll instance, for a reader that means to
// leave the next bytes in the buffer: they then wake no thread. The next
// read takes what waits and watches again only if it has to wait.
func (pl *poller) unwatch() {
	if !pl.watching {
		return
	}
	_ = pl.rc.Control(func(fd uintptr) {
		_ = epollCtl(int(fd), unix.EPOLL_CTL_DEL, pl.tty, nil)
	})
	pl.watching = false
}

// read reads at least one byte, waiting up to timeout (none if <= 0). It
// returns (0, nil) at end of file, os.ErrDeadlineExceeded on timeout, and
// another error when the port was closed or the read failed.
func (pl *poller) read(b []byte, timeout time.Duration) (int, error) {
	if timeout > 0 {
		if err := pl.ep.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return 0, err
		}
		// A deadline left set after the read fires later anyway, waking
		// the process for nothing: in a paced reader's pause, once a
		// packet.
		defer pl.ep.SetReadDeadline(time.Time{})
	}
	// After the deadline is set: a wake that set its own (expired) one
	// before it is not lost.
	if pl.woken.Swap(false) {
		return 0, os.ErrDeadlineExceeded
	}
	var n, tries int
	var rerr error
	// readTTY reads tty once, and when it has nothing and mayWait, waits in
	// the runtime's poller until ep is readable and reads again.
	readTTY := func(mayWait bool) error {
		return pl.rc.Read(func(uintptr) bool {
			n, rerr = rawRead(pl.tty, b)
			tries++
			return rerr != unix.EAGAIN || !mayWait
		})
	}
	pl.waited = false
	if !pl.watching {
		// After a pause: take what waits before watching again, since
		// adding a tty that has bytes makes ep ready, which would wake the
		// runtime's poller for bytes read here anyway.
		err := readTTY(false)
		if err == nil && rerr != unix.EAGAIN {
			return n, rerr
		}
		if err == nil {
			err = pl.watch()
		}
		if err != nil {
			return 0, pl.readErr(err)
		}
	}
	if err := readTTY(true); err != nil {
		return 0, pl.readErr(err)
	}
	pl.waited = tries > 1 && n > 0
	return n, rerr
}

// readAfter waits d, or until a wake, with tty out of the epoll instance,
// so that bytes arriving meanwhile wake nobody; then it reads what has
// arrived without waiting. It returns as read does, with
// os.ErrDeadlineExceeded when nothing has arrived.
func (pl *poller) readAfter(b []byte, d time.Duration) (int, error) {
	pl.unwatch()
	pl.waited = false // what it reads may have waited as long as d
	if err := pl.ep.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, err
	}
	if !pl.woken.Swap(false) {
		// Nothing is in the epoll instance: ep becomes readable never,
		// and this ends at the deadline or a wake.
		err := pl.rc.Read(func(uintptr) bool { return false })
		if err = pl.readErr(err); !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
	}
	// The deadline has passed, and a Read under it would fail at once.
	if err := pl.ep.SetReadDeadline(time.Time{}); err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err := pl.rc.Read(func(uintptr) bool {
		n, rerr = rawRead(pl.tty, b)
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == unix.EAGAIN:
		return 0, os.ErrDeadlineExceeded
	}
	return n, rerr
}

// readErr is what read returns for err from ep: a timeout answers any wake
// so far.
func (pl *poller) readErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		pl.woken.Store(false)
	}
	return err
}

// wake ends a pending read, or the next one, with os.ErrDeadlineExceeded.
func (pl *poller) wake() {
	pl.woken.Store(true)
	_ = pl.ep.SetReadDeadline(time.Now()) // a past deadline wakes the reader
}

// epollCtl is epoll_ctl(2) without telling the scheduler, for the same
// reason as rawRead: a paced reader calls it twice a packet, and the call
// never blocks.
func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// rawRead is read(2) without telling the scheduler: os.File.Read enters it
// as a possibly blocking system call, and each such entry while the process
// is otherwise idle wakes sysmon, which then polls at 20 µs for a while
// (measured: 0.8 % of a core at 75 frames/s, two reads a frame). On a
// non-blocking descriptor read(2) never blocks, so the raw call is safe.
func rawRead(fd int, b []byte) (int, error) { return rawIO(unix.SYS_READ, fd, b) }

// rawWrite is write(2) on the non-blocking tty, raw for the same reason.
func rawWrite(fd int, b []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, b) }

// rawIO makes the read or write system call trap on fd, again after EINTR.
func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// write writes all of b. The tty is not in the runtime's poller, so a full
// output buffer (a device that does not drain: flow control, a wedged
// adapter) is waited out by polling with back-off up to writeBackoff, until
// it drains or the port is closed (errPortClosed). Sensor commands are a few
// bytes and a tty buffers kilobytes, so this is the exception, not the rule.
func (pl *poller) write(b []byte) (int, error) {
	n := 0
	back := time.Millisecond
	for n < len(b) {
		var k int
		var werr error
		err := pl.rc.Write(func(uintptr) bool {
			k, werr = rawWrite(pl.tty, b[n:])
			return true
		})
		if err != nil {
			return n, errPortClosed // Close ran: the descriptor is gone
		}
		n += k
		switch {
		case werr == unix.EAGAIN, werr == nil && k == 0:
			t := time.NewTimer(back)
			select {
			case <-t.C:
			case <-pl.closing:
				t.Stop()
				return n, errPortClosed
			}
			back = min(2*back, writeBackoff)
		case werr != nil:
			return n, werr
		}
	}
	return n, nil
}

// writeBackoff is the longest pause between two tries of a write the tty
// has no room for.
const writeBackoff = 50 * time.Millisecond

// close closes the library's port with closeLib, then the epoll instance,
// which wakes a pending read (it then finds the library's port closed and
// gets the library's PortClosed at once) and returns only once no callback
// of rc is running, and then the duplicate, which nothing can touch after.
func (pl *poller) close(closeLib func() error) error {
	close(pl.closing)
	err := closeLib()
	_ = pl.ep.Close()
	_ = unix.Close(pl.tty)
	return err
}
