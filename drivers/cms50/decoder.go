package cms50

import "fmt"

// Stats are a Decoder's running counts since it was made. They only grow.
//
// Every byte fed is, at any moment, in exactly one place:
//
//	Bytes = (bytes of the packets returned) + Skipped + Pending()
type Stats struct {
	Bytes   uint64 // bytes fed
	Frames  uint64 // packets that passed framing, of any type
	Live    uint64 // live packets among Frames (each gives two readings)
	Skipped uint64 // bytes discarded: noise, or packets that failed framing
	// Garbled counts the discarded bytes as frames: each run of discarded
	// bytes between two good packets counts ceil(run / PacketLen) (9 for
	// Live9, 5 for Legacy). One corrupted packet thus counts 1, however early
	// it broke (in Legacy, 2 when its first byte broke: the packet before it
	// goes too, see legacyByte), and a 100-byte burst of noise counts 12 in
	// Live9, not 100 and not 1. It rises with the first discarded byte of each new frame's
	// worth, so it is current without waiting for the next good packet.
	Garbled uint64
}

// Decoder is a streaming decoder for one protocol. Feed it bytes in chunks
// of any size, as they come off the port; it returns each Live9 packet as
// soon as its last byte arrives, so a value reaches the engine one byte time
// after the device sent it, except a live packet carrying a perfusion index,
// which (like each Legacy packet) comes out when the next packet's first
// byte arrives (see live9Byte and legacyByte), one packet time later. It keeps at most one partial packet between calls and
// allocates nothing. The zero Decoder is not usable: call NewDecoder.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	proto Protocol
	unit  uint64         // PacketLen, the unit of Garbled
	buf   [live9Len]byte // the partial packet
	n     int            // bytes in buf
	want  int            // length of the packet in buf
	held  bool           // buf holds a whole Live9 PI packet waiting for the next byte
	run   uint64         // bytes discarded since the last good packet
	chain int            // packets back to back (no byte discarded between them), up to legacyChain
	pkt   Packet         // the packet the last byte completed
	stats Stats
}

// NewDecoder returns a Decoder for p.
func NewDecoder(p Protocol) (*Decoder, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("cms50: NewDecoder: %v is not Live9 or Legacy", p)
	}
	return &Decoder{proto: p, unit: uint64(p.PacketLen())}, nil
}

// Protocol gives the protocol d decodes.
func (d *Decoder) Protocol() Protocol { return d.proto }

// Stats gives the running counts.
func (d *Decoder) Stats() Stats { return d.stats }

// Pending gives the number of bytes of a partial packet (or of a whole one
// waiting for the next packet's first byte) held for the next Feed.
func (d *Decoder) Pending() int { return d.n }

// Next consumes bytes from b until one packet completes or b is exhausted.
// It returns how many bytes it consumed and, when ok, the packet. Call it in
// a loop:
//
//	for len(b) > 0 {
//		n, pkt, ok := d.Next(b)
//		b = b[n:]
//		if ok { ... }
//	}
//
// No input makes it fail or panic: bytes that do not frame are discarded and
// counted (see Stats).
func (d *Decoder) Next(b []byte) (n int, p Packet, ok bool) {
	for n < len(b) {
		c := b[n]
		n++
		d.stats.Bytes++
		if d.proto == Legacy {
			ok = d.legacyByte(c)
		} else {
			ok = d.live9Byte(c)
		}
		if ok {
			d.chain = min(d.chain+1, legacyChain)
			d.stats.Frames++
			if d.pkt.Live() {
				d.stats.Live++
			}
			d.run = 0
			return n, d.pkt, true
		}
	}
	return n, Packet{}, false
}

// Flush discards a partial packet, counting its bytes as garbled: call it
// when the port closes, since a packet cut by an unplug will never complete
// (nor will a whole Legacy packet still waiting for the next one's start).
// It reports whether there was one.
func (d *Decoder) Flush() bool {
	if d.n == 0 {
		return false
	}
	d.discard(d.n)
	d.n = 0
	d.held = false
	return true
}

