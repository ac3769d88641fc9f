//go:build !linux

package serialport

import (
	"errors"
	"time"

	"go.bug.st/serial"
)

// poller is Linux only: elsewhere the Port reads through the library.
type poller struct{ waited bool }

func pollable(serial.Port, string) *poller { return nil }

func (*poller) read([]byte, time.Duration) (int, error)      { return 0, errors.ErrUnsupported }
func (*poller) write([]byte) (int, error)                    { return 0, errors.ErrUnsupported }
func (*poller) readAfter([]byte, time.Duration) (int, error) { return 0, errors.ErrUnsupported }
func (*poller) close(closeLib func() error) error            { return closeLib() }
func (*poller) wake()                                        {}
func (*poller) unwatch()                                     {}
