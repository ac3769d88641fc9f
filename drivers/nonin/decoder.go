package nonin

import (
	"fmt"

	"github.com/chairside/chairside/monitor/vitals"
)

// Decoder turns a Nonin byte stream into readings. Feed it bytes in chunks
// of any size; it calls emit with the SpO2 and pulse values of a DF2/DF7
// packet when the SYNC frame that closes it arrives, and with those of a DF8
// frame as soon as it is complete.
//
// Synchronisation (sensors.md §1.1: Pufferfish's checks, but framing does
// not wait for a SYNC frame; only values do). The decoder cuts the stream
// into frames from left to right: where the next frame length of bytes is a
// valid frame it takes them whole, otherwise it skips one byte and looks
// again (hunting). A DF2 frame is valid when byte 1 is 0x01, STATUS has bit 7
// set and the checksum is right; a DF7 frame the same without the lead
// byte. DF8 has no checksum and no sync bit, so a frame is well formed when
// STATUS1 has bit 7 set, the other three bytes have it clear and the SpO2 is
// 0..100 or 127; because a single garbage byte with bit 7 set is enough to
// fake one, the decoder locks (trusts the alignment) only on two well-formed
// frames in a row, one second apart. A well-formed DF8 frame whose successor
// is not is a lone frame: it counts as a good frame but is not decoded. Once
// locked, every frame must pass the same checks, or the decoder hunts again
// from the failed frame's second byte.
//
// Packets (DF2/DF7). A FLOAT byte means what its index in the 25-frame
// packet says, and nothing in a frame says its index: only counting from the
// SYNC frame does. A frame lost whole (a relay that drops frames) or repeated
// fails no check, yet shifts every index after it, so another frame's FLOAT
// byte would be read as HR or SpO2. So a packet is valid only with
// exactly 25 frames, all taken while locked, from one SYNC frame to the next:
// its values are decoded and emitted when that next SYNC frame is complete
// (up to 1/3 s after the HR and SpO2 frames: the price of knowing no frame
// went missing). A packet that meets a SYNC frame before its 25th frame, or
// a 26th frame that is not a SYNC, is discarded whole and counts as one
// garbled frame (see Counting); one cut by a framing error is discarded
// without more count (the error is counted already). Until the first SYNC,
// after a framing error, after a discarded packet that ran long and after
// Reset the index is unknown: those frames are good frames, they set Pleth,
// but their FLOAT bytes are ignored. Frames reordered within a packet keep
// its count and cannot be told from the device's own (the wire has no
// sequence number); a frame moved to another packet changes two counts.
//
// Counting. Frames counts the frames that passed the checks, whether or not a
// value came from them: a DF2/DF7 frame found while hunting counts even if it
// is not a SYNC frame, so do the frames of a discarded packet, and so does a
// lone DF8 frame. Garbled counts the skipped bytes as below, plus one for
// each discarded DF2/DF7 packet (Discarded). Every byte fed is in
// exactly one of: a counted frame, the skipped bytes, the pending buffer
// (Frames*L + skipped + buffered = bytes fed, L the frame length). Skipped
// bytes come in runs, a run being the skipped bytes between two counted
// frames; Reset also ends a run. Garbled counts frames that failed framing or
// checksum, in units of L skipped bytes, per run:
//
//   - a run of r bytes adds ceil(r/L) garbled frames, counted as it grows (at
//     its 1st, L+1st, 2L+1st ... byte);
//   - except the first run after New or Reset, which adds floor(r/L) (at its
//     Lth, 2Lth ... byte): up to L-1 bytes of it are the rest of a frame the
//     device began before the port was opened, which is no error on the
//     wire.
//
// So a corrupted or truncated frame in a clean stream adds exactly 1 (its at
// most L bytes are one run, and the next frame is taken at once; its packet
// is cut, not discarded); a DF2/DF7 frame lost or repeated whole adds 1 (its
// packet is discarded), and so does a SYNC missing where one is due; a burst
// of n garbage bytes between two frames adds ceil(n/L), and ceil(n/L)+1 if it
// lands inside a frame (that frame's L bytes join the run); opening the port
// anywhere in a clean stream adds 0; Reset adds the bytes of a frame cut off
// by the unplug to the current run (1 garbled frame after a locked stream).
// The one way this departs from a count of frames on the wire (and, for
// discarded packets, of packets): garbage that happens to form a valid frame
// (by chance one window in 2^17 for DF2, 2^9 for DF7, about 1 in 20 for DF8)
// counts as a good frame and splits its run in two, so on a noisy DF8 line
// Garbled reads somewhat low. Without a Reset, floor(skipped/L) <= Garbled -
// Discarded <= skipped.
//
// Flags. ARTF, OOT and the perfusion bits appear only on some frames (around
// a pulse), and low battery only in frame 7, so the flags of a DF2/DF7 value
// are the OR of what the 25 frames of its packet reported: a condition that a
// single frame reported is never hidden. DF8 reports every status once per
// second, so a value carries its own frame's flags.
//
// Values. SpO2 127 and HR 511 are the device's "missing" and give
// vitals.NoValue; so does an SpO2 of 101..126, which a checksummed frame
// should never carry. Emitted values are the 4-beat "recording" ones (HR from
// frames 0-1, SpO2 from frame 2), which go missing at once when the finger
// comes out; the other variants are kept in Last, which like the readings
// comes from valid packets only.
//
// DF8 frames carry their own values, and only STATUS1 has bit 7 set, so one
// lost byte always breaks its frame (the next STATUS1 moves into it) and no
// value is read from a shifted place. Two bytes lost, one in a frame and the
// next frame's STATUS1, would leave a well-formed frame made of two frames'
// bytes (an SpO2 read from a STATUS2), which nothing on the DF8 wire tells
// from a real one; but its bytes straddle the second between two frames.
// Gap, called by a reader that saw the line quiet that long with a frame
// begun, drops that frame's bytes before the next frame's arrive. No
// checksum either keeps random bytes from making well-formed frames (one
// window in 20): a gated decoder (the driver's) decodes only frames that
// begin right after a Gap, as the device's do.
//
// A Decoder does not allocate after New and is not safe for concurrent use.
type Decoder struct {
	format Format
	sensor int
	emit   func(vitals.Reading)

	flen int // frame length
	need int // bytes that must look right to lock: flen, or 2*flen for DF8

	buf [10]byte // pending bytes: a partial frame, or the hunting window
	n   int

	locked  bool
	aligned bool // the packet index is known (a SYNC frame was seen)
	idx     int  // index in the packet of the last frame (when aligned)
	float   [packetFrames]byte
	pflags  vitals.Flag // OR of the flags of the packet's frames so far

	last State

	frames, garbled, skipped uint64
	discarded                uint64 // DF2/DF7 packets of the wrong length

	// DF8 timing (see gateOnGaps): bytes fed, where the last Gap fell in
	// them, and where the frame being taken began.
	gated             bool
	gapSeen           bool
	fed, gapAt, start uint64
	run               uint64 // bytes in the current run of skipped bytes
	opening           bool   // no frame counted since New or Reset: the run rounds down
}

