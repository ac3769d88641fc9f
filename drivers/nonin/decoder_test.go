package nonin

import (
	"bytes"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// TestDF2RealCapture decodes the real packet quoted in sensors.md §1.1 and
// checks every stated value, and that HR and SpO2 come out when the next
// packet's SYNC frame has closed the packet (25 frames, none lost).
func TestDF2RealCapture(t *testing.T) {
	v, _ := loadVectors(t, "df2_mattjlewis_packet.hex")
	stream := v[""]
	if len(stream) != 26*5 {
		t.Fatalf("capture is %d bytes, want 130", len(stream))
	}
	d, r := newDec(t, DF2)
	r.feedBytes(d, stream)

	want := []vitals.Reading{
		{Sensor: 3, Param: vitals.Pulse, Value: 74},
		{Sensor: 3, Param: vitals.SpO2, Value: 96},
	}
	if len(r.readings) != len(want) {
		t.Fatalf("readings %+v, want %+v", r.readings, want)
	}
	for i, w := range want {
		if r.readings[i] != w {
			t.Errorf("reading %d = %+v, want %+v", i, r.readings[i], w)
		}
	}
	// Both when the next SYNC frame ends (byte 130): not before the packet
	// is known to be whole.
	if r.at[0] != 130 || r.at[1] != 130 {
		t.Errorf("values emitted after %v bytes, want [130 130]", r.at)
	}
	got := d.Last()
	wantState := State{
		SpO2: 96, HR: 74, SpO2D: 96, SpO2Fast: 96, SpO2BB: 96, ESpO2: 96, ESpO2D: 96,
		EHR: 74, HRD: 74, EHRD: 74, Pleth: 0xAF, SREV: 0x94, Timer: 23,
	}
	if got != wantState {
		t.Errorf("Last() = %+v\nwant     %+v", got, wantState)
	}
	if d.Frames() != 26 || d.Garbled() != 0 {
		t.Errorf("frames %d garbled %d, want 26 and 0", d.Frames(), d.Garbled())
	}
	if st := d.Status(); st != (vitals.Status{Sensor: 3, Frames: 26}) {
		t.Errorf("Status() = %+v", st)
	}
}

func TestDF2PufferfishPacket(t *testing.T) {
	v, _ := loadVectors(t, "df2_pufferfish_packet.hex")
	d, r := newDec(t, DF2)
	d.Feed(v[""])
	if len(r.readings) != 0 {
		t.Errorf("readings %+v before the packet was closed by a SYNC frame", r.readings)
	}
	d.Feed(v[""][:5]) // the next SYNC frame closes the packet
	got := d.Last()
	want := State{
		SpO2: 97, HR: 72, SpO2D: 97, SpO2Fast: 97, SpO2BB: 97, ESpO2: 97, ESpO2D: 97,
		EHR: 72, HRD: 72, EHRD: 72, Pleth: 1, SREV: 48,
	}
	if got != want {
		t.Errorf("Last() = %+v\nwant     %+v", got, want)
	}
	if len(r.readings) != 2 || r.readings[0].Value != 72 || r.readings[1].Value != 97 {
		t.Errorf("readings %+v, want pulse 72 then spo2 97", r.readings)
	}
	if d.Frames() != 26 || d.Garbled() != 0 {
		t.Errorf("frames %d garbled %d, want 26 and 0", d.Frames(), d.Garbled())
	}
}

// TestDF2PufferfishFrames checks the framing verdicts stated in Pufferfish's
// frame receiver tests, with this decoder's counts. Each vector is fed to a
// new decoder, as if the port had just been opened: the opening run of
// skipped bytes rounds down (a cut-off frame tail is no error on the wire), so
// a lone bad frame has cost no garbled frame yet, one byte skipped and four
// still buffered; the second part checks that the bad frames are garbled
// frames in a running stream.
func TestDF2PufferfishFrames(t *testing.T) {
	v, _ := loadVectors(t, "df2_pufferfish_frames.txt")
	for _, tc := range []struct {
		name            string
		frames, garbled uint64
		skipped         uint64
		readings        []vitals.Reading
	}{
		{"sync_frame", 1, 0, 0, nil},
		{"sync_frame_2", 1, 0, 0, nil},
		{"frame_hr_lsb", 1, 0, 0, nil},     // valid, not a start: a good frame, no value (index unknown)
		{"frame_not_start", 1, 0, 0, nil},  // idem
		{"bad_chk_start", 0, 0, 1, nil},    // checksum: rejected, first byte skipped
		{"bad_bit7", 0, 0, 1, nil},         // status bit 7 clear: idem
		{"stream_offset_2", 1, 0, 2, nil},  // takes the frame two bytes in; the two are a cut-off tail
		{"stream_bad_chk_2", 1, 1, 1, nil}, // second frame rejected: a garbled frame after a good one
		{"stream_bad_bit7_2", 1, 1, 1, nil},
		{"stream_20_bytes", 4, 0, 0, nil}, // a packet begun: no value before its end
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, ok := v[tc.name]
			if !ok {
				t.Fatalf("no vector %q in testdata", tc.name)
			}
			d, r := newDec(t, DF2)
			r.feedBytes(d, in)
			if d.Frames() != tc.frames || d.Garbled() != tc.garbled || d.skipped != tc.skipped {
				t.Errorf("frames %d garbled %d skipped %d; want %d %d %d",
					d.Frames(), d.Garbled(), d.skipped, tc.frames, tc.garbled, tc.skipped)
			}
			if len(r.readings) != len(tc.readings) {
				t.Fatalf("readings %+v, want %+v", r.readings, tc.readings)
			}
			for i := range tc.readings {
				if r.readings[i] != tc.readings[i] {
					t.Errorf("reading %d = %+v, want %+v", i, r.readings[i], tc.readings[i])
				}
			}
		})
	}
	// Between two good frames, each bad frame is exactly one garbled frame
	// and a good non-start frame is a good frame; the 2-frame packet it
	// makes between two SYNC frames is one garbled (discarded) packet.
	for name, want := range map[string][2]uint64{
		"bad_chk_start": {2, 1}, "bad_chk": {2, 1}, "bad_bit7": {2, 1},
		"frame_hr_lsb": {3, 1}, "frame_not_start": {3, 1},
	} {
		d, _ := newDec(t, DF2)
		d.Feed(v["sync_frame"])
		d.Feed(v[name])
		d.Feed(v["sync_frame"])
		if d.Frames() != want[0] || d.Garbled() != want[1] {
			t.Errorf("%s between two good frames: frames %d garbled %d, want %d and %d",
				name, d.Frames(), d.Garbled(), want[0], want[1])
		}
	}
	// The bad-CHK stream cost one garbled frame; once a whole packet has
	// come the decoder is back.
	d, r := newDec(t, DF2)
	d.Feed(v["stream_bad_chk_2"])
	p, _ := loadVectors(t, "df2_pufferfish_packet.hex")
	d.Feed(p[""])
	d.Feed(p[""][:5])
	if d.Frames() != 27 || d.Garbled() != 1 || len(r.readings) != 2 || r.readings[1].Value != 97 {
		t.Errorf("after a bad frame: frames %d garbled %d readings %+v; want 27, 1 and spo2 97",
			d.Frames(), d.Garbled(), r.readings)
	}
}

