package nonin

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// dropState is a steady state whose FLOAT bytes all differ from the values
// (SREV 74 is the HR, the 4-beat display SpO2 98): a value read one frame
// off its place shows as a wrong number, not as a lucky right one.
func dropState() State {
	s := Steady(96, 74)
	s.SREV = 74
	s.SpO2D, s.SpO2Fast, s.SpO2BB = 98, 93, 91
	s.Timer = 0x1234
	return s
}

// frameStream gives the frames of n packets of s, one frame per element.
func frameStream(t testing.TB, f Format, s State, packets int) [][]byte {
	t.Helper()
	e, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := 0; i < packets*packetFrames; i++ {
		out = append(out, e.Append(nil, &s))
	}
	return out
}

// TestDroppedFrames: a relay that loses whole frames (each one valid, so no
// framing error shows) must not make the decoder read a value from a
// neighbouring frame. Each packet that lost or gained a frame is discarded
// and counted as one garbled frame; the packets that arrived whole still give
// their values.
func TestDroppedFrames(t *testing.T) {
	for _, f := range []Format{DF2, DF7} {
		for _, tc := range []struct {
			name      string
			drop      func(n int) bool // drop frame n of the stream
			dup       func(n int) bool // send frame n twice
			discarded int              // packets discarded
			whole     int              // packets emitted
		}{
			// 40 packets: frames 0..999; the last packet is never closed by
			// a SYNC, so at most 39 are emitted or discarded.
			{name: "frame after each SYNC", drop: func(n int) bool { return n%packetFrames == 1 }, discarded: 39},
			{name: "SpO2 frame of each packet", drop: func(n int) bool { return n%packetFrames == idxSpO2 }, discarded: 39},
			// Packet 0 runs into packet 1's frames: discarded at its 26th
			// frame; no later packet has a known start.
			{name: "each SYNC frame", drop: func(n int) bool { return n%packetFrames == 0 && n > 0 }, discarded: 1},
			{name: "one frame every 3 s", drop: func(n int) bool { return n%225 == 101 }, discarded: 4, whole: 35},
			// A second reader on the port (a daemon left running by a
			// crashed test; root ignores TIOCEXCL) takes packet p's HR LSB
			// frame, then packet p+1's SYNC and 23 frames after it: from p's
			// SYNC to p+2's there are 25 frames again, but from the SpO2
			// slot on each holds its neighbour's byte (SREV 74 in the SpO2
			// slot). 10 such packets; the 10 packets p+1 lost their SYNC.
			{name: "second reader steals across a boundary", drop: func(n int) bool {
				p, i := n/packetFrames, n%packetFrames
				return (p%4 == 1 && i == idxHRLSB) || (p%4 == 2 && i < packetFrames-1)
			}, discarded: 10, whole: 19},
			// Packet k+1's second SYNC cuts a 1-frame packet; the packet it
			// starts is whole.
			{name: "SYNC repeated", dup: func(n int) bool { return n%packetFrames == 0 }, discarded: 40, whole: 39},
			{name: "HR LSB repeated", dup: func(n int) bool { return n%packetFrames == idxHRLSB }, discarded: 40},
			{name: "one frame repeated every 3 s", dup: func(n int) bool { return n%225 == 102 }, discarded: 4, whole: 35},
		} {
			t.Run(fmt.Sprintf("%v/%s", f, tc.name), func(t *testing.T) {
				s := dropState()
				var in []byte
				for n, fr := range frameStream(t, f, s, 40) {
					if tc.drop != nil && tc.drop(n) {
						continue
					}
					in = append(in, fr...)
					if tc.dup != nil && tc.dup(n) {
						in = append(in, fr...)
					}
				}
				for _, chunk := range []int{1, 5, 64, len(in)} {
					d, got := decodeAll(t, f, in, chunk)
					for _, x := range got {
						if (x.Param == vitals.SpO2 && x.Value != 96) || (x.Param == vitals.Pulse && x.Value != 74) {
							t.Fatalf("chunk %d: false value %+v (true SpO2 96, pulse 74)", chunk, x)
						}
					}
					if len(got) != 2*tc.whole {
						t.Errorf("chunk %d: %d readings, want %d (from %d whole packets)", chunk, len(got), 2*tc.whole, tc.whole)
					}
					if d.Garbled() != uint64(tc.discarded) {
						t.Errorf("chunk %d: garbled %d, want %d (one per discarded packet)", chunk, d.Garbled(), tc.discarded)
					}
					if s := d.Last(); (s.SpO2 != 96 && s.SpO2 != vitals.NoValue) || (s.SREV != 74 && s.SREV != 0) {
						t.Errorf("chunk %d: Last() = %+v from a shifted packet", chunk, s)
					}
				}
			})
		}
	}
}

// TestDF8LostBytes: DF8 has no checksum, but each frame carries its own
// values and only STATUS1 has bit 7 set, so one lost byte always breaks the
// frame it was in (the next STATUS1 moves into it): with any one byte lost,
// or a whole frame, every value decoded is a true one.
func TestDF8LostBytes(t *testing.T) {
	e, _ := NewEncoder(DF8)
	var clean []byte
	var want []State
	for i := 0; i < 12; i++ {
		s := Steady(int16(88+i), int16(60+7*i)) // HR LSB and SpO2 differ in every frame
		s.SmartPoint = i%2 == 0
		clean = e.Append(clean, &s)
		want = append(want, s)
	}
	isTrue := func(x vitals.Reading) bool {
		for _, s := range want {
			if (x.Param == vitals.SpO2 && x.Value == s.SpO2) || (x.Param == vitals.Pulse && x.Value == s.HR) {
				return true
			}
		}
		return false
	}
	// Any one byte lost, or any one whole frame. (Two or more bytes lost
	// close together can make a well-formed frame of two frames' bytes: see
	// the DF8 note on Decoder.)
	for cut := 0; cut < len(clean); cut++ {
		for _, n := range []int{1, 4} {
			if cut+n > len(clean) || (n == 4 && cut%4 != 0) {
				continue
			}
			in := append(bytes.Clone(clean[:cut]), clean[cut+n:]...)
			_, got := decodeAll(t, DF8, in, 3)
			for _, x := range got {
				if !isTrue(x) {
					t.Fatalf("%d bytes lost at %d: reading %+v is no frame's value", n, cut, x)
				}
			}
		}
	}
}