// NewDecoder returns a decoder for format f whose readings carry sensor as
// their Sensor and are passed to emit (which may be nil, for tests that only
// look at Last and the counts).
func NewDecoder(f Format, sensor int, emit func(vitals.Reading)) (*Decoder, error) {
	if !f.valid() {
		return nil, fmt.Errorf("nonin: data format %d not supported (want 2, 7 or 8)", int(f))
	}
	d := &Decoder{format: f, sensor: sensor, emit: emit, flen: f.frameLen(), need: f.frameLen(), opening: true}
	if f == DF8 {
		d.need = 2 * d.flen
	}
	d.last = missingState()
	return d, nil
}

// Format reports the decoder's data format.
func (d *Decoder) Format() Format { return d.format }

// Frames counts frames that passed framing and checksum since New.
func (d *Decoder) Frames() uint64 { return d.frames }

// Garbled counts frames that failed framing or checksum since New, in the
// units described on Decoder.
func (d *Decoder) Garbled() uint64 { return d.garbled }

// Discarded counts the DF2/DF7 packets discarded for the wrong number of
// frames between two SYNC frames (each also one Garbled frame).
func (d *Decoder) Discarded() uint64 { return d.discarded }

// Status gives the counts as the vitals.Status the driver sends.
func (d *Decoder) Status() vitals.Status {
	return vitals.Status{Sensor: d.sensor, Frames: d.frames, Garbled: d.garbled}
}