// TestDF7Spec decodes the DF7 vectors and checks the packet's flags: the OR
// of its 25 frames, so a condition shown on one frame is on its values.
func TestDF7Spec(t *testing.T) {
	v, _ := loadVectors(t, "df7_spec.hex")
	d, r := newDec(t, DF7)

	d.Feed(v["A"]) // 25 frames and the next SYNC frame
	if s := d.Last(); s.HR != 74 || s.SpO2 != 96 || s.SREV != 0x94 || s.Timer != 23 || s.Pleth != 0xAFE1 || s.Flags != 0 {
		t.Errorf("packet A: Last() = %+v", s)
	}
	if d.Garbled() != 0 || d.Frames() != 26 || len(r.readings) != 2 || r.readings[0].Value != 74 || r.readings[1].Value != 96 {
		t.Errorf("packet A: frames %d garbled %d readings %+v", d.Frames(), d.Garbled(), r.readings)
	}

	// B's SYNC cuts the 1-frame packet that A's last frame began: one
	// garbled packet. B itself is closed by C's SYNC.
	r.readings = nil
	d.Feed(v["B"])
	if d.Garbled() != 1 || len(r.readings) != 0 {
		t.Errorf("packet B: garbled %d readings %+v; want 1 and none before B is closed", d.Garbled(), r.readings)
	}
	d.Feed(v["C"])
	if len(r.readings) != 2 {
		t.Fatalf("packet B closed: readings %+v", r.readings)
	}
	for _, x := range r.readings {
		if x.Value != vitals.NoValue || x.Flags != vitals.ProbeOff|vitals.LowBattery {
			t.Errorf("packet B: reading %+v, want NoValue with probe_off|low_battery", x)
		}
	}
	s := d.Last()
	if s.HR != vitals.NoValue || s.EHR != vitals.NoValue || s.HRD != vitals.NoValue || s.EHRD != vitals.NoValue ||
		s.SpO2D != vitals.NoValue || s.ESpO2D != vitals.NoValue || s.Timer != 24 || s.Pleth != 0x124C {
		t.Errorf("packet B: Last() = %+v, want every value missing, timer 24", s)
	}
	if s.Flags != vitals.ProbeOff|vitals.LowBattery {
		t.Errorf("packet B: flags %v, want probe_off|low_battery", s.Flags)
	}

	// C closed by the next C: its own frames' flags only, artifact and red
	// perfusion (frames 0-3) and out of track (frame 10), none of B's.
	r.readings = nil
	d.Feed(v["C"])
	fresh := vitals.Artifact | vitals.LowPerfusion | vitals.OutOfTrack
	want := []vitals.Reading{
		{Sensor: 3, Param: vitals.Pulse, Value: 300, Flags: fresh},
		{Sensor: 3, Param: vitals.SpO2, Value: 88, Flags: fresh},
	}
	if len(r.readings) != 2 || r.readings[0] != want[0] || r.readings[1] != want[1] {
		t.Errorf("packet C: readings %+v\nwant %+v", r.readings, want)
	}
}

