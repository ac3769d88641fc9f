package sim

import (
	"math"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// State is the patient and the devices at one moment of a scenario.
type State struct {
	T         time.Duration // elapsed scenario time
	SpO2      float64       // %, what the oximeter would show with the probe on
	Pulse     float64       // /min
	Perfusion Perfusion
	ProbeOff  bool
	Artifact  bool // inside an artifact burst
	// BP is what an NIBP measurement started now reports (unless an
	// nibp_error is pending).
	BP           BP
	NIBPDuration time.Duration // how long a cycle started now lasts
	NIBPSilent   bool          // the module answers nothing

	unplugged uint8 // bit d set: Device d's cable is out
}

// BP is a blood pressure, resolved: Mean and Pulse hold the derived values
// when the scenario does not set them.
type BP struct {
	Systolic, Diastolic, Mean, Pulse float64 // mm[Hg], /min
}

// Plugged reports whether d's cable is in.
func (s State) Plugged(d Device) bool { return s.unplugged&(1<<d) == 0 }

// SpO2Value is the SpO2 an oximeter shows, rounded; vitals.NoValue with the
// probe off.
func (s State) SpO2Value() int16 {
	if s.ProbeOff {
		return vitals.NoValue
	}
	return round16(s.SpO2)
}

// PulseValue is the pulse rate an oximeter shows, rounded; vitals.NoValue
// with the probe off.
func (s State) PulseValue() int16 {
	if s.ProbeOff {
		return vitals.NoValue
	}
	return round16(s.Pulse)
}

// Flags are the conditions an oximeter reports now: ProbeOff, Artifact, and
// LowPerfusion or MarginalPerfusion. Perfusion and artifact are not reported
// with the probe off: there is no signal to judge.
func (s State) Flags() vitals.Flag {
	if s.ProbeOff {
		return vitals.ProbeOff
	}
	var f vitals.Flag
	if s.Artifact {
		f |= vitals.Artifact
	}
	switch s.Perfusion {
	case PerfusionLow:
		f |= vitals.LowPerfusion
	case PerfusionMarginal:
		f |= vitals.MarginalPerfusion
	}
	return f
}

// Readings are the SpO2 and pulse readings an ideal oximeter with sensor
// index sensor would send now: what the daemon's in-process sim driver feeds
// the engine (it adds the simulated and uncalibrated flags itself).
func (s State) Readings(sensor int) (spo2, pulse vitals.Reading) {
	f := s.Flags()
	return vitals.Reading{Sensor: sensor, Param: vitals.SpO2, Value: s.SpO2Value(), Flags: f},
		vitals.Reading{Sensor: sensor, Param: vitals.Pulse, Value: s.PulseValue(), Flags: f}
}

// Measurement is an NIBP result in whole numbers, as a module reports it.
type Measurement struct {
	Systolic, Diastolic, Mean, Pulse int16
}

// Measurement gives BP rounded, with diastolic kept below systolic and mean
// between them: loading guarantees that of the real values, and this keeps
// rounding from breaking it.
func (s State) Measurement() Measurement {
	m := Measurement{
		Systolic:  round16(s.BP.Systolic),
		Diastolic: round16(s.BP.Diastolic),
		Mean:      round16(s.BP.Mean),
		Pulse:     round16(s.BP.Pulse),
	}
	m.Diastolic = min(m.Diastolic, m.Systolic-1)
	m.Mean = min(max(m.Mean, m.Diastolic), m.Systolic)
	return m
}

// round16 rounds a value loading has bounded (0..300) to an int16; NaN,
// which loading refuses, gives 0 rather than an undefined conversion.
func round16(v float64) int16 {
	if math.IsNaN(v) {
		return 0
	}
	return int16(math.Round(min(max(v, math.MinInt16), math.MaxInt16)))
}

// derivedMean is the usual estimate of the mean arterial pressure.
func derivedMean(sys, dia float64) float64 { return dia + (sys-dia)/3 }
