package serialport

import (
	"errors"
	"io"
	"os"
	"syscall"

	"go.bug.st/serial"
)

// IsUnplug reports whether err means the device went away or the port was
// closed under the reader: the library's PortError{PortClosed} (what Linux
// gives for a read on an unplugged USB adapter or a pty whose master closed),
// EIO, ENXIO, ENODEV, EBADF, io.EOF, or a Write after Close. A session that
// sees one should return so that Run reopens the port.
func IsUnplug(err error) bool {
	if err == nil {
		return false
	}
	var pe *serial.PortError
	if errors.As(err, &pe) && pe != nil && pe.Code() == serial.PortClosed {
		return true
	}
	var pv serial.PortError
	if errors.As(err, &pv) && pv.Code() == serial.PortClosed {
		return true
	}
	for _, target := range []error{
		errPortClosed, io.EOF, io.ErrUnexpectedEOF, os.ErrClosed,
		syscall.EIO, syscall.ENXIO, syscall.ENODEV, syscall.EBADF,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