func TestDF8Spec(t *testing.T) {
	v, order := loadVectors(t, "df8_spec.txt")
	type want struct {
		hr, spo2                       int16
		flags                          vitals.Flag
		smart, spotCheck, criticalBatt bool
	}
	wants := map[string]want{
		"plain":       {72, 97, 0, false, false, false},
		"hr_msb":      {172, 88, 0, true, false, false},
		"probe_off":   {vitals.NoValue, vitals.NoValue, vitals.ProbeOff | vitals.SensorAlarm, false, false, false},
		"poor_signal": {60, 90, vitals.OutOfTrack | vitals.LowPerfusion | vitals.Artifact | vitals.LowBattery, false, false, false},
		"marginal":    {70, 95, vitals.MarginalPerfusion | vitals.LowBattery, false, true, true},
		"extremes":    {256, 0, 0, false, false, false},
	}
	if len(order) != len(wants) {
		t.Fatalf("testdata has %v, test expects %d vectors", order, len(wants))
	}
	check := func(name string, d *Decoder, readings []vitals.Reading) {
		t.Helper()
		w := wants[name]
		s := d.Last()
		if s.HR != w.hr || s.SpO2 != w.spo2 || s.Flags != w.flags || s.SmartPoint != w.smart ||
			s.SpotCheck != w.spotCheck || s.CriticalBattery != w.criticalBatt {
			t.Errorf("%s: Last() = %+v, want %+v", name, s, w)
		}
		wr := []vitals.Reading{
			{Sensor: 3, Param: vitals.SpO2, Value: w.spo2, Flags: w.flags},
			{Sensor: 3, Param: vitals.Pulse, Value: w.hr, Flags: w.flags},
		}
		if len(readings) != 2 || readings[0] != wr[0] || readings[1] != wr[1] {
			t.Errorf("%s: readings %+v, want %+v", name, readings, wr)
		}
	}
	d, r := newDec(t, DF8)
	// DF8 locks on two well-formed frames: nothing comes out of the first
	// alone; both come out when the second confirms the alignment.
	d.Feed(v[order[0]])
	if len(r.readings) != 0 {
		t.Fatalf("a lone first frame was trusted: %+v", r.readings)
	}
	d.Feed(v[order[1]])
	if len(r.readings) != 4 {
		t.Fatalf("after two frames: %d readings, want 4", len(r.readings))
	}
	if w := wants[order[0]]; r.readings[0].Value != w.spo2 || r.readings[1].Value != w.hr {
		t.Errorf("%s: readings %+v", order[0], r.readings[:2])
	}
	check(order[1], d, r.readings[2:])
	for _, name := range order[2:] {
		r.readings = nil
		d.Feed(v[name])
		check(name, d, r.readings)
	}
	if d.Frames() != uint64(len(order)) || d.Garbled() != 0 {
		t.Errorf("frames %d garbled %d, want %d and 0", d.Frames(), d.Garbled(), len(order))
	}
}

