// Package drivers holds what every sensor driver shares: the Sink that receives
// decoded values, the Driver shape each serial driver has, and the Lifecycle
// that gives them one meaning of Run and Halt. Each device lives in its own
// sub-package (nonin, cms50, suntech, ...) holding both directions of its
// protocol: the decoder the daemon uses and the device model vitalsim uses.
//
// A driver turns bytes into typed values and nothing else: it does not decide
// that its sensor is silent (the engine times that) and it keeps no alarm state.
//
// Every serial driver is built the same way, in the style of periph.io's
// device drivers:
//
//	dev, err := nonin.New("/dev/serial/by-id/usb-...", nil) // nil: nonin.DefaultOpts
//	go dev.Run(ctx, sink)                                     // owns the port until ctx ends or Halt
//	...
//	dev.Halt()                                                // stops Run and waits for it
//
// New(port string, opts *Opts) (*Dev, error) checks the options (an error
// names the field at fault) and opens nothing; `var DefaultOpts` is a value to
// copy and edit; String names the driver and its port.
//
// The I²C oximeter (max30102.Sensor) has the same shape with a bus name for
// the port: max30102.NewSensor("1", nil).
package drivers

import (
	"context"
	"errors"
	"sync"

	"github.com/chairside/chairside/monitor/vitals"
)

// Sink receives what a driver decodes. Its methods are called from the driver's
// own goroutine and must not block for long: the daemon's sink hands the value
// to the engine's channel.
type Sink interface {
	// Reading is one oximeter value, sent as soon as the driver has validated
	// it (a Nonin DF2/DF7 value when the next SYNC frame closes its packet).
	Reading(vitals.Reading)
	// Status is the driver's running frame counts, sent about once a second
	// while the port is open.
	Status(vitals.Status)
	// Result is the outcome of an NIBP measurement (NIBP drivers only).
	Result(vitals.Result)
}

// Driver is what every serial sensor driver's *Dev is, so that the daemon
// builds and runs them from one table. It is a periph.io conn.Resource
// (String and Halt) with a Run.
type Driver interface {
	// Run owns the port until ctx is done or Halt is called, sends what it
	// decodes to sink from its own goroutine, and reopens the port after an
	// unplug. It returns nil when stopped; an error only when it cannot run:
	// a nil sink, another Run in progress (ErrRunning), the driver halted
	// (ErrHalted), or a port configuration the serial layer rejects.
	Run(ctx context.Context, sink Sink) error
	// Halt stops Run and returns once it has returned (the port is closed).
	// It may be called twice, and before Run: a Run after Halt returns
	// ErrHalted at once. It must not be called from the Sink (Run's own
	// goroutine), and waits as long as the Sink blocks.
	Halt() error
	// String names the driver and its port, e.g. "nonin(/dev/ttyUSB0, DF2, sensor 0)".
	String() string
}

// Errors of Run, wrapped with the driver's name.
var (
	ErrRunning = errors.New("Run is already running")
	ErrHalted  = errors.New("halted")
	ErrNilSink = errors.New("nil sink")
)

// Lifecycle gives Run and Halt their shared meaning: one Run at a time, and
// Halt ends it and every later one. The zero value is ready; a driver embeds
// one and calls Begin at the top of Run and Halt from its Halt.
type Lifecycle struct {
	mu     sync.Mutex
	halted bool
	cancel context.CancelFunc // of the Run in progress, nil when none
	done   chan struct{}      // closed when that Run has returned
}

// Begin starts a Run: the context it returns ends with parent or at Halt, and
// end must be called (deferred) when Run returns. It fails with ErrRunning
// while another Run is in progress and with ErrHalted after Halt.
func (l *Lifecycle) Begin(parent context.Context) (ctx context.Context, end func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.halted:
		return nil, nil, ErrHalted
	case l.done != nil:
		return nil, nil, ErrRunning
	}
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	l.cancel, l.done = cancel, done
	return ctx, func() {
		cancel()
		l.mu.Lock()
		l.cancel, l.done = nil, nil
		l.mu.Unlock()
		close(done)
	}, nil
}

// Halt ends the Run in progress, if any, waits for it to return, and refuses
// every later one. Calling it again does nothing more.
func (l *Lifecycle) Halt() {
	l.mu.Lock()
	l.halted = true
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Halted reports whether Halt has been called.
func (l *Lifecycle) Halted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.halted
}

// Running reports whether a Run is in progress.
func (l *Lifecycle) Running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done != nil
}
