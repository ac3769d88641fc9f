package serialport

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"
)

// ErrTimeout is returned by Port.Read when no byte arrived within the read
// timeout. The library itself returns (0, nil) in that case, which callers
// easily mistake for end of data.
var ErrTimeout = errors.New("serialport: read timeout")

// errPortClosed is returned by Write after Close: the descriptor number may by
// then belong to another file, so the write must not reach the library.
// The library's own PortError{PortClosed} cannot be built outside it.
var errPortClosed = errors.New("port has been closed")

// Port is an open serial port. Its Read turns the library's (0, nil) timeout
// into ErrTimeout. Close may be called from any goroutine, any number of
// times; it unblocks a pending Read.
//
// On Linux, Read waits in the Go runtime's poller, on an epoll instance that
// watches a duplicate of the library's descriptor (see poller), not in the
// library's blocking select(2); the results are the same: at least one byte,
// ErrTimeout after the read timeout, and after an unplug or Close the
// library's own error, which Read then asks the library for.
type Port struct {
	sp      serial.Port
	pl      *poller       // nil: read through sp
	timeout time.Duration // the read timeout
	libWait time.Duration // the read timeout sp has (ReadWait changes it)
	path    string        // the configured path, perhaps a symlink
	dev     string        // what the path resolved to when opened
	closed  atomic.Bool
	once    sync.Once
	cerr    error
}

// Read reads at least one byte, or returns ErrTimeout when none arrived within
// the read timeout, or the library's error (see IsUnplug) wrapped with the
// port's path.
func (p *Port) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if p.pl != nil {
		return p.pollRead(b, p.timeout)
	}
	if err := p.setLibTimeout(p.timeout); err != nil {
		return 0, err
	}
	return p.libRead(b)
}

// setLibTimeout gives the library's port the read timeout d.
func (p *Port) setLibTimeout(d time.Duration) error {
	if d == p.libWait {
		return nil
	}
	if err := p.sp.SetReadTimeout(d); err != nil {
		return fmt.Errorf("serialport: set read timeout on %s: %w", p.dev, err)
	}
	p.libWait = d
	return nil
}

// ReadWait is Read with a read timeout of d (> 0) for this call instead of
// the configured one, for a driver that knows when it next has something to
// do and can be woken for anything else (see Wake).
func (p *Port) ReadWait(b []byte, d time.Duration) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if d <= 0 {
		d = p.timeout
	}
	if p.pl != nil {
		return p.pollRead(b, d)
	}
	if err := p.setLibTimeout(d); err != nil {
		return 0, err
	}
	return p.libRead(b)
}

// ReadAfter waits d (> 0) and then returns what has arrived, or ErrTimeout
// when nothing has; bytes that arrive meanwhile do not end the wait, only
// Wake does. It is for a driver whose next bytes can wait until it next has
// something to do (answers it does not need at once), so that they wake the
// process once, with that, and not on their own. Without CanWake it is
// ReadWait.
func (p *Port) ReadAfter(b []byte, d time.Duration) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if p.pl == nil || d <= 0 {
		return p.ReadWait(b, d)
	}
	if p.closed.Load() {
		return p.libRead(b)
	}
	n, err := p.pl.readAfter(b, d)
	return p.pollResult(b, n, err)
}

// CanWake reports whether Wake works on this port: it does when the port
// is read through the runtime's poller (Linux, the library's own port), not
// when reading through the library (a test's fake port, other systems).
func (p *Port) CanWake() bool { return p.pl != nil }

// Wake makes a pending Read (or ReadWait) return ErrTimeout at once, or the
// next one if none is pending, so that another goroutine can get a session
// that waits long (ReadWait) to look at its requests. It may be called from
// any goroutine. Without CanWake, or on a nil Port, it does nothing.
func (p *Port) Wake() {
	if p != nil && p.pl != nil && !p.closed.Load() {
		p.pl.wake()
	}
}

// unwatch lets the bytes that arrive until the next Read wait in the buffer
// without waking the process (see poller.unwatch); a no-op without the
// poller.
func (p *Port) unwatch() {
	if p.pl != nil {
		p.pl.unwatch()
	}
}