// capturePackets gives n copies of the real DF2 packet (25 frames each).
func capturePackets(t testing.TB, n int) []byte {
	v, _ := loadVectors(t, "df2_mattjlewis_packet.hex")
	packet := v[""][:125]
	return bytes.Repeat(packet, n)
}

// TestDF2Resync covers the ways a stream goes wrong. Every case must yield
// only the capture's true values (74, 96), resume after the fault, and count
// what it lost: one garbled frame per fault, while the good frames between
// the fault and the next SYNC stay good frames (no value comes from them),
// and the packet the fault cut gives no value.
func TestDF2Resync(t *testing.T) {
	clean := capturePackets(t, 5)[:101*5] // 4 packets and the SYNC closing the last
	frame := func(packet, idx int) int { return (packet*25 + idx) * 5 }
	for _, tc := range []struct {
		name        string
		mangle      func([]byte) []byte
		frames      uint64 // frames that pass
		garbled     uint64
		readings    int // of the clean stream's 8
		lastReading int // the SYNC frame (as a packet number) that must emit the last values
	}{
		{"clean", func(b []byte) []byte { return b }, 101, 0, 8, 4},
		{"garbage before", func(b []byte) []byte {
			return append([]byte{0x01, 0x81, 0x00, 0xff, 0x13, 0x01, 0x01, 0x80}, b...)
		}, 101, 1, 8, 4}, // 8 bytes before the first frame: floor(8/5), the opening run rounds down
		{"corrupted checksum in frame 5 of packet 1", func(b []byte) []byte {
			b[frame(1, 5)+4] ^= 0x40
			return b
		}, 101 - 1, 1, 6, 4}, // frames 6-24 of packet 1 are good, without values
		{"bit7 cleared in frame 1 of packet 2", func(b []byte) []byte {
			b[frame(2, 1)+1] &^= 0x80
			b[frame(2, 1)+4] -= 0x80 // keep the checksum right: only bit 7 is wrong
			return b
		}, 101 - 1, 1, 6, 4}, // packet 2 loses HR and SpO2 (its index is unknown after frame 1)
		{"truncated frame 3 of packet 0", func(b []byte) []byte {
			at := frame(0, 3)
			return append(b[:at+2:at+2], b[at+5:]...)
		}, 101 - 1, 1, 6, 4}, // the 2 bytes left of frame 3 are one run: ceil(2/5)
		{"lead byte wrong in the SpO2 frame of packet 3", func(b []byte) []byte {
			b[frame(3, 2)] = 0x02
			b[frame(3, 2)+4]++
			return b
		}, 101 - 1, 1, 6, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.mangle(append([]byte(nil), clean...))
			for _, chunk := range []int{1, 3, 7, 64, len(in)} {
				d, r := newDec(t, DF2)
				for i := 0; i < len(in); i += chunk {
					r.fed = min(i+chunk, len(in))
					d.Feed(in[i:r.fed])
				}
				// Resumed: the last value comes from the last packet (the
				// SYNC frame closing it ends 5 bytes after its start; the
				// mangled streams are at most 8 bytes off the clean one).
				if n := len(r.at); n == 0 || r.at[n-1] < frame(tc.lastReading, 0)+5-8 {
					t.Errorf("chunk %d: last value after byte %v, not from packet %d", chunk, r.at, tc.lastReading)
				}
				for _, x := range r.readings {
					if (x.Param == vitals.Pulse && x.Value != 74) || (x.Param == vitals.SpO2 && x.Value != 96) || x.Flags != 0 {
						t.Errorf("chunk %d: bogus reading %+v", chunk, x)
					}
				}
				if len(r.readings) != tc.readings {
					t.Errorf("chunk %d: %d readings, want %d", chunk, len(r.readings), tc.readings)
				}
				if d.Frames() != tc.frames || d.Garbled() != tc.garbled {
					t.Errorf("chunk %d: frames %d garbled %d, want %d and %d",
						chunk, d.Frames(), d.Garbled(), tc.frames, tc.garbled)
				}
				if got := d.Frames()*5 + d.skipped + uint64(d.n); got != uint64(len(in)) {
					t.Errorf("chunk %d: accounting %d bytes of %d", chunk, got, len(in))
				}
			}
		})
	}
}

