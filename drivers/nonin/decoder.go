package nonin

import (
	"fmt"

	"github.com/chairside/chairside/monitor/vitals"
)

// Decoder turns a Nonin byte stream into readings. Feed it bytes in chunks
// of any size; it calls emit with each SpO2 and pulse value as soon as the
// frame carrying it has arrived, not at the end of the 25-frame packet (in
// DF2 that would add up to 320 ms to every alarm).
//
// Synchronisation (sensors.md §1.1, as Pufferfish does it). While hunting, a
// window of frame length slides one byte at a time until it holds a frame
// that is a packet start: for DF2 byte 1 = 0x01, STATUS with bit 7 and SYNC
// set, checksum right; for DF7 the same without the lead byte. Once locked,
// every frame must have the lead byte (DF2), STATUS bit 7 and a right
// checksum, or the decoder hunts again starting one byte into the failed
// frame. DF8 has no checksum and no sync bit, so a frame is well formed when
// STATUS1 has bit 7 set, the other three bytes have it clear and the SpO2 is
// 0..100 or 127; hunting needs two well-formed frames in a row (one second
// apart) before it trusts the alignment, because a single garbage byte with
// bit 7 set is enough to fake one.
//
// Packets (DF2/DF7). A locked frame with SYNC starts a packet at index 0;
// FLOAT bytes are placed by index. If 25 frames pass without a SYNC, the
// index is unknown and FLOAT bytes are ignored (no value is emitted) until
// the next SYNC; those frames still count as good frames.
//
// Counting. Frames counts frames that passed the checks. Garbled counts bytes
// skipped while hunting, in units of frames: each stretch of hunting (from
// losing lock, or from the start, to the next lock) adds ceil(skipped bytes /
// frame length). Because DF2/DF7 relock only on a SYNC frame, the well-formed
// frames between a bad frame and the next packet start are skipped too: one
// corrupted frame costs 1 to 25 garbled frames (the rest of its packet), a
// garbage burst of n bytes about n/5 plus that, and opening the port in the
// middle of a stream up to one packet. Garbled thus measures frames lost to
// framing errors, not bad frames on the wire; on a noisy line it reads higher
// than the raw error rate. For any input, Frames*L + skipped + buffered bytes
// = bytes fed, and ceil(skipped/L) <= Garbled <= skipped.
//
// Flags. ARTF, OOT and the perfusion bits appear only on some frames (around
// a pulse), and low battery only in frame 7, so the flags of a DF2/DF7 value
// are the OR of what the last 25 good frames (one packet, 1/3 s) reported.
// That makes a condition visible on every value for a third of a second after
// the device last showed it, and never hides one that a single frame
// reported. DF8 reports every status once per second, so a value carries its
// own frame's flags.
//
// Values. SpO2 127 and HR 511 are the device's "missing" and give
// vitals.NoValue; so does an SpO2 of 101..126, which a checksummed frame
// should never carry. Emitted values are the 4-beat "recording" ones (HR from
// frames 0-1, SpO2 from frame 2), which go missing at once when the finger
// comes out; the other variants are kept in Last.
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

	win  [packetFrames]vitals.Flag // flags of the last 25 good frames
	wpos int

	last State

	frames, garbled, skipped uint64
	run                      uint64 // bytes skipped in the current hunt
}