// Last gives what the decoder knows of the device's state: Pleth as of the
// last good frame, every other field as of the last valid DF2/DF7 packet
// (Flags the OR over it) or the last decoded DF8 frame.
func (d *Decoder) Last() State { return d.last }

// QuietFrames reports how many frames can arrive, from the current position,
// before the next one that emits a value: in a DF2/DF7 stream whose packet
// index is known, the packet's frames after the current one up to index 24,
// since values come only with the SYNC frame that closes the packet; a frame
// begun but not complete counts among them. It is 0 when the next frame may
// emit, when the index is not known (hunting, before the first SYNC) and in
// DF8, so a reader that leaves QuietFrames frames waiting in the port's
// buffer and then reads them at once delays no value.
func (d *Decoder) QuietFrames() int {
	if d.format == DF8 || !d.locked || !d.aligned {
		return 0
	}
	return packetFrames - 1 - d.idx // idx+1 .. 24, then the closing SYNC
}

// begun reports whether part of a frame is waiting for the rest.
func (d *Decoder) begun() bool { return d.n > 0 }

// valueBegun reports whether the stream stands past the start of the SYNC
// frame that closes a packet (and emits its values) and not past it: where a
// reader that meant to be back between frame 24 and that frame finds itself
// if it came back late.
func (d *Decoder) valueBegun() bool {
	if d.format == DF8 || !d.locked || !d.aligned {
		return false
	}
	return d.idx == packetFrames-1 && d.begun() || d.idx == 0
}

// Reset forgets the stream position, as after the port was reopened: a lone
// DF8 frame still waiting for its successor counts as a good frame, the other
// pending bytes (a frame cut off by the unplug) are skipped into the current
// run, which ends; the next run is an opening one again (see Decoder). The
// counts are kept, since they only ever grow.
func (d *Decoder) Reset() {
	for d.n >= d.flen { // only while hunting DF8: otherwise n < flen here
		if !d.lone() {
			d.drop(1)
			d.skip()
		}
	}
	for ; d.n > 0; d.n-- {
		d.skip()
	}
	d.run, d.opening = 0, true
	d.locked, d.aligned, d.idx, d.pflags = false, false, 0, 0
	d.float = [packetFrames]byte{}
	d.last = missingState()
}

// Gap tells a DF8 decoder that the line was quiet for longer than one frame
// takes on the wire (about a second passes between two DF8 frames, 4 ms
// within one): bytes of a frame begun before it can only be completed by
// bytes of another frame, so they are dropped, as Reset drops them (a whole
// frame still waiting for its successor to lock is kept), and the decoder
// hunts again. Without a partial frame, and in DF2/DF7, it does nothing.
func (d *Decoder) Gap() {
	if d.format != DF8 {
		return
	}
	d.gapAt, d.gapSeen = d.fed, true
	if d.n%d.flen == 0 {
		return
	}
	for d.n >= d.flen {
		if !d.lone() {
			d.drop(1)
			d.skip()
		}
	}
	for ; d.n > 0; d.n-- {
		d.skip()
	}
	d.locked = false
}

// gateOnGaps makes a DF8 decoder decode only frames that begin on the first
// byte after a Gap: the device sends one 4-byte frame a second, so each real
// frame follows a quiet line, while random bytes at the line's rate (a wrong
// baud rate, a broken cable) make a well-formed frame by chance about one
// window in 20 and would give about ten false values a second. Frames that
// do not follow a gap are counted as good frames, like lone ones, and give
// no value, so such a line is a silent sensor. The driver, which sees when
// chunks arrive, sets it; a decoder fed without timing leaves it off.
func (d *Decoder) gateOnGaps() { d.gated = d.format == DF8 }

