package nonin

import (
	"fmt"

	"github.com/chairside/chairside/monitor/vitals"
)

// Format is a Nonin serial data format number.
type Format int

// The data formats this package speaks.
const (
	DF2 Format = 2 // 5-byte frames with a 0x01 lead, 8-bit pleth, 75 frames/s, 25-frame packets
	DF7 Format = 7 // 5-byte frames without lead, 16-bit pleth, 75 frames/s, 25-frame packets
	DF8 Format = 8 // 4-byte frame once per second, no checksum
)

// Wire constants from sensors.md §1.
const (
	packetFrames = 25 // frames per DF2/DF7 packet (3 packets/s)
	framesPerSec = 75 // DF2/DF7 frame rate

	missingSpO2 = 127 // the device's "no value" for every SpO2 slot
	missingHR   = 511 // the device's "no value" for every 9-bit HR slot
	maxSpO2     = 100 // larger values other than 127 cannot be a saturation

	// DF2/DF7 STATUS byte.
	stFrame = 0x80 // always 1: framing
	stSNSD  = 0x40 // sensor disconnected / inoperable
	stARTF  = 0x20 // artifact
	stOOT   = 0x10 // out of track
	stSNSA  = 0x08 // sensor alarm: unusable data
	stRed   = 0x04 // perfusion bits 2..1: 10 red, 11 yellow, 01 green
	stGreen = 0x02
	stPerf  = stRed | stGreen
	stSync  = 0x01 // first frame of a packet

	// DF2 STAT2 (FLOAT byte of frame 7) and DF8 STATUS2 share these bits.
	s2SmartPoint = 0x20
	s2LowBattery = 0x01

	// DF8 STATUS1.
	df8SNSD = 0x40
	df8OOT  = 0x20
	df8LPRF = 0x10
	df8MPRF = 0x08
	df8ARTF = 0x04
	df8HRhi = 0x03 // HR bits 8..7

	// DF8 STATUS2.
	df8SNSA      = 0x08
	df8SpotCheck = 0x04
	df8CritBatt  = 0x02
)

// FLOAT byte slots of a DF2/DF7 packet (frame index, 0-based).
const (
	idxHRMSB    = 0
	idxHRLSB    = 1
	idxSpO2     = 2
	idxSREV     = 3
	idxTimerMSB = 5
	idxTimerLSB = 6
	idxStat2    = 7
	idxSpO2D    = 8
	idxSpO2Fast = 9
	idxSpO2BB   = 10
	idxEHRMSB   = 13
	idxEHRLSB   = 14
	idxESpO2    = 15
	idxESpO2D   = 16
	idxHRDMSB   = 19
	idxHRDLSB   = 20
	idxEHRDMSB  = 21
	idxEHRDLSB  = 22
)

// knownFlags are the only flags this driver ever sets.
const knownFlags = vitals.ProbeOff | vitals.SensorAlarm | vitals.Artifact | vitals.OutOfTrack |
	vitals.LowPerfusion | vitals.MarginalPerfusion | vitals.LowBattery

// frameLen is the length of one frame on the wire.
func (f Format) frameLen() int {
	if f == DF8 {
		return 4
	}
	return 5
}

// valid reports whether f is a format this package speaks.
func (f Format) valid() bool { return f == DF2 || f == DF7 || f == DF8 }

// String gives "DF2", "DF7", "DF8" or "DF(n)".
func (f Format) String() string {
	if f.valid() {
		return fmt.Sprintf("DF%d", int(f))
	}
	return fmt.Sprintf("DF(%d)", int(f))
}

// statusFlags maps a DF2/DF7 STATUS byte to flags. Green perfusion (good
// signal) and no indication map to no flag.
func statusFlags(st byte) vitals.Flag {
	var f vitals.Flag
	if st&stSNSD != 0 {
		f |= vitals.ProbeOff
	}
	if st&stARTF != 0 {
		f |= vitals.Artifact
	}
	if st&stOOT != 0 {
		f |= vitals.OutOfTrack
	}
	if st&stSNSA != 0 {
		f |= vitals.SensorAlarm
	}
	switch st & stPerf {
	case stRed:
		f |= vitals.LowPerfusion
	case stPerf:
		f |= vitals.MarginalPerfusion
	}
	return f
}

// df8Flags maps DF8 STATUS1 and STATUS2 to flags; critical battery is
// reported as LowBattery, the only battery flag vitals has.
func df8Flags(s1, s2 byte) vitals.Flag {
	var f vitals.Flag
	if s1&df8SNSD != 0 {
		f |= vitals.ProbeOff
	}
	if s1&df8OOT != 0 {
		f |= vitals.OutOfTrack
	}
	if s1&df8LPRF != 0 {
		f |= vitals.LowPerfusion
	}
	if s1&df8MPRF != 0 {
		f |= vitals.MarginalPerfusion
	}
	if s1&df8ARTF != 0 {
		f |= vitals.Artifact
	}
	if s2&df8SNSA != 0 {
		f |= vitals.SensorAlarm
	}
	if s2&(df8CritBatt|s2LowBattery) != 0 {
		f |= vitals.LowBattery
	}
	return f
}

// spo2Value decodes a 7-bit SpO2 byte; 127 (missing) and the impossible
// 101..126 give vitals.NoValue.
func spo2Value(b byte) int16 {
	v := int16(b & 0x7f)
	if v > maxSpO2 {
		return vitals.NoValue
	}
	return v
}

// hrValue decodes a 9-bit HR from its MSB (bits 1..0 = HR bits 8..7) and LSB
// (bits 6..0); 511 (missing) gives vitals.NoValue.
func hrValue(msb, lsb byte) int16 {
	v := int16(msb&0x03)<<7 | int16(lsb&0x7f)
	if v == missingHR {
		return vitals.NoValue
	}
	return v
}

// spo2Byte encodes an SpO2 value; anything outside 0..100 is sent as missing.
func spo2Byte(v int16) byte {
	if v < 0 || v > maxSpO2 {
		return missingSpO2
	}
	return byte(v)
}

// hrBits encodes an HR value as its MSB and LSB bytes; anything outside
// 0..510 is sent as missing.
func hrBits(v int16) (msb, lsb byte) {
	if v < 0 || v >= missingHR {
		v = missingHR
	}
	return byte(v>>7) & 0x03, byte(v) & 0x7f
}
