package serialport

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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
type Port struct {
	sp     serial.Port
	path   string // the configured path, perhaps a symlink
	dev    string // what the path resolved to when opened
	closed atomic.Bool
	once   sync.Once
	cerr   error
}

// Read reads at least one byte, or returns ErrTimeout when none arrived within
// the read timeout, or the library's error (see IsUnplug) wrapped with the
// port's path.
func (p *Port) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := p.sp.Read(b)
	if err != nil {
		return n, fmt.Errorf("serialport: read %s: %w", p.dev, err)
	}
	if n == 0 {
		return 0, ErrTimeout
	}
	return n, nil
}

// Write writes b to the port. After Close it fails with an unplug error
// rather than writing to a descriptor number the kernel may have reused.
func (p *Port) Write(b []byte) (int, error) {
	if p.closed.Load() {
		return 0, fmt.Errorf("serialport: write %s: %w", p.dev, errPortClosed)
	}
	n, err := p.sp.Write(b)
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
		if err := p.sp.Close(); err != nil {
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
