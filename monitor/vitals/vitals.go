// Package vitals holds the typed values that flow from the sensor drivers to the
// monitor engine: oximeter readings, NIBP results and per-sensor frame counts.
//
// It is the one vocabulary shared by drivers/ and monitor/, kept free of I/O and
// of any dependency so that every driver and the engine can import it.
package vitals

import (
	"strings"
)

// Param names a continuously measured parameter.
type Param uint8

// The oximeter parameters. NIBP is not a Param: it arrives as a Result.
const (
	SpO2 Param = iota
	Pulse
	NumParams
)

// String gives the contract's name of the parameter ("spo2", "pulse").
func (p Param) String() string {
	switch p {
	case SpO2:
		return "spo2"
	case Pulse:
		return "pulse"
	}
	return "param(?)"
}

// Unit gives the UCUM unit of the parameter.
func (p Param) Unit() string {
	if p == SpO2 {
		return "%"
	}
	return "/min"
}

// Flag is a set of conditions reported with a reading. Several may hold at once.
type Flag uint32

// Flags a driver or the engine may set. Their names (see Names) are the strings
// published in the "flags" array of a vitals record.
const (
	ProbeOff          Flag = 1 << iota // sensor disconnected or finger out
	SensorAlarm                        // the device says its data is unusable
	Searching                          // the device is looking for a pulse
	Artifact                           // a beat did not match the pulse interval
	OutOfTrack                         // no consecutive good pulses
	LowPerfusion                       // red perfusion / weak signal
	MarginalPerfusion                  // yellow perfusion
	LowBattery                         // the sensor's own battery is low
	NoData                             // no reading arrived recently (set by the engine)
	Uncalibrated                       // the source is not a calibrated medical device
	Simulated                          // the source is a simulator
	numFlags
)

var flagNames = [...]string{
	"probe_off", "sensor_alarm", "searching", "artifact", "out_of_track",
	"low_perfusion", "marginal_perfusion", "low_battery", "no_data",
	"uncalibrated", "simulated",
}

// Has reports whether any flag in q is set in f.
func (f Flag) Has(q Flag) bool { return f&q != 0 }

// Names lists the set flags by their contract names, in a fixed order.
// It returns an empty, non-nil slice for no flags so JSON shows [].
func (f Flag) Names() []string {
	out := []string{}
	for i := 0; i < len(flagNames); i++ {
		if f&(1<<i) != 0 {
			out = append(out, flagNames[i])
		}
	}
	return out
}

// String joins the flag names with "|", or gives "none".
func (f Flag) String() string {
	n := f.Names()
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, "|")
}

// ParseFlag gives the flag for a contract name; ok is false for an unknown name.
func ParseFlag(name string) (Flag, bool) {
	for i, n := range flagNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// ProbeOffFlags are the flags that make the spo2_probe_off condition.
const ProbeOffFlags = ProbeOff | SensorAlarm

// PoorSignalFlags are the flags that make the spo2_signal_poor condition.
const PoorSignalFlags = Artifact | OutOfTrack | LowPerfusion

// NoValue marks a reading that carries no valid value (the device's "missing"
// value, such as Nonin's SpO2 127 or HR 511).
const NoValue int16 = -1

// Reading is one value of one parameter from one oximeter, emitted by a driver
// as soon as the frame carrying it arrives (not at the end of a packet), so the
// engine sees a crossing with the least delay.
type Reading struct {
	Sensor int   // index of the sensor in the configuration
	Param  Param // SpO2 or Pulse
	Value  int16 // NoValue when the device gives no valid value
	Flags  Flag  // the device's status at that moment
}

// Valid reports whether the reading carries a usable value: a value, and no
// flag that says the probe is off or the data unusable.
func (r Reading) Valid() bool {
	return r.Value != NoValue && r.Value >= 0 && !r.Flags.Has(ProbeOffFlags)
}

// Result is the outcome of one NIBP measurement the engine requested. Exactly
// one of a complete set of pressures or a non-empty Failure is present.
type Result struct {
	Sensor    int
	Request   string // the engine's request id, "n-<boot>-<n>"
	Systolic  int16  // mm[Hg]
	Diastolic int16  // mm[Hg]
	Mean      int16  // mm[Hg]; 0 when the module did not report it
	Pulse     int16  // /min; 0 when the module did not report it
	Failure   string // the module's error, with its code, e.g. "0x57 inflate timeout"; "" on success
}

// Failed reports whether the measurement failed.
func (r Result) Failed() bool { return r.Failure != "" }

// Status is a driver's running count of frames since it started, sent about once
// a second. Counts only grow; the engine works on the differences. A driver that
// has no stream (the NIBP module) counts the answers to its periodic polls, so the
// engine can tell a silent module from a quiet one.
//
// Frames alone do not say the sensor is there: random bytes at a line's rate
// pass a checksum now and then. Only Valid, a Reading or a Result keep
// sensor_silent away.
type Status struct {
	Sensor  int
	Frames  uint64 // frames that passed framing and checksum
	Garbled uint64 // frames that failed framing or checksum
	// Valid counts frames that gave validated data without a Reading or
	// Result to show it: the NIBP module's answers of a known kind to what
	// the driver asks. Oximeter drivers leave it 0: their readings say it.
	Valid uint64
}
