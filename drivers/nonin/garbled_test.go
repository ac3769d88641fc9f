package nonin

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// These tests pin the counting rule on Decoder: Garbled counts frames that
// fail framing or checksum on the wire, not good frames skipped while the
// decoder waits for a packet start (which would make sensor_garbled, 5 % over
// 30 s, up to 25 times too sensitive).

// cleanStream gives n packets (DF2/DF7: 25 frames each; DF8: n frames) whose
// values change every packet, so that a value decoded at the wrong place
// shows. The pleth is fixed (and no byte of it is 0x01 or 0x00) so that the
// bursts of zeros below cannot make a valid frame with the bytes around them.
func cleanStream(t testing.TB, f Format, packets int) []byte {
	t.Helper()
	e, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for i := 0; i < packets; i++ {
		s := Steady(int16(85+i%15), int16(55+(i*7)%80))
		s.Pleth = 0x4242
		b = e.AppendPacket(b, &s)
	}
	return b
}

// decodeAll decodes in, chunk bytes per Feed, with a new decoder.
func decodeAll(t testing.TB, f Format, in []byte, chunk int) (*Decoder, []vitals.Reading) {
	t.Helper()
	d, r := newDec(t, f)
	for i := 0; i < len(in); i += chunk {
		d.Feed(in[i:min(i+chunk, len(in))])
	}
	return d, r.readings
}

// checkSubsequence fails unless got is the clean stream's readings with some
// left out: no value the device did not send, none out of order.
func checkSubsequence(t testing.TB, what string, got, clean []vitals.Reading) {
	t.Helper()
	j := 0
	for i, x := range got {
		for j < len(clean) && clean[j] != x {
			j++
		}
		if j == len(clean) {
			t.Fatalf("%s: reading %d %+v is not in the clean stream's order", what, i, x)
		}
		j++
	}
}

// TestGarbledOneCorruptedFrame: a frame that fails on the wire, in a long
// clean stream, is exactly one garbled frame, whichever frame of the packet
// it is and however it is broken (any one byte changed, or cut short); every
// other frame stays a good frame. DF8 has no checksum, so only a change that
// breaks its framing (bit 7, an SpO2 above 100) is a garbled frame.
func TestGarbledOneCorruptedFrame(t *testing.T) {
	for _, f := range []Format{DF2, DF7, DF8} {
		t.Run(f.String(), func(t *testing.T) {
			packets, first, last := 8, 3*25, 4*25 // every index of packet 3
			masks := []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x5a, 0xff}
			if f == DF8 {
				packets, first, last = 20, 8, 12
				masks = []byte{0x80}
			}
			clean := cleanStream(t, f, packets)
			L := f.frameLen()
			total := uint64(len(clean) / L)
			_, cleanR := decodeAll(t, f, clean, len(clean))
			type mangled struct {
				name string
				in   []byte
			}
			var cases []mangled
			for k := first; k < last; k++ {
				at := k * L
				for b := 0; b < L; b++ {
					for _, m := range masks {
						in := bytes.Clone(clean)
						in[at+b] ^= m
						cases = append(cases, mangled{fmt.Sprintf("frame %d byte %d ^%02x", k, b, m), in})
					}
					// Cut short after b bytes, the rest of the frame lost (b = 0,
					// a whole frame lost, fails no check: see TestDF2MissingSyncAndEarlySync).
					if b > 0 {
						in := append(bytes.Clone(clean[:at+b]), clean[at+L:]...)
						cases = append(cases, mangled{fmt.Sprintf("frame %d cut after %d bytes", k, b), in})
					}
				}
				if f == DF8 { // an SpO2 of 101..126 cannot be a saturation
					in := bytes.Clone(clean)
					in[at+2] = 110
					cases = append(cases, mangled{fmt.Sprintf("frame %d spo2 110", k), in})
				}
			}
			for _, tc := range cases {
				for _, chunk := range []int{1, 7, len(tc.in)} {
					d, got := decodeAll(t, f, tc.in, chunk)
					if d.Garbled() != 1 || d.Frames() != total-1 {
						t.Fatalf("%s, chunk %d: frames %d garbled %d; want %d and exactly 1",
							tc.name, chunk, d.Frames(), d.Garbled(), total-1)
					}
					checkSubsequence(t, tc.name, got, cleanR)
					// At most the values of the bad frame's packet are lost,
					// and if it was a SYNC frame those of the packet it
					// closes (DF8: the bad frame's own two).
					if len(got) < len(cleanR)-4 {
						t.Fatalf("%s: %d readings of %d", tc.name, len(got), len(cleanR))
					}
				}
			}
			t.Logf("%d corruptions, each exactly 1 garbled frame of %d", len(cases), total)
		})
	}
}

