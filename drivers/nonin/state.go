package nonin

import "github.com/chairside/chairside/monitor/vitals"

// State is everything a Nonin oximeter reports. The Encoder and Device send
// it; the Decoder rebuilds it (Decoder.Last). Values are in their units with
// vitals.NoValue for "missing" (the wire's SpO2 127 / HR 511).
//
// DF8 carries only SpO2, HR, Flags, SmartPoint, SpotCheck and CriticalBattery;
// DF2 and DF7 carry everything else except SpotCheck and CriticalBattery.
type State struct {
	SpO2 int16 // %, 4-beat average, "recording" (goes missing at once when the finger is out)
	HR   int16 // /min, 4-beat average, "recording"

	SpO2D    int16 // 4-beat, display (holds the last value ~10 s)
	SpO2Fast int16 // 4-beat, not slew-limited
	SpO2BB   int16 // beat to beat, unaveraged
	ESpO2    int16 // 8-beat, recording
	ESpO2D   int16 // 8-beat, display
	EHR      int16 // 8-beat, recording
	HRD      int16 // 4-beat, display
	EHRD     int16 // 8-beat, display

	// Pleth is the current plethysmogram sample: 8 bits in DF2, 16 in DF7,
	// absent in DF8.
	Pleth uint16

	// Flags are the conditions the device reports: ProbeOff (SNSD),
	// SensorAlarm (SNSA), Artifact, OutOfTrack, LowPerfusion (red),
	// MarginalPerfusion (yellow), LowBattery. Other flags are not sent.
	Flags vitals.Flag

	SREV            byte   // firmware revision (DF2/DF7 frame 3)
	Timer           uint16 // 14-bit counter at 3 Hz (DF2/DF7 frames 5-6)
	SmartPoint      bool   // SmartPoint algorithm in use
	SpotCheck       bool   // DF8: spot-check mode
	CriticalBattery bool   // DF8: decoded as LowBattery as well
}

// Steady gives a State where every averaged variant of SpO2 and HR equals
// spo2 and hr: what a device shows after a few stable beats.
func Steady(spo2, hr int16) State {
	return State{
		SpO2: spo2, SpO2D: spo2, SpO2Fast: spo2, SpO2BB: spo2, ESpO2: spo2, ESpO2D: spo2,
		HR: hr, EHR: hr, HRD: hr, EHRD: hr,
	}
}

// missingState is what the decoder knows before any frame: no values.
func missingState() State {
	return Steady(vitals.NoValue, vitals.NoValue)
}