// Feed decodes p. It never fails: bytes that do not fit are counted.
func (d *Decoder) Feed(p []byte) {
	for len(p) > 0 {
		// Fast path: locked, on a frame boundary, a whole frame at hand.
		if d.locked && d.n == 0 && len(p) >= d.flen && d.frameOK(p[:d.flen]) {
			d.start = d.fed
			d.fed += uint64(d.flen)
			d.frame(p[:d.flen])
			p = p[d.flen:]
			continue
		}
		want := d.flen
		if !d.locked {
			want = d.need
		}
		k := copy(d.buf[d.n:want], p)
		d.n += k
		d.fed += uint64(k)
		p = p[k:]
		if d.n < want {
			return
		}
		if d.locked {
			if d.frameOK(d.buf[:d.flen]) {
				d.start = d.fed - uint64(d.n)
				d.frame(d.buf[:d.flen])
				d.n = 0
				continue
			}
			// Resync from the failed frame's second byte; the packet
			// index is lost with the frame.
			d.locked, d.aligned = false, false
		}
		d.hunt()
	}
}

// hunt slides the window over the buffer until it locks or runs short.
func (d *Decoder) hunt() {
	for d.n >= d.need {
		if d.lockOK(d.buf[:d.need]) {
			d.locked = true
			d.endRun()
			for i := 0; i < d.need; i += d.flen {
				d.start = d.fed - uint64(d.n) + uint64(i)
				d.frame(d.buf[i : i+d.flen])
			}
			d.n = 0
			return
		}
		if !d.lone() {
			d.drop(1)
			d.skip()
		}
	}
}

// lone takes a lone well-formed DF8 frame at the start of the buffer: a good
// frame, counted but not decoded, since nothing confirms its alignment. It
// reports whether there was one. (DF2/DF7 lock on any valid frame, so they
// have none.)
func (d *Decoder) lone() bool {
	if d.format != DF8 || d.n < d.flen || !d.frameOK(d.buf[:d.flen]) {
		return false
	}
	d.frames++
	d.endRun()
	d.drop(d.flen)
	return true
}

// drop removes k bytes from the front of the buffer.
func (d *Decoder) drop(k int) {
	copy(d.buf[:], d.buf[k:d.n])
	d.n -= k
}

// skip counts one byte dropped while hunting: a run of skipped bytes adds a
// garbled frame at its 1st, L+1st, 2L+1st ... byte (ceil), or, if it is the
// opening run, at its Lth, 2Lth ... byte (floor).
func (d *Decoder) skip() {
	d.skipped++
	d.run++
	l := uint64(d.flen)
	if (d.opening && d.run%l == 0) || (!d.opening && d.run%l == 1) {
		d.garbled++
	}
}

// endRun ends the current run of skipped bytes: a frame was counted.
func (d *Decoder) endRun() { d.run, d.opening = 0, false }

// frameOK checks one frame: valid (DF2/DF7) or well formed (DF8).
func (d *Decoder) frameOK(f []byte) bool {
	switch d.format {
	case DF2:
		return f[0] == 0x01 && f[1]&stFrame != 0 && f[0]+f[1]+f[2]+f[3] == f[4]
	case DF7:
		return f[0]&stFrame != 0 && f[0]+f[1]+f[2]+f[3] == f[4]
	default:
		return f[0]&0x80 != 0 && (f[1]|f[2]|f[3])&0x80 == 0 && (f[2] <= maxSpO2 || f[2] == missingSpO2)
	}
}

// lockOK checks a hunting window: one valid frame (DF2/DF7, whether or not
// it is a packet start) or two well-formed frames (DF8).
func (d *Decoder) lockOK(w []byte) bool {
	if d.format == DF8 {
		return d.frameOK(w[:4]) && d.frameOK(w[4:8])
	}
	return d.frameOK(w)
}

// frame decodes one frame that passed the checks.
func (d *Decoder) frame(f []byte) {
	d.frames++
	switch d.format {
	case DF2:
		d.packetFrame(f[1], uint16(f[2]), f[3])
	case DF7:
		d.packetFrame(f[0], uint16(f[1])<<8|uint16(f[2]), f[3])
	default:
		d.df8(f)
	}
}

