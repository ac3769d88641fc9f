package cms50

// The Live9 wire format (sensors.md §2.2; OSCAR cms50f37_loader.cpp, myoxi
// device/cms50f.go, headrotor stream_data.py):
//
//	device → host:  type (bit 7 clear) | high-bit byte | payload bytes (bit 7 set)
//	host → device:  7D 81 <cmd|0x80> 80 80 80 80 80 80   (argument ORed into byte 4)
//
// Every byte after the type has bit 7 set, so a byte with bit 7 clear can only
// be a type: that is the framing. Bit i of the high-bit byte is the real bit 7
// of payload byte i+2 (OSCAR: "always copy the high bits into the following
// bytes").
//
// The live packet, 01 hh b2 b3 b4 b5 b6 b7 b8:
//
//	hh bit 0     finger out / "pulse and SpO2 not valid" (see Packet.Flags)
//	hh bit 1     searching / "no valid data"
//	hh bit 2     bit 7 of b4
//	hh bit 3     bit 7 of the pulse rate (b5), so PR reaches 255 as in the
//	             legacy stream; the CMS50D+ measures up to 250 /min
//	hh bit 4     bit 7 of the SpO2 (b6): any SpO2 ≥ 128 is no value
//	hh bits 5, 6 bit 7 of b7 and b8
//	b2           bit 6 heartbeat marker, bits 0..3 Signal (unconfirmed)
//	b3           pleth, b4 bar or second waveform (unconfirmed); b4 bit 4
//	             is "PI valid" in Contec's protocol V7.0
//	b5, b6       pulse rate, SpO2
//	b7, b8       FF FF, or the perfusion index (PI) ×100, little-endian
//
// Bits 0 and 1 are read as the flags two independent observers reported,
// not as high bits of b2 (a status byte) and b3 (the pleth, 7-bit in every
// capture).
//
// The trailer is the only redundancy a live packet has (there is no
// checksum), and the decoder leans on it to tell a whole packet from one that
// lost a byte and ran into the next (see TestLostBytesNeverShiftAValue):
//
//   - FF FF (with hh bits 5 and 6 set): no PI, as in all public captures
//     (headrotor, titinho11, celiponcio's check), which are whole packets
//     as soon as their last byte arrives. V7.0 reads FFFF as "PI invalid".
//   - anything else is a PI, taken only when b4's PI-valid bit is set and
//     the PI is plausible (at most maxPI, 20.00 %), and only once the next
//     byte has arrived and is a packet's type byte. A packet that lost a
//     byte and then the next packet's type byte is 8 bytes of its own plus
//     the next packet's hh; the byte after it is then that packet's b2,
//     with bit 7 set, and the nine bytes are discarded. The hold costs one
//     packet time (1/60 s) on PI-capable units only.
//   - any other trailer is garbled: loud (no readings, a sensor alarm when
//     it lasts) rather than wrong.

const (
	live9Len = 9 // live packet and command length

	// TypeLive is the packet type of live data.
	TypeLive = 0x01
	// TypeAck is the two-byte reply (0C 80) to the stop commands.
	TypeAck = 0x0C

	live9HiFingerOut = 0x01
	live9HiSearching = 0x02
	live9HiBar       = 0x04
	live9HiPR        = 0x08
	live9HiSpO2      = 0x10
	live9HiTrailer   = 0x60 // b7 and b8 are FF, or bit 7 of the PI's bytes
	live9HiPILow     = 0x20 // bit 7 of b7, the PI's low byte
	live9HiPIHigh    = 0x40 // bit 7 of b8, the PI's high byte

	live9Beat    = 0x40 // in b2
	live9PIValid = 0x10 // in b4: the trailer holds a PI (V7.0)

	// maxPI is the largest plausible perfusion index, in hundredths of a
	// percent (20.00 %, the top of the range pulse oximeters display). A
	// larger value in the trailer makes the packet garbled: it is more
	// likely a byte shifted into place than a perfusion.
	maxPI = 2000
)

// Live9 host commands (the third byte of a 9-byte command).
const (
	CmdStartLive  = 0xA1 // start the live stream
	CmdStopLive   = 0xA2 // stop the live stream ("hello 2"); the device answers 0C 80
	CmdStopStored = 0xA7 // stop a stored-data transfer ("hello 1"); answered 0C 80
	CmdKeepAlive  = 0xAF // keep the live stream going; unanswered
)

