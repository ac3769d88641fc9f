package cms50

// The Legacy wire format (sensors.md §2.1; atbrask/CMS50Dplus
// cms50dplus/cms50dplus.py and unittests.py; OSCAR serialoximeter.cpp),
// five bytes, the first with bit 7 set and the others clear:
//
//	byte 1  1 | beep | SpO2 dropping | finger out | signal strength (4 bits)
//	byte 2  0 | pleth (7 bits)
//	byte 3  0 | PR bit 7 | searching | probe error | bar graph (4 bits)
//	byte 4  0 | PR bits 0..6
//	byte 5  0 | SpO2 (7 bits)
//
// There is no checksum: bit 7 is the only framing, so this decoder rejects
// only what breaks that pattern, and relies on the range checks (SpO2 1..100,
// PR 1..254) and the flags for the rest.

const (
	legacyLen = 5

	legacySync      = 0x80 // byte 1
	legacyBeat      = 0x40 // byte 1
	legacyDropping  = 0x20 // byte 1
	legacyFingerOut = 0x10 // byte 1
	legacyPRHigh    = 0x40 // byte 3: bit 7 of the pulse rate
	legacySearching = 0x20 // byte 3
	legacyProbeErr  = 0x10 // byte 3
)

// decodeLegacy decodes a complete, framed legacy packet into p.
func decodeLegacy(p *Packet, b []byte) {
	*p = Packet{Protocol: Legacy, Type: TypeLive}
	p.Signal = b[0] & 0x0F
	p.FingerOut = b[0]&legacyFingerOut != 0
	p.Dropping = b[0]&legacyDropping != 0
	p.Beat = b[0]&legacyBeat != 0
	p.Pleth = b[1] & 0x7F
	p.Bar = b[2] & 0x0F
	p.ProbeError = b[2]&legacyProbeErr != 0
	p.Searching = b[2]&legacySearching != 0
	p.PR = prValue((b[2]&legacyPRHigh)<<1 | b[3]&0x7F)
	p.SpO2 = spo2Value(b[4] & 0x7F)
}

// AppendLegacy appends the legacy packet for s to dst. SpO2 and PR out of
// range are sent as the missing markers 127 and 255.
func AppendLegacy(dst []byte, s State) []byte {
	pr, spo2 := prWire(s.PR), spo2Wire(s.SpO2)
	b1 := byte(legacySync) | s.Signal&0x0F
	if s.Beat {
		b1 |= legacyBeat
	}
	if s.Dropping {
		b1 |= legacyDropping
	}
	if s.FingerOut {
		b1 |= legacyFingerOut
	}
	b3 := (pr&0x80)>>1 | s.Bar&0x0F
	if s.Searching {
		b3 |= legacySearching
	}
	if s.ProbeError {
		b3 |= legacyProbeErr
	}
	return append(dst, b1, s.Pleth&0x7F, b3, pr&0x7F, spo2&0x7F)
}

// Append appends the live packet for s in protocol p to dst.
func (p Protocol) Append(dst []byte, s State) []byte {
	if p == Legacy {
		return AppendLegacy(dst, s)
	}
	return AppendLive9(dst, s)
}