// TestDF2MissingSyncAndEarlySync: a packet longer than 25 frames (a SYNC
// lost) and one shorter (frames lost without a framing error, Pufferfish's
// "missed data" case) are discarded, one garbled frame each, and give no
// value; the frames after them have no place until the next SYNC.
func TestDF2MissingSyncAndEarlySync(t *testing.T) {
	v, _ := loadVectors(t, "df2_mattjlewis_packet.hex")
	packet := v[""][:125]
	noSync := append([]byte(nil), packet[:5]...)
	noSync[1] &^= stSync
	noSync[4] -= stSync

	d, r := newDec(t, DF2)
	d.Feed(packet)
	d.Feed(noSync)       // frame "25": no SYNC where one is due
	d.Feed(packet[5:15]) // would be HR and SpO2 if the index were guessed
	if len(r.readings) != 0 {
		t.Errorf("values decoded from a packet with no closing SYNC: %+v", r.readings)
	}
	if d.Frames() != 28 || d.Garbled() != 1 || d.Discarded() != 1 {
		t.Errorf("frames %d garbled %d discarded %d; want 28, 1, 1", d.Frames(), d.Garbled(), d.Discarded())
	}
	d.Feed(packet)
	d.Feed(packet[:5])
	if len(r.readings) != 2 || d.Garbled() != 1 {
		t.Errorf("no values after a whole packet: %+v, garbled %d", r.readings, d.Garbled())
	}

	// Early SYNC: 23 frames, then a new packet.
	d, r = newDec(t, DF2)
	d.Feed(packet[:23*5])
	d.Feed(packet)
	if len(r.readings) != 0 || d.Garbled() != 1 || d.Frames() != 48 {
		t.Errorf("early SYNC: readings %+v frames %d garbled %d; want none, 48, 1", r.readings, d.Frames(), d.Garbled())
	}
	d.Feed(packet[:5])
	if len(r.readings) != 2 || d.Garbled() != 1 {
		t.Errorf("early SYNC, then a whole packet: readings %+v garbled %d", r.readings, d.Garbled())
	}
}

func TestMissingValues(t *testing.T) {
	for _, f := range []Format{DF2, DF7, DF8} {
		t.Run(f.String(), func(t *testing.T) {
			e, _ := NewEncoder(f)
			d, r := newDec(t, f)
			s := Steady(vitals.NoValue, vitals.NoValue) // sent as 127 and 511
			var b []byte
			for i := 0; i < 2; i++ {
				b = e.AppendPacket(b, &s)
			}
			if f == DF8 {
				if b[1] != 0x7f || b[2] != 127 || b[0]&3 != 3 {
					t.Fatalf("DF8 frame % x does not carry 127/511", b[:4])
				}
			} else if b[2*5+3] != 127 || b[3] != 3 || b[5+3] != 0x7f {
				t.Fatalf("frames % x do not carry 127/511", b[:15])
			}
			d.Feed(b)
			if len(r.readings) == 0 {
				t.Fatal("no readings")
			}
			for _, x := range r.readings {
				if x.Value != vitals.NoValue || x.Valid() {
					t.Errorf("reading %+v, want NoValue", x)
				}
			}
		})
	}
	// SpO2 bytes 101..126 cannot be a saturation.
	if spo2Value(101) != vitals.NoValue || spo2Value(126) != vitals.NoValue || spo2Value(100) != 100 || spo2Value(0) != 0 {
		t.Error("spo2Value range")
	}
	if hrValue(3, 0x7f) != vitals.NoValue || hrValue(3, 0x7e) != 510 || hrValue(0, 0) != 0 {
		t.Error("hrValue range")
	}
}

// TestDF8Garbage: DF8 has no checksum; bit-7 noise must not decode as values,
// and the decoder must need two good frames to trust alignment.
func TestDF8Garbage(t *testing.T) {
	e, _ := NewEncoder(DF8)
	s := Steady(95, 80)
	var good []byte
	for i := 0; i < 4; i++ {
		good = e.Append(good, &s)
	}
	d, r := newDec(t, DF8)
	d.Feed(good[:8])
	d.Feed([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80}) // noise, then a lone status-like byte
	d.Feed(good[8:])
	for _, x := range r.readings {
		if (x.Param == vitals.SpO2 && x.Value != 95) || (x.Param == vitals.Pulse && x.Value != 80) {
			t.Errorf("bogus %+v", x)
		}
	}
	if d.Garbled() == 0 {
		t.Error("noise not counted")
	}
	// One lone frame after noise is not trusted; the second confirms it.
	before := len(r.readings)
	d.Feed([]byte{0x12})
	d.Feed(good[:4])
	if len(r.readings) != before {
		t.Errorf("a single DF8 frame after noise was trusted")
	}
	d.Feed(good[4:8])
	if len(r.readings) != before+4 {
		t.Errorf("two frames after noise: %d new readings, want 4", len(r.readings)-before)
	}
}