// NewDecoder returns a decoder for format f whose readings carry sensor as
// their Sensor and are passed to emit (which may be nil, for tests that only
// look at Last and the counts).
func NewDecoder(f Format, sensor int, emit func(vitals.Reading)) (*Decoder, error) {
	if !f.valid() {
		return nil, fmt.Errorf("nonin: data format %d not supported (want 2, 7 or 8)", int(f))
	}
	d := &Decoder{format: f, sensor: sensor, emit: emit, flen: f.frameLen(), need: f.frameLen()}
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

// Status gives the counts as the vitals.Status the driver sends.
func (d *Decoder) Status() vitals.Status {
	return vitals.Status{Sensor: d.sensor, Frames: d.frames, Garbled: d.garbled}
}

// Last gives what the decoder knows of the device's state: each field as of
// the last frame that carried it, and Flags as the current 25-frame OR.
func (d *Decoder) Last() State {
	s := d.last
	if d.format != DF8 {
		s.Flags = d.windowFlags()
	}
	return s
}

// Reset forgets the stream position, as after the port was reopened: pending
// bytes of a cut-off frame are counted as skipped (garbled) and the decoder
// hunts again. The counts are kept, since they only ever grow.
func (d *Decoder) Reset() {
	for ; d.n > 0; d.n-- {
		d.skip()
	}
	d.run = 0
	d.locked, d.aligned, d.idx = false, false, 0
	d.win = [packetFrames]vitals.Flag{}
	d.wpos = 0
	d.float = [packetFrames]byte{}
	d.last = missingState()
}

// Feed decodes p. It never fails: bytes that do not fit are counted.
func (d *Decoder) Feed(p []byte) {
	for len(p) > 0 {
		// Fast path: locked, on a frame boundary, a whole frame at hand.
		if d.locked && d.n == 0 && len(p) >= d.flen && d.frameOK(p[:d.flen]) {
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
		p = p[k:]
		if d.n < want {
			return
		}
		if d.locked {
			if d.frameOK(d.buf[:d.flen]) {
				d.frame(d.buf[:d.flen])
				d.n = 0
				continue
			}
			d.locked = false // resync from the failed frame's second byte
		}
		d.hunt()
	}
}

// hunt slides the window over the buffer until it locks or runs short.
func (d *Decoder) hunt() {
	for d.n >= d.need {
		if d.lockOK(d.buf[:d.need]) {
			d.locked = true
			d.run = 0
			for i := 0; i < d.need; i += d.flen {
				d.frame(d.buf[i : i+d.flen])
			}
			d.n = 0
			return
		}
		copy(d.buf[:], d.buf[1:d.n])
		d.n--
		d.skip()
	}
}

// skip counts one byte dropped while hunting: the first byte of every frame
// length of a hunt adds a garbled frame.
func (d *Decoder) skip() {
	if d.run%uint64(d.flen) == 0 {
		d.garbled++
	}
	d.run++
	d.skipped++
}

// frameOK checks a frame while locked.
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

// lockOK checks a hunting window: a packet-start frame (DF2/DF7) or two
// well-formed frames (DF8).
func (d *Decoder) lockOK(w []byte) bool {
	switch d.format {
	case DF2:
		return d.frameOK(w) && w[1]&stSync != 0
	case DF7:
		return d.frameOK(w) && w[0]&stSync != 0
	default:
		return d.frameOK(w[:4]) && d.frameOK(w[4:8])
	}
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
func (d *Decoder) packetFrame(st byte, pleth uint16, fl byte) {
	if st&stSync != 0 {
		d.aligned, d.idx = true, 0
	} else if d.aligned {
		d.idx++
		if d.idx >= packetFrames { // a SYNC went missing: position unknown
			d.aligned = false
		}
	}
	flags := statusFlags(st)
	if d.aligned && d.idx == idxStat2 && fl&s2LowBattery != 0 {
		flags |= vitals.LowBattery
	}
	d.win[d.wpos] = flags
	d.wpos++
	if d.wpos == packetFrames {
		d.wpos = 0
	}
	d.last.Pleth = pleth
	if !d.aligned {
		return
	}
	d.float[d.idx] = fl
	s := &d.last
	switch d.idx {
	case idxHRLSB:
		s.HR = hrValue(d.float[idxHRMSB], fl)
		d.send(vitals.Pulse, s.HR, d.windowFlags())
	case idxSpO2:
		s.SpO2 = spo2Value(fl)
		d.send(vitals.SpO2, s.SpO2, d.windowFlags())
	case idxSREV:
		s.SREV = fl
	case idxTimerLSB:
		s.Timer = uint16(d.float[idxTimerMSB]&0x7f)<<7 | uint16(fl&0x7f)
	case idxStat2:
		s.SmartPoint = fl&s2SmartPoint != 0
	case idxSpO2D:
		s.SpO2D = spo2Value(fl)
	case idxSpO2Fast:
		s.SpO2Fast = spo2Value(fl)
	case idxSpO2BB:
		s.SpO2BB = spo2Value(fl)
	case idxEHRLSB:
		s.EHR = hrValue(d.float[idxEHRMSB], fl)
	case idxESpO2:
		s.ESpO2 = spo2Value(fl)
	case idxESpO2D:
		s.ESpO2D = spo2Value(fl)
	case idxHRDLSB:
		s.HRD = hrValue(d.float[idxHRDMSB], fl)
	case idxEHRDLSB:
		s.EHRD = hrValue(d.float[idxEHRDMSB], fl)
	}
}

// df8 handles a DF8 frame: STATUS1, HR LSB, SpO2, STATUS2.
func (d *Decoder) df8(f []byte) {
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

func (d *Decoder) windowFlags() vitals.Flag {
	var f vitals.Flag
	for _, w := range d.win {
		f |= w
	}
	return f
}

func (d *Decoder) send(p vitals.Param, v int16, f vitals.Flag) {
	if d.emit != nil {
		d.emit(vitals.Reading{Sensor: d.sensor, Param: p, Value: v, Flags: f})
	}
}
