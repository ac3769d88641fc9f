// Package drivers holds what every sensor driver shares: the Sink that receives
// decoded values. Each device lives in its own sub-package (nonin, cms50,
// suntech, ...) holding both directions of its protocol: the decoder the daemon
// uses and the device model vitalsim uses.
//
// A driver turns bytes into typed values and nothing else: it does not decide
// that its sensor is silent (the engine times that) and it keeps no alarm state.
package drivers

import "github.com/chairside/chairside/monitor/vitals"

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