func TestResetCountsCutFrame(t *testing.T) {
	d, r := newDec(t, DF2)
	in := capturePackets(t, 1)
	d.Feed(in[:13]) // two frames and three bytes of the SpO2 frame
	d.Reset()
	if d.Garbled() != 1 || d.Frames() != 2 {
		t.Errorf("after Reset: frames %d garbled %d, want 2 and 1", d.Frames(), d.Garbled())
	}
	if s := d.Last(); s.HR != vitals.NoValue || s.Flags != 0 {
		t.Errorf("Reset kept state %+v", s)
	}
	// The rest of the old stream, as if a new port opened mid-frame: the
	// two bytes left of the SpO2 frame are a cut-off tail (no garbled frame),
	// the 22 frames after it are good but carry no value (no SYNC in them).
	d.Feed(in[13:])
	if d.Frames() != 24 || d.Garbled() != 1 || len(r.readings) != 0 {
		t.Errorf("after Reset, mid-packet: frames %d garbled %d readings %+v; want 24, 1, 0",
			d.Frames(), d.Garbled(), r.readings)
	}
	d.Feed(in)
	d.Feed(in[:5])
	if d.Frames() != 50 || d.Garbled() != 1 || len(r.readings) != 2 {
		t.Errorf("after Reset and a new packet: frames %d garbled %d readings %+v", d.Frames(), d.Garbled(), r.readings)
	}
}

func TestNewDecoderRejectsFormat(t *testing.T) {
	for _, f := range []Format{0, 1, 3, 13} {
		if _, err := NewDecoder(f, 0, nil); err == nil {
			t.Errorf("NewDecoder(%d) succeeded", f)
		}
		if _, err := NewEncoder(f); err == nil {
			t.Errorf("NewEncoder(%d) succeeded", f)
		}
	}
}

func TestDecoderAllocs(t *testing.T) {
	for _, f := range []Format{DF2, DF7, DF8} {
		e, _ := NewEncoder(f)
		s := Steady(97, 72)
		s.Flags = vitals.Artifact
		var in []byte
		for i := 0; i < 20; i++ {
			in = e.AppendPacket(in, &s)
			in = append(in, 0x01, 0x81, 0xff, 0x00, 0x7f, 0x80) // noise between packets
		}
		d, _ := NewDecoder(f, 0, func(vitals.Reading) {})
		if a := testing.AllocsPerRun(50, func() { d.Feed(in); d.Reset() }); a != 0 {
			t.Errorf("%v: %v allocations per Feed, want 0", f, a)
		}
	}
}

// TestDF2RealCaptureOpenedMidPacket is the whole recorded stream: the port
// was opened four frames before a packet's end. Those frames are good
// frames of an unknown packet position: no value from them, not garbled;
// the values come from the first whole packet, when the SYNC after it ends.
func TestDF2RealCaptureOpenedMidPacket(t *testing.T) {
	v, _ := loadVectors(t, "df2_mattjlewis_stream.hex")
	stream := v[""]
	if len(stream) != 30*5 {
		t.Fatalf("capture is %d bytes, want 150", len(stream))
	}
	d, r := newDec(t, DF2)
	r.feedBytes(d, stream)
	want := []vitals.Reading{
		{Sensor: 3, Param: vitals.Pulse, Value: 74},
		{Sensor: 3, Param: vitals.SpO2, Value: 96},
	}
	if len(r.readings) != len(want) || r.readings[0] != want[0] || r.readings[1] != want[1] {
		t.Fatalf("readings %+v, want %+v", r.readings, want)
	}
	if r.at[0] != 150 || r.at[1] != 150 {
		t.Errorf("values emitted after %v bytes, want [150 150]", r.at)
	}
	if d.Garbled() != 0 {
		t.Errorf("%d garbled frames in a clean recording", d.Garbled())
	}
}