// TestGarbledOpenMidStream: opening the port anywhere in a clean stream, at a
// frame boundary or inside a frame, counts no garbled frame. The frames
// before the first SYNC are good frames without values, and so are those of
// the last packet, which no SYNC closes; DF8 decodes from the first whole
// frame, once the second confirms it.
func TestGarbledOpenMidStream(t *testing.T) {
	for _, f := range []Format{DF2, DF7, DF8} {
		t.Run(f.String(), func(t *testing.T) {
			packets := 6
			if f == DF8 {
				packets = 12
			}
			clean := cleanStream(t, f, packets)
			L := f.frameLen()
			_, cleanR := decodeAll(t, f, clean, len(clean))
			packetLen := 25 * L
			if f == DF8 {
				packetLen = L
			}
			for off := 0; off < 2*packetLen; off++ {
				in := clean[off:]
				for _, chunk := range []int{1, 5, 64} {
					d, got := decodeAll(t, f, in, chunk)
					firstFrame := (off + L - 1) / L * L
					wantFrames := uint64((len(clean) - firstFrame) / L)
					if d.Garbled() != 0 || d.Frames() != wantFrames || d.skipped != uint64(firstFrame-off) {
						t.Fatalf("open at byte %d, chunk %d: frames %d garbled %d skipped %d; want %d, 0, %d",
							off, chunk, d.Frames(), d.Garbled(), d.skipped, wantFrames, firstFrame-off)
					}
					checkSubsequence(t, fmt.Sprintf("open at %d", off), got, cleanR)
					// Values from every packet that starts after the open
					// and is closed by a SYNC frame (not the last one).
					firstPacket := (off + packetLen - 1) / packetLen
					want := 2 * (packets - firstPacket)
					if f != DF8 {
						want -= 2
					}
					if len(got) != want {
						t.Fatalf("open at byte %d: %d readings, want %d", off, len(got), want)
					}
				}
			}
		})
	}
}

// TestGarbledBurst: a burst of n bytes that form no frame counts ceil(n/L)
// garbled frames between two frames, ceil(n/L)+1 inside a frame (the frame
// it cuts is lost too), and floor(n/L) before the first frame after the port
// opens (up to L-1 of them may be a cut-off frame tail). Not inside a DF8
// frame: without a checksum, the cut frame's ends and the burst between them
// make a well-formed frame whatever the burst is (STATUS1 followed by zeros,
// or a last burst byte with bit 7 followed by the frame's last three bytes).
func TestGarbledBurst(t *testing.T) {
	ceil := func(n, l int) uint64 { return uint64((n + l - 1) / l) }
	for _, f := range []Format{DF2, DF7, DF8} {
		t.Run(f.String(), func(t *testing.T) {
			clean := cleanStream(t, f, map[Format]int{DF2: 6, DF7: 6, DF8: 30}[f])
			L := f.frameLen()
			total := uint64(len(clean) / L)
			_, cleanR := decodeAll(t, f, clean, len(clean))
			mid := len(clean) / L / 2 * L // a frame boundary; in a packet's middle for DF2/DF7
			if f != DF8 {
				mid += 12 * L
			}
			for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 24, 25, 26, 99, 100, 101, 500} {
				burst := make([]byte, n) // zeros: no STATUS bit 7, no DF2 lead
				for _, tc := range []struct {
					where   string
					at      int
					garbled uint64
					frames  uint64
				}{
					{"between frames", mid, ceil(n, L), total},
					{"inside a frame (1)", mid + 1, ceil(n, L) + 1, total - 1},
					{"inside a frame (L-1)", mid + L - 1, ceil(n, L) + 1, total - 1},
					{"before the first frame", 0, uint64(n / L), total},
				} {
					if f == DF8 && tc.at%L != 0 {
						continue
					}
					in := append(append(bytes.Clone(clean[:tc.at]), burst...), clean[tc.at:]...)
					for _, chunk := range []int{1, 3, len(in)} {
						d, got := decodeAll(t, f, in, chunk)
						if d.Garbled() != tc.garbled || d.Frames() != tc.frames {
							t.Fatalf("%d bytes %s, chunk %d: frames %d garbled %d; want %d and %d",
								n, tc.where, chunk, d.Frames(), d.Garbled(), tc.frames, tc.garbled)
						}
						checkSubsequence(t, tc.where, got, cleanR)
					}
				}
			}
		})
	}
}