// waited reports whether the last Read's bytes arrived while it waited for
// them, so that the last of them arrived just now (a scheduler's wake-up
// ago), not at some time since the read before. False when not known
// (reading through the library).
func (p *Port) waited() bool { return p.pl != nil && p.pl.waited }

// libRead reads through the library.
func (p *Port) libRead(b []byte) (int, error) {
	n, err := p.sp.Read(b)
	if err != nil {
		return n, fmt.Errorf("serialport: read %s: %w", p.dev, err)
	}
	if n == 0 {
		return 0, ErrTimeout
	}
	return n, nil
}

// pollRead waits for bytes in the runtime's poller. What ends a read other
// than data or the deadline (end of file after an unplug, the descriptor
// closed by Close, an errno) is handed to the library's Read, which then
// returns at once with its own error: PortError{PortClosed} for an unplug
// or a closed port, the errno otherwise, as it would have without the
// poller.
func (p *Port) pollRead(b []byte, timeout time.Duration) (int, error) {
	if p.closed.Load() {
		return p.libRead(b)
	}
	n, err := p.pl.read(b, timeout)
	return p.pollResult(b, n, err)
}

// pollResult turns what the poller read into pollRead's results.
func (p *Port) pollResult(b []byte, n int, err error) (int, error) {
	if n > 0 {
		return n, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, ErrTimeout
	}
	n, lerr := p.libRead(b)
	if errors.Is(lerr, ErrTimeout) && err != nil {
		// The library saw nothing wrong within its timeout: report what
		// the poller's read said, as the library would have (a bare errno).
		return 0, fmt.Errorf("serialport: read %s: %w", p.dev, unwrapPath(err))
	}
	return n, lerr
}

// unwrapPath strips the *os.PathError that os.File adds, leaving the errno
// the library itself returns.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Write writes b to the port. After Close it fails with an unplug error
// rather than writing to a descriptor number the kernel may have reused.
func (p *Port) Write(b []byte) (int, error) {
	if p.closed.Load() {
		return 0, fmt.Errorf("serialport: write %s: %w", p.dev, errPortClosed)
	}
	var n int
	var err error
	if p.pl != nil {
		n, err = p.pl.write(b)
		err = unwrapPath(err)
	} else {
		n, err = p.sp.Write(b)
	}
	if err != nil {
		return n, fmt.Errorf("serialport: write %s: %w", p.dev, err)
	}
	return n, nil
}

// ResetInputBuffer discards bytes received but not yet read, for a driver
// that sends a command and wants only the answer.
func (p *Port) ResetInputBuffer() error {
	if p.closed.Load() {
		return fmt.Errorf("serialport: reset %s: %w", p.dev, errPortClosed)
	}
	if err := p.sp.ResetInputBuffer(); err != nil {
		return fmt.Errorf("serialport: reset %s: %w", p.dev, err)
	}
	return nil
}

// Drain waits until everything written has been sent.
func (p *Port) Drain() error {
	if p.closed.Load() {
		return fmt.Errorf("serialport: drain %s: %w", p.dev, errPortClosed)
	}
	if err := p.sp.Drain(); err != nil {
		return fmt.Errorf("serialport: drain %s: %w", p.dev, err)
	}
	return nil
}

// Close closes the port once; later calls return the first call's result.
func (p *Port) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		var err error
		if p.pl != nil {
			// The library first, so that a Read the poller's close wakes
			// finds the library port closed and gets its PortClosed at once.
			err = p.pl.close(p.sp.Close)
		} else {
			err = p.sp.Close()
		}
		if err != nil {
			p.cerr = fmt.Errorf("serialport: close %s: %w", p.dev, err)
		}
	})
	return p.cerr
}

// String names the port by its configured path and, when that is a symlink,
// by the device it pointed at when opened: "/dev/serial/by-id/x -> /dev/ttyUSB1".
func (p *Port) String() string {
	if p.dev == p.path {
		return p.path
	}
	return p.path + " -> " + p.dev
}
