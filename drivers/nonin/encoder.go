package nonin

import (
	"fmt"

	"github.com/chairside/chairside/monitor/vitals"
)

// Encoder produces the exact frames a Nonin device sends for a State: the
// device model behind the simulator and the other half of every round-trip
// test. It keeps the position in the 25-frame packet (DF2/DF7).
//
// Where the device shows a status only around a pulse, so does the Encoder,
// so that the decoder's 25-frame OR is exercised: ARTF and the perfusion
// indication are set on frames 0..11 of each packet only (about 160 ms, one
// pulse per packet); SNSD, SNSA and OOT on every frame; low battery in STAT2
// (frame 7). Perfusion is red for LowPerfusion, yellow for MarginalPerfusion,
// otherwise green unless the probe is off (no indication).
type Encoder struct {
	format Format
	idx    int // index of the next frame in its packet
}

// pulseFrames is how many frames of each packet carry the pulse-bound bits.
const pulseFrames = 12

// NewEncoder returns an encoder for format f, positioned at a packet start.
func NewEncoder(f Format) (*Encoder, error) {
	if !f.valid() {
		return nil, fmt.Errorf("nonin: data format %d not supported (want 2, 7 or 8)", int(f))
	}
	return &Encoder{format: f}, nil
}

// FrameLen is the length of one frame in bytes.
func (e *Encoder) FrameLen() int { return e.format.frameLen() }

// Index is the packet index of the frame Append writes next (always 0 in DF8).
func (e *Encoder) Index() int { return e.idx }

// Append appends the next frame for s to dst and returns the extended slice.
// Values outside their range (SpO2 0..100, HR 0..510) are sent as missing.
func (e *Encoder) Append(dst []byte, s *State) []byte {
	if e.format == DF8 {
		return appendDF8(dst, s)
	}
	i := e.idx
	e.idx++
	if e.idx == packetFrames {
		e.idx = 0
	}
	st := e.status(i, s)
	fl := floatByte(i, s)
	if e.format == DF2 {
		p := byte(s.Pleth)
		return append(dst, 0x01, st, p, fl, 0x01+st+p+fl)
	}
	hi, lo := byte(s.Pleth>>8), byte(s.Pleth)
	return append(dst, st, hi, lo, fl, st+hi+lo+fl)
}

// AppendPacket appends the frames up to and including the end of the current
// packet (25 frames from a packet start; one frame in DF8).
func (e *Encoder) AppendPacket(dst []byte, s *State) []byte {
	dst = e.Append(dst, s)
	for e.idx != 0 {
		dst = e.Append(dst, s)
	}
	return dst
}

// status builds the STATUS byte of frame i.
func (e *Encoder) status(i int, s *State) byte {
	st := byte(stFrame)
	if i == 0 {
		st |= stSync
	}
	f := s.Flags
	if f.Has(vitals.ProbeOff) {
		st |= stSNSD
	}
	if f.Has(vitals.SensorAlarm) {
		st |= stSNSA
	}
	if f.Has(vitals.OutOfTrack) {
		st |= stOOT
	}
	if i < pulseFrames {
		if f.Has(vitals.Artifact) {
			st |= stARTF
		}
		switch {
		case f.Has(vitals.LowPerfusion):
			st |= stRed
		case f.Has(vitals.MarginalPerfusion):
			st |= stPerf
		case !f.Has(vitals.ProbeOff):
			st |= stGreen
		}
	}
	return st
}

// floatByte gives the FLOAT byte of frame i (the map in sensors.md §1.1).
func floatByte(i int, s *State) byte {
	switch i {
	case idxHRMSB, idxHRLSB:
		return pick(i == idxHRMSB, s.HR)
	case idxSpO2:
		return spo2Byte(s.SpO2)
	case idxSREV:
		return s.SREV
	case idxTimerMSB:
		return byte(s.Timer>>7) & 0x7f
	case idxTimerLSB:
		return byte(s.Timer) & 0x7f
	case idxStat2:
		var b byte
		if s.SmartPoint {
			b |= s2SmartPoint
		}
		if s.Flags.Has(vitals.LowBattery) {
			b |= s2LowBattery
		}
		return b
	case idxSpO2D:
		return spo2Byte(s.SpO2D)
	case idxSpO2Fast:
		return spo2Byte(s.SpO2Fast)
	case idxSpO2BB:
		return spo2Byte(s.SpO2BB)
	case idxEHRMSB, idxEHRLSB:
		return pick(i == idxEHRMSB, s.EHR)
	case idxESpO2:
		return spo2Byte(s.ESpO2)
	case idxESpO2D:
		return spo2Byte(s.ESpO2D)
	case idxHRDMSB, idxHRDLSB:
		return pick(i == idxHRDMSB, s.HRD)
	case idxEHRDMSB, idxEHRDLSB:
		return pick(i == idxEHRDMSB, s.EHRD)
	}
	return 0 // reserved
}

// pick gives the MSB or LSB byte of an HR value.
func pick(msb bool, hr int16) byte {
	m, l := hrBits(hr)
	if msb {
		return m
	}
	return l
}

// appendDF8 appends the 4-byte DF8 frame for s.
func appendDF8(dst []byte, s *State) []byte {
	msb, lsb := hrBits(s.HR)
	s1 := 0x80 | msb
	f := s.Flags
	if f.Has(vitals.ProbeOff) {
		s1 |= df8SNSD
	}
	if f.Has(vitals.OutOfTrack) {
		s1 |= df8OOT
	}
	if f.Has(vitals.LowPerfusion) {
		s1 |= df8LPRF
	}
	if f.Has(vitals.MarginalPerfusion) {
		s1 |= df8MPRF
	}
	if f.Has(vitals.Artifact) {
		s1 |= df8ARTF
	}
	var s2 byte
	if f.Has(vitals.SensorAlarm) {
		s2 |= df8SNSA
	}
	if f.Has(vitals.LowBattery) {
		s2 |= s2LowBattery
	}
	if s.SmartPoint {
		s2 |= s2SmartPoint
	}
	if s.SpotCheck {
		s2 |= df8SpotCheck
	}
	if s.CriticalBattery {
		s2 |= df8CritBatt
	}
	return append(dst, s1, lsb, spo2Byte(s.SpO2), s2)
}
