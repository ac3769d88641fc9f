package main

import (
	"fmt"

	"go.bug.st/serial"
)

// serialEnd is a real serial port, e.g. a USB adapter cabled to another
// machine's adapter, opened at the emulated device's line settings.
type serialEnd struct {
	port serial.Port
	path string
}

// openSerial opens path at mode. InitialStatusBits stays nil: a USB adapter
// does not need its modem lines set, and some emulated hosts use a pty.
func openSerial(path string, mode serial.Mode) (*serialEnd, error) {
	p, err := serial.Open(path, &mode)
	if err != nil {
		return nil, fmt.Errorf("open serial port %s: %w", path, err)
	}
	return &serialEnd{port: p, path: path}, nil
}

func (s *serialEnd) Read(b []byte) (int, error)  { return s.port.Read(b) }
func (s *serialEnd) Write(b []byte) (int, error) { return s.port.Write(b) }
func (s *serialEnd) Close() error                { return s.port.Close() }
func (s *serialEnd) String() string              { return s.path }