// live9Start reports the length of the packet that byte b starts, or 0 when
// b cannot start one: bit 7 set, or a type not in OSCAR's table (plus the
// live packet). A switch rather than a table keeps the package free of
// package-level variables.
func live9Start(b byte) int {
	switch b {
	case 0x0C:
		return 2
	case 0x0E, 0x10:
		return 3
	case 0x06, 0x0A, 0x0B:
		return 4
	case 0x09:
		return 6
	case 0x07, 0x08, 0x0F, 0x12:
		return 8
	case TypeLive, 0x02, 0x03, 0x04, 0x05, 0x11, 0x13, 0x14:
		return 9
	}
	return 0
}

// live9Verdict is what the content check says of a framed Live9 packet.
type live9Verdict uint8

const (
	live9Garbled live9Verdict = iota // discard it
	live9Whole                       // take it now
	live9Confirm                     // take it if the next byte starts a packet
)

// checkLive9 judges a complete, framed Live9 packet. Only live packets are
// checked; their trailer decides (see the comment at the top of the file).
func checkLive9(b []byte) live9Verdict {
	if b[0] != TypeLive {
		return live9Whole
	}
	hi := b[1]
	if hi&live9HiTrailer == live9HiTrailer && b[7] == 0xFF && b[8] == 0xFF {
		return live9Whole
	}
	if b[4]&live9PIValid != 0 && live9PI(b) <= maxPI {
		return live9Confirm
	}
	return live9Garbled
}

// live9PI gives the 16-bit trailer of a live packet with the high bits
// restored: 0xFFFF when it is FF FF, else the PI ×100.
func live9PI(b []byte) uint16 {
	lo := b[7]&0x7F | hiBit(b[1], live9HiPILow)
	hi := b[8]&0x7F | hiBit(b[1], live9HiPIHigh)
	return uint16(hi)<<8 | uint16(lo)
}

// decodeLive9 decodes a complete Live9 packet that checkLive9 accepted into p.
func decodeLive9(p *Packet, b []byte) {
	*p = Packet{Protocol: Live9, Type: b[0]}
	if p.Type != TypeLive {
		return
	}
	hi := b[1]
	p.FingerOut = hi&live9HiFingerOut != 0
	p.Searching = hi&live9HiSearching != 0
	p.Beat = b[2]&live9Beat != 0
	p.Signal = b[2] & 0x0F
	p.Pleth = b[3] & 0x7F
	p.Bar = b[4]&0x7F | hiBit(hi, live9HiBar)
	p.PR = prValue(b[5]&0x7F | hiBit(hi, live9HiPR))
	p.SpO2 = spo2Value(b[6]&0x7F | hiBit(hi, live9HiSpO2))
	if pi := live9PI(b); pi <= maxPI {
		p.PI = pi
	}
}

// hiBit gives 0x80 when mask is set in hi.
func hiBit(hi, mask byte) byte {
	if hi&mask != 0 {
		return 0x80
	}
	return 0
}

// AppendLive9 appends the Live9 live packet for s to dst. SpO2 and PR out of
// range are sent as the missing markers 127 and 255; ProbeError and Dropping
// have no Live9 bit and are not sent. A PI of 1..maxPI is sent as a V7.0
// unit does (PI-valid bit in b4, PI ×100 in the trailer), any other as FF FF.
func AppendLive9(dst []byte, s State) []byte {
	pr, spo2 := prWire(s.PR), spo2Wire(s.SpO2)
	hi := byte(0x80)
	piLo, piHi := byte(0xFF), byte(0xFF)
	if s.PI >= 1 && s.PI <= maxPI {
		s.Bar |= live9PIValid
		piLo, piHi = byte(s.PI), byte(s.PI>>8)
	}
	if piLo&0x80 != 0 {
		hi |= live9HiPILow
	}
	if piHi&0x80 != 0 {
		hi |= live9HiPIHigh
	}
	if s.FingerOut {
		hi |= live9HiFingerOut
	}
	if s.Searching {
		hi |= live9HiSearching
	}
	if s.Bar&0x80 != 0 {
		hi |= live9HiBar
	}
	if pr&0x80 != 0 {
		hi |= live9HiPR
	}
	if spo2&0x80 != 0 {
		hi |= live9HiSpO2
	}
	b2 := byte(0x80) | s.Signal&0x0F
	if s.Beat {
		b2 |= live9Beat
	}
	return append(dst, TypeLive, hi, b2, 0x80|s.Pleth, 0x80|s.Bar, 0x80|pr, 0x80|spo2, 0x80|piLo, 0x80|piHi)
}

// Command gives the 9-byte Live9 host command cmd (one of the Cmd constants)
// with its optional argument (0 for none) ORed into byte 4.
func Command(cmd, arg byte) [9]byte {
	return [9]byte{0x7D, 0x81, 0x80 | cmd, 0x80, 0x80 | arg, 0x80, 0x80, 0x80, 0x80}
}