// legacyChain is how many Legacy packets must come back to back before their
// values are trusted (Trusted). Legacy has no checksum: random bytes match
// its bit-7 pattern, one packet and the next one's start, one window in 64,
// about 30 chance packets a second at 19200 baud with random values (a
// minute of noise gave 223 with a value). A run of 6 in a row is one window
// in 2^31, once in some 13 days of noise; the device sends 60 a second, so
// values come 100 ms after the port opens or after a garbled stretch.
const legacyChain = 6

// Trusted reports whether the packet Next just returned may give readings:
// always in Live9, whose FF FF trailer and type byte already make a chance
// live packet from noise a matter of weeks (a PI packet instead needs the
// PI-valid bit, a PI of at most maxPI and the next packet's type byte right
// after it); in Legacy, when it is at least
// the legacyChain-th of packets back to back.
func (d *Decoder) Trusted() bool { return d.proto == Live9 || d.chain >= legacyChain }

// discard counts k bytes as skipped and as part of the current garbled run.
func (d *Decoder) discard(k int) {
	d.chain = 0
	for range k {
		if d.run%d.unit == 0 {
			d.stats.Garbled++
		}
		d.run++
		d.stats.Skipped++
	}
}

// live9Byte adds one byte to the Live9 state machine. A byte with bit 7
// clear can only be a type, so when one arrives inside a packet the packet is
// broken and that byte starts the next one; no byte ever needs a second look.
// A live packet with a PI in its trailer has no FF FF to show it is whole: it
// is held until the next byte, and taken only if that byte starts a packet
// (checkLive9 says why).
func (d *Decoder) live9Byte(c byte) bool {
	if d.held {
		d.held = false
		if c&0x80 == 0 && live9Start(c) != 0 {
			decodeLive9(&d.pkt, d.buf[:live9Len])
			d.buf[0] = c
			d.n = 1
			d.want = live9Start(c)
			return true
		}
		d.discard(d.n)
		d.n = 0
	}
	if d.n > 0 && c&0x80 == 0 {
		d.discard(d.n)
		d.n = 0
	}
	if d.n == 0 {
		d.want = live9Start(c)
		if d.want == 0 {
			d.discard(1)
			return false
		}
	}
	d.buf[d.n] = c
	d.n++
	if d.n < d.want {
		return false
	}
	switch checkLive9(d.buf[:d.want]) {
	case live9Whole:
		d.n = 0
		decodeLive9(&d.pkt, d.buf[:d.want])
		return true
	case live9Confirm:
		d.held = true // d.n stays: the bytes are pending
		return false
	}
	d.n = 0
	d.discard(d.want)
	return false
}

// legacyByte adds one byte to the legacy state machine: a byte with bit 7 set
// starts a packet, wherever it comes. A whole packet is returned only when
// the next packet's first byte follows it: bit 7 is the only framing, so a
// packet that lost a byte and then the next packet's first byte would be
// five bytes of two packets, read from the wrong places (an SpO2 taken from
// a pleth sample); the byte after it, without bit 7, shows that. This holds
// each packet back by one packet time (1/60 s), and a packet followed by
// noise is discarded with it.
func (d *Decoder) legacyByte(c byte) bool {
	if c&legacySync != 0 {
		ok := d.n == legacyLen // whole, and followed by a packet start
		if ok {
			decodeLegacy(&d.pkt, d.buf[:legacyLen])
		} else if d.n > 0 {
			d.discard(d.n)
		}
		d.buf[0] = c
		d.n = 1
		return ok
	}
	if d.n == 0 {
		d.discard(1)
		return false
	}
	if d.n == legacyLen { // a sixth byte without bit 7: not one packet
		d.discard(d.n + 1)
		d.n = 0
		return false
	}
	d.buf[d.n] = c
	d.n++
	return false
}