// df8LossStream gives 12 DF8 frames whose HR and SpO2 differ in every frame
// (and from every STATUS2), one slice per frame, and whether a reading is a
// value some frame carried.
func df8LossStream(t *testing.T) ([][]byte, func(x vitals.Reading) bool) {
	e, _ := NewEncoder(DF8)
	var frames [][]byte
	var want []State
	for i := 0; i < 12; i++ {
		s := Steady(int16(88+i), int16(60+7*i))
		s.SmartPoint = i%2 == 0 // STATUS2 0x20: 32, an SpO2 if read in its place
		frames = append(frames, e.Append(nil, &s))
		want = append(want, s)
	}
	return frames, func(x vitals.Reading) bool {
		for _, s := range want {
			if (x.Param == vitals.SpO2 && x.Value == s.SpO2) || (x.Param == vitals.Pulse && x.Value == s.HR) {
				return true
			}
		}
		return false
	}
}

// TestDF8TwoLostBytesAcrossTheGap: two bytes lost, one in a frame and the
// next frame's STATUS1, leave a well-formed frame of two frames' bytes (an
// SpO2 read from a STATUS2). Those bytes straddle the second between two
// frames, and the driver, which reads each DF8 frame as it comes, tells the
// decoder so (Gap): with any two bytes lost, every value decoded is a true
// one, chunked as the driver reads them, a second apart.
func TestDF8TwoLostBytesAcrossTheGap(t *testing.T) {
	frames, isTrue := df8LossStream(t)
	for a := 0; a < 4*len(frames); a++ {
		for b := a + 1; b < 4*len(frames); b++ {
			dev, r := df8Dev(t)
			at := time.Unix(1000, 0)
			for j, fr := range frames {
				var chunk []byte
				for k, c := range fr {
					if n := 4*j + k; n != a && n != b {
						chunk = append(chunk, c)
					}
				}
				if len(chunk) > 0 {
					dev.feedAt(chunk, at)
				}
				at = at.Add(time.Second)
			}
			for _, x := range r.readings {
				if !isTrue(x) {
					t.Fatalf("bytes %d and %d lost: reading %+v is no frame's value", a, b, x)
				}
			}
			if len(r.readings) < len(frames) { // half the frames' values at least
				t.Fatalf("bytes %d and %d lost: only %d readings", a, b, len(r.readings))
			}
		}
	}
}

// TestDF8FeedAtKeepsSplitFrames: a DF8 frame read in two chunks a few
// milliseconds apart is one frame; Gap only drops a frame begun before a
// quiet line.
func TestDF8FeedAtKeepsSplitFrames(t *testing.T) {
	frames, _ := df8LossStream(t)
	dev, r := df8Dev(t)
	at := time.Unix(1000, 0)
	for _, fr := range frames {
		dev.feedAt(fr[:2], at)
		dev.feedAt(fr[2:], at.Add(3*time.Millisecond))
		at = at.Add(time.Second)
	}
	// The first frame follows no quiet line the driver saw: not decoded.
	if len(r.readings) != 2*(len(frames)-1) || dev.dec.Garbled() != 0 {
		t.Errorf("%d readings of %d, garbled %d", len(r.readings), 2*(len(frames)-1), dev.dec.Garbled())
	}
}

// df8Dev is a DF8 driver's decoding half, gated as New makes it, with its
// readings recorded.
func df8Dev(t *testing.T) (*Dev, *recorder) {
	t.Helper()
	d, r := newDec(t, DF8)
	d.gateOnGaps()
	return &Dev{dec: d, opts: Opts{Format: DF8}}, r
}

// TestDF8NoiseGivesNoValue: random bytes at the line's rate make a
// well-formed DF8 frame about one window in 20, and two in a row lock the
// decoder; without a checksum only timing tells them from the device's
// frames, which come one a second after a quiet line. A minute of noise,
// read as the driver reads it (continuously, or in bursts once a second),
// gives no value at all, so the engine sees a silent sensor; the device's
// frames read the same way give every value.
func TestDF8NoiseGivesNoValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	dev, r := df8Dev(t)
	at := time.Unix(1000, 0)
	for i := 0; i < 600; i++ { // 96 bytes every 100 ms: 960 bytes/s, no quiet
		dev.feedAt(noise(96), at)
		at = at.Add(100 * time.Millisecond)
	}
	if len(r.readings) != 0 || dev.dec.Frames() == 0 {
		t.Errorf("a minute of noise at line rate: %d readings (want none), %d chance frames", len(r.readings), dev.dec.Frames())
	}
	dev, r = df8Dev(t)
	for i := 0; i < 60; i++ { // a burst of noise once a second
		dev.feedAt(noise(8+rng.IntN(120)), at)
		at = at.Add(time.Second)
	}
	if len(r.readings) != 0 {
		t.Errorf("a minute of noise bursts: readings %+v, want none", r.readings)
	}
}