// packetFrame handles a DF2/DF7 frame: status, pleth sample and FLOAT byte.
// A SYNC frame closes the packet before it, which is valid only if it holds
// exactly 25 frames; a 26th frame without SYNC discards the packet.
func (d *Decoder) packetFrame(st byte, pleth uint16, fl byte) {
	d.last.Pleth = pleth
	if st&stSync != 0 {
		if d.aligned {
			if d.idx == packetFrames-1 {
				d.closePacket()
			} else { // a frame lost, or a SYNC frame repeated
				d.discard()
			}
		}
		d.aligned, d.idx, d.pflags = true, 0, 0
	} else if d.aligned {
		d.idx++
		if d.idx == packetFrames { // a SYNC lost, or a frame repeated
			d.discard()
			d.aligned = false
		}
	}
	if d.aligned {
		d.float[d.idx] = fl
		d.pflags |= statusFlags(st)
	}
}

// discard drops the packet being gathered: it has the wrong frame count.
func (d *Decoder) discard() {
	d.discarded++
	d.garbled++
}

// closePacket decodes a valid packet's FLOAT bytes into Last and emits its
// HR and SpO2 with the OR of its frames' flags.
func (d *Decoder) closePacket() {
	fl := &d.float
	if !msbSlotsHold(fl) {
		// 25 frames, but not one packet's in their places: a second reader
		// took frames across the packet boundary and the rest moved up a
		// slot (an HR LSB, say, in the SpO2 slot). The MSB slots can hold
		// only two bits; a moved value there gives the shift away.
		d.discard()
		return
	}
	flags := d.pflags
	if fl[idxStat2]&s2LowBattery != 0 {
		flags |= vitals.LowBattery
	}
	s := &d.last
	s.Flags = flags
	s.HR = hrValue(fl[idxHRMSB], fl[idxHRLSB])
	s.SpO2 = spo2Value(fl[idxSpO2])
	s.SREV = fl[idxSREV]
	s.Timer = uint16(fl[idxTimerMSB]&0x7f)<<7 | uint16(fl[idxTimerLSB]&0x7f)
	s.SmartPoint = fl[idxStat2]&s2SmartPoint != 0
	s.SpO2D = spo2Value(fl[idxSpO2D])
	s.SpO2Fast = spo2Value(fl[idxSpO2Fast])
	s.SpO2BB = spo2Value(fl[idxSpO2BB])
	s.EHR = hrValue(fl[idxEHRMSB], fl[idxEHRLSB])
	s.ESpO2 = spo2Value(fl[idxESpO2])
	s.ESpO2D = spo2Value(fl[idxESpO2D])
	s.HRD = hrValue(fl[idxHRDMSB], fl[idxHRDLSB])
	s.EHRD = hrValue(fl[idxEHRDMSB], fl[idxEHRDLSB])
	d.send(vitals.Pulse, s.HR, flags)
	d.send(vitals.SpO2, s.SpO2, flags)
}

// df8 handles a DF8 frame: STATUS1, HR LSB, SpO2, STATUS2. A gated decoder
// decodes only a frame that began on the first byte after a Gap.
func (d *Decoder) df8(f []byte) {
	if d.gated && (!d.gapSeen || d.start != d.gapAt) {
		return // well formed, but not a frame the device sent on its beat
	}
	s := &d.last
	s.Flags = df8Flags(f[0], f[3])
	s.HR = hrValue(f[0]&df8HRhi, f[1])
	s.SpO2 = spo2Value(f[2])
	s.SmartPoint = f[3]&s2SmartPoint != 0
	s.SpotCheck = f[3]&df8SpotCheck != 0
	s.CriticalBattery = f[3]&df8CritBatt != 0
	d.send(vitals.SpO2, s.SpO2, s.Flags)
	d.send(vitals.Pulse, s.HR, s.Flags)
}

func (d *Decoder) send(p vitals.Param, v int16, f vitals.Flag) {
	if d.emit != nil {
		d.emit(vitals.Reading{Sensor: d.sensor, Param: p, Value: v, Flags: f})
	}
}

// msbSlotsHold reports whether the packet's four HR MSB slots hold only
// their two HR bits (bits 8..7), as every packet the device sends does.
// A packet whose frames moved by a slot or more has, with near certainty, a
// pulse or SpO2 byte in one of them (bits above the second set): slot 13
// catches a shift anywhere before it, slots 19 and 21 one between them.
func msbSlotsHold(fl *[packetFrames]byte) bool {
	for _, i := range [...]int{idxHRMSB, idxEHRMSB, idxHRDMSB, idxEHRDMSB} {
		if fl[i]&^0x03 != 0 {
			return false
		}
	}
	return true
}
