package cms50

import "github.com/chairside/chairside/monitor/vitals"

// Physiological ranges. A value outside them on the wire is the device's way
// of saying "no reading" (SpO2 127, PR 255, or 0 while nothing is measured),
// never a number to pass on.
const (
	minSpO2 = 1   // SpO2 0 is what the device shows with nothing measured
	maxSpO2 = 100 // 101..127 cannot be a saturation; 127 is the missing marker
	minPR   = 1   // PR 0 is what the device shows with nothing measured
	maxPR   = 254 // 255 is the missing marker (stored data, legacy stream)

	spo2Missing = 0x7F // what the encoders send for a missing SpO2
	prMissing   = 0xFF // what the encoders send for a missing PR
)

// State is the content of one live packet, common to both protocols: what a
// decoder found in a packet and what an encoder or the Device puts in one.
//
// SpO2 and PR hold a value in range or vitals.NoValue: decoders turn the
// device's missing markers and out-of-range numbers into NoValue, and encoders
// send the missing marker for NoValue or any value out of range. The other
// fields are the device's raw indicators, kept as they are on the wire; what
// they mean for a Reading is decided in Packet.Readings.
type State struct {
	SpO2  int16 // percent, 1..100, or vitals.NoValue
	PR    int16 // pulse rate /min, 1..254, or vitals.NoValue
	Pleth uint8 // plethysmogram sample, 0..127

	// Bar is the legacy bar graph (byte 3 bits 0..3, 0..15); in Live9 it is
	// byte 4, a second waveform or bar value of unconfirmed meaning (0..255,
	// its bit 7 carried in the high-bit byte like any other).
	Bar uint8
	// Signal is the legacy signal strength (byte 1 bits 0..3; 0..8 in use);
	// in Live9 it is the low nibble of byte 2, which varies like a signal
	// strength but is unconfirmed.
	Signal uint8

	// PI is the perfusion index in hundredths of a percent (250 = 2.50 %),
	// 1..maxPI, or 0 for none: only Live9 units of Contec's protocol V7.0
	// send it (the trailer of the live packet), and only when their PI-valid
	// bit is set. It is carried for the record; no vitals.Param holds it,
	// so the engine does not use it yet.
	PI uint16

	Beat       bool // legacy "beep" bit; Live9 heartbeat marker (byte 2 bit 6)
	FingerOut  bool // legacy byte 1 bit 4; Live9 high-bit byte bit 0
	Searching  bool // legacy byte 3 bit 5; Live9 high-bit byte bit 1
	ProbeError bool // legacy byte 3 bit 4; no Live9 bit is known
	Dropping   bool // legacy "SpO2 dropping" byte 1 bit 5; no Live9 bit is known
}

// Packet is one packet that passed framing.
type Packet struct {
	Protocol Protocol
	// Type is the Live9 packet type: TypeLive for live data, another value
	// for a reply such as the 0x0C acknowledgement of a stop command. A
	// Legacy packet is always TypeLive.
	Type byte
	// State is the live data; zero unless Type is TypeLive.
	State
}

// Live reports whether the packet carries live data (and so two readings).
func (p Packet) Live() bool { return p.Type == TypeLive }

// Flags gives the vitals flags the packet's indicators raise:
//
//   - FingerOut (both protocols) → ProbeOff. In Live9 this is bit 0 of the
//     high-bit byte, which headrotor reads as "pulse and SpO2 not valid"
//     (0xE1) and celiponcio as "finger out"; the legacy bit is "finger out"
//     to atbrask and "searching too long" to Contec's sheet. Every reading
//     agrees the data is unusable, and ProbeOff is what the engine alarms on.
//   - Searching (both) → Searching. In Live9 bit 1, "no valid data" (0xE2)
//     to headrotor, "searching" to celiponcio.
//   - ProbeError (legacy) → SensorAlarm.
//   - Legacy signal strength 0 with the finger in → LowPerfusion: the device
//     sees no pulsatile signal worth a bar. The Live9 nibble that may be a
//     signal strength is unconfirmed and raises nothing.
//
// The legacy "SpO2 dropping" bit raises nothing: it is the device's own trend
// indicator, not a statement about signal quality, and the engine runs its
// own limits on the values. The Beat bit raises nothing either.
func (p Packet) Flags() vitals.Flag {
	if !p.Live() {
		return 0
	}
	var f vitals.Flag
	if p.FingerOut {
		f |= vitals.ProbeOff
	}
	if p.Searching {
		f |= vitals.Searching
	}
	if p.ProbeError {
		f |= vitals.SensorAlarm
	}
	if p.Protocol == Legacy && p.Signal == 0 && !p.FingerOut {
		f |= vitals.LowPerfusion
	}
	return f
}

// unusable are the flags under which the device's numbers are stale or
// undefined: both readings then carry NoValue. Searching is among them even
// though vitals.Reading.Valid accepts it, because a device that is searching
// still shows its last numbers and the engine must not take them as current.
const unusable = vitals.ProbeOff | vitals.Searching | vitals.SensorAlarm

// Readings gives the packet's SpO2 and pulse readings for the sensor with
// index sensor, in that order, both with the packet's Flags. A value is
// NoValue when the device gave none or when a flag says its numbers are not
// usable (see Flags). ok is false for a packet that carries no live data.
// It does not allocate.
func (p Packet) Readings(sensor int) (r [2]vitals.Reading, ok bool) {
	if !p.Live() {
		return r, false
	}
	f := p.Flags()
	spo2, pr := p.SpO2, p.PR
	if f.Has(unusable) {
		spo2, pr = vitals.NoValue, vitals.NoValue
	}
	r[0] = vitals.Reading{Sensor: sensor, Param: vitals.SpO2, Value: spo2, Flags: f}
	r[1] = vitals.Reading{Sensor: sensor, Param: vitals.Pulse, Value: pr, Flags: f}
	return r, true
}

// spo2Value maps a wire SpO2 to a value or NoValue.
func spo2Value(raw uint8) int16 {
	if raw < minSpO2 || raw > maxSpO2 {
		return vitals.NoValue
	}
	return int16(raw)
}

// prValue maps a wire pulse rate to a value or NoValue.
func prValue(raw uint8) int16 {
	if raw < minPR || raw > maxPR {
		return vitals.NoValue
	}
	return int16(raw)
}

// spo2Wire gives the wire SpO2 for v: v when in range, else the missing marker.
func spo2Wire(v int16) uint8 {
	if v < minSpO2 || v > maxSpO2 {
		return spo2Missing
	}
	return uint8(v)
}

// prWire gives the wire pulse rate for v: v when in range, else the missing marker.
func prWire(v int16) uint8 {
	if v < minPR || v > maxPR {
		return prMissing
	}
	return uint8(v)
}

// Normalize gives s as a decoder would return it after encoding: SpO2 and PR
// out of range become NoValue and the raw fields are cut to the bits the
// protocol carries. Encoder/decoder round trips compare against it.
func (p Protocol) Normalize(s State) State {
	s.SpO2 = spo2Value(spo2Wire(s.SpO2))
	s.PR = prValue(prWire(s.PR))
	s.Pleth &= 0x7F
	s.Signal &= 0x0F
	if p == Legacy {
		s.Bar &= 0x0F
		s.PI = 0
	} else {
		s.ProbeError, s.Dropping = false, false
		if s.PI > maxPI {
			s.PI = 0
		}
		if s.PI > 0 {
			s.Bar |= live9PIValid
		}
	}
	return s
}
