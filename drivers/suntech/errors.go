package suntech

import (
	"errors"
	"fmt"
)

// ErrorCode is the error byte of a BP result (data offset 18). Zero means the
// measurement succeeded; anything else is a failure, including codes this
// package has no name for, because the set differs between firmware versions
// (a second nPM variant maps 0x85..0x99).
//
// ErrorCode is an error, so a failure can be tested with errors.Is and its
// message carries both the code and its meaning, as the nibp_failed alarm
// message must (CONTRACT §3).
type ErrorCode uint8

// The module's error codes as named by nPM's SuntechProvider (sensors.md §3).
const (
	WeakSignal        ErrorCode = 0x01
	ErraticSignal     ErrorCode = 0x02
	OutOfRange        ErrorCode = 0x03
	MeasureTimeout    ErrorCode = 0x04
	PneumaticBlockage ErrorCode = 0x55
	AbortedByUser     ErrorCode = 0x56
	InflateTimeout    ErrorCode = 0x57
	SafetyTimeout     ErrorCode = 0x58
	CuffOverpressure  ErrorCode = 0x59
	PowerFault        ErrorCode = 0x5A
	PermissionDenied  ErrorCode = 0x5B
	TransducerRange   ErrorCode = 0x61
	CalibrationFault  ErrorCode = 0x63
)

// Name gives the meaning of the code without the number.
func (c ErrorCode) Name() string {
	switch c {
	case 0:
		return "no error"
	case WeakSignal:
		return "weak or no signal"
	case ErraticSignal:
		return "erratic signal or artifact"
	case OutOfRange:
		return "blood pressure out of range"
	case MeasureTimeout:
		return "measurement time exceeded"
	case PneumaticBlockage:
		return "pneumatic blockage"
	case AbortedByUser:
		return "aborted by user"
	case InflateTimeout:
		return "inflate timeout, leak or loose cuff"
	case SafetyTimeout:
		return "safety timeout"
	case CuffOverpressure:
		return "cuff overpressure"
	case PowerFault:
		return "power or hardware fault"
	case PermissionDenied:
		return "permission denied (override or autozero)"
	case TransducerRange:
		return "transducer out of range"
	case CalibrationFault:
		return "EEPROM calibration failure"
	}
	return "unknown module error"
}

// Error gives the code and its meaning, e.g. "0x57 inflate timeout, leak or
// loose cuff".
func (c ErrorCode) Error() string {
	return fmt.Sprintf("0x%02X %s", uint8(c), c.Name())
}

// Failures the driver reports in vitals.Result.Failure besides the module's
// own error codes. Each is wrapped with detail; test with errors.Is.
var (
	// ErrTimeout: the cycle outlasted Opts.CycleLimit or the module stopped
	// answering. The message starts with "timeout" so that the engine's
	// nibp_failed message says what happened.
	ErrTimeout = errors.New("timeout")
	// ErrUnplugged: the port went away during the cycle; the abort could not
	// be sent then and is sent when the port opens again.
	ErrUnplugged = errors.New("unplugged")
	// ErrAborted: Abort was called for the measurement.
	ErrAborted = errors.New("aborted")
	// ErrStopped: the driver was shut down during the cycle (abort sent).
	ErrStopped = errors.New("stopped: driver shutting down")
	// ErrBusy: the module refused the start because it is busy.
	ErrBusy = errors.New("module busy")
	// ErrRejected: the module did not accept the start command.
	ErrRejected = errors.New("rejected")
	// ErrImplausible: the module reported no error but values that cannot be
	// a blood pressure (zero, diastolic not below systolic, above the
	// module's 300 mmHg limit).
	ErrImplausible = errors.New("implausible result")
	// ErrPort: an I/O error other than an unplug ended the cycle.
	ErrPort = errors.New("port error")
)

// Errors returned by Start and Abort (not measurement failures).
var (
	ErrNotOpen    = errors.New("suntech: port not open")
	ErrInProgress = errors.New("suntech: a measurement is in progress")
	ErrIdle       = errors.New("suntech: no measurement in progress")
)