// TestGarbledRandomBurst: random garbage, as a wrong baud rate or line noise
// gives. DF2's checks make a chance frame in it vanishingly rare, so the
// count is exact; DF7's (1 window in 512) and DF8's (about 1 in 20) let some
// through, which count as good frames and split the run: the count is then a
// little lower, never higher.
func TestGarbledRandomBurst(t *testing.T) {
	for _, f := range []Format{DF2, DF7, DF8} {
		clean := cleanStream(t, f, map[Format]int{DF2: 6, DF7: 6, DF8: 30}[f])
		L := f.frameLen()
		mid := len(clean) / L / 2 * L
		rng := rand.New(rand.NewPCG(11, 12))
		for _, n := range []int{50, 500, 5000} {
			burst := make([]byte, n)
			for i := range burst {
				burst[i] = byte(rng.Uint32())
			}
			in := append(append(bytes.Clone(clean[:mid]), burst...), clean[mid:]...)
			d, _ := decodeAll(t, f, in, 64)
			want := uint64((n + L - 1) / L)
			lo := want // DF2: exact
			switch f {
			case DF7:
				lo = want * 95 / 100
			case DF8:
				lo = want * 70 / 100
			}
			if d.Garbled() > want || d.Garbled() < lo {
				t.Errorf("%v: %d random bytes: garbled %d, want %d..%d", f, n, d.Garbled(), lo, want)
			}
			t.Logf("%v: %d random bytes: garbled %d (ceil(n/L) = %d), frames %d of %d sent",
				f, n, d.Garbled(), want, d.Frames(), len(clean)/L)
		}
	}
}

// TestDF8LoneFrames: a well-formed DF8 frame between two bad ones is a good
// frame (it passed the checks), though not decoded: alone, it does not
// confirm the alignment.
func TestDF8LoneFrames(t *testing.T) {
	clean := cleanStream(t, DF8, 10)
	_, cleanR := decodeAll(t, DF8, clean, len(clean))
	in := bytes.Clone(clean)
	in[3*4+1] |= 0x80 // frame 3: HR LSB with bit 7
	in[5*4+2] = 110   // frame 5: SpO2 110
	d, r := newDec(t, DF8)
	r.feedBytes(d, in)
	if d.Frames() != 8 || d.Garbled() != 2 {
		t.Errorf("frames %d garbled %d; want 8 and 2 (frame 4 is good)", d.Frames(), d.Garbled())
	}
	// Frames 0-2 locked, frame 4 lone (no values), 6-9 locked again.
	want := append(append([]vitals.Reading(nil), cleanR[:6]...), cleanR[12:]...)
	if len(r.readings) != len(want) {
		t.Fatalf("readings %+v\nwant %+v", r.readings, want)
	}
	for i := range want {
		if r.readings[i] != want[i] {
			t.Errorf("reading %d = %+v, want %+v", i, r.readings[i], want[i])
		}
	}

	// Reset with a frame still waiting for its partner: it is a lone frame;
	// the 3 bytes after it are a cut-off frame.
	d, r = newDec(t, DF8)
	d.Feed(clean[:7])
	if d.Frames() != 0 || d.n != 7 {
		t.Fatalf("before Reset: frames %d buffered %d", d.Frames(), d.n)
	}
	d.Reset()
	if d.Frames() != 1 || d.Garbled() != 1 || d.skipped != 3 || d.n != 0 || len(r.readings) != 0 {
		t.Errorf("after Reset: frames %d garbled %d skipped %d buffered %d readings %d; want 1 1 3 0 0",
			d.Frames(), d.Garbled(), d.skipped, d.n, len(r.readings))
	}
}

// TestGarbledAfterReset: after Reset the next run is an opening one again
// (the new port may start inside a frame), while the frame the unplug cut off
// is a garbled frame.
func TestGarbledAfterReset(t *testing.T) {
	for _, f := range []Format{DF2, DF7, DF8} {
		clean := cleanStream(t, f, map[Format]int{DF2: 3, DF7: 3, DF8: 20}[f])
		L := f.frameLen()
		d, r := newDec(t, f)
		d.Feed(clean[:4*L+2]) // four frames and the start of a fifth
		d.Reset()
		if d.Frames() != 4 || d.Garbled() != 1 {
			t.Errorf("%v: after Reset: frames %d garbled %d; want 4 and 1", f, d.Frames(), d.Garbled())
		}
		d.Feed(clean[L+1:]) // the new port opens one byte into a frame
		if want := uint64(4 + len(clean)/L - 2); d.Frames() != want || d.Garbled() != 1 {
			t.Errorf("%v: after reopening: frames %d garbled %d; want %d and 1", f, d.Frames(), d.Garbled(), want)
		}
		if len(r.readings) == 0 {
			t.Errorf("%v: no readings", f)
		}
	}
}
