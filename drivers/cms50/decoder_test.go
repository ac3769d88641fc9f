package cms50

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// base is a normal reading: the finger in, a good signal.
var base = State{SpO2: 97, PR: 72, Pleth: 50, Bar: 6, Signal: 5}

// TestRoundTrip encodes a state per field and flag, decodes it, and checks
// both the decoded state and the readings it gives, for both protocols.
func TestRoundTrip(t *testing.T) {
	with := func(f func(*State)) State { s := base; f(&s); return s }
	none := vitals.NoValue
	tests := []struct {
		name      string
		s         State
		protocols []Protocol // nil: both
		spo2, pr  int16      // the readings' values
		flags     vitals.Flag
	}{
		{"normal", base, nil, 97, 72, 0},
		{"spo2 100", with(func(s *State) { s.SpO2 = 100 }), nil, 100, 72, 0},
		{"spo2 1", with(func(s *State) { s.SpO2 = 1 }), nil, 1, 72, 0},
		{"spo2 missing", with(func(s *State) { s.SpO2 = none }), nil, none, 72, 0},
		{"spo2 0 sent as missing", with(func(s *State) { s.SpO2 = 0 }), nil, none, 72, 0},
		{"spo2 101 sent as missing", with(func(s *State) { s.SpO2 = 101 }), nil, none, 72, 0},
		{"pr 1", with(func(s *State) { s.PR = 1 }), nil, 97, 1, 0},
		{"pr 127", with(func(s *State) { s.PR = 127 }), nil, 97, 127, 0},
		{"pr 128", with(func(s *State) { s.PR = 128 }), nil, 97, 128, 0},
		{"pr 200", with(func(s *State) { s.PR = 200 }), nil, 97, 200, 0},
		{"pr 254", with(func(s *State) { s.PR = 254 }), nil, 97, 254, 0},
		{"pr missing", with(func(s *State) { s.PR = none }), nil, 97, none, 0},
		{"pr 255 sent as missing", with(func(s *State) { s.PR = 255 }), nil, 97, none, 0},
		{"pr 300 sent as missing", with(func(s *State) { s.PR = 300 }), nil, 97, none, 0},
		{"pleth 0", with(func(s *State) { s.Pleth = 0 }), nil, 97, 72, 0},
		{"pleth 127", with(func(s *State) { s.Pleth = 127 }), nil, 97, 72, 0},
		{"beat", with(func(s *State) { s.Beat = true }), nil, 97, 72, 0},
		{"signal 15", with(func(s *State) { s.Signal = 15 }), nil, 97, 72, 0},
		{"bar 15", with(func(s *State) { s.Bar = 15 }), nil, 97, 72, 0},
		{"bar 200 live9", with(func(s *State) { s.Bar = 200 }), []Protocol{Live9}, 97, 72, 0},
		{"finger out", with(func(s *State) { s.FingerOut = true }), nil, none, none, vitals.ProbeOff},
		{"searching", with(func(s *State) { s.Searching = true }), nil, none, none, vitals.Searching},
		{"finger out and searching", with(func(s *State) { s.FingerOut, s.Searching = true, true }), nil, none, none, vitals.ProbeOff | vitals.Searching},
		{"probe error", with(func(s *State) { s.ProbeError = true }), []Protocol{Legacy}, none, none, vitals.SensorAlarm},
		{"probe error dropped by live9", with(func(s *State) { s.ProbeError = true }), []Protocol{Live9}, 97, 72, 0},
		{"dropping", with(func(s *State) { s.Dropping = true }), nil, 97, 72, 0},
		{"signal 0 legacy", with(func(s *State) { s.Signal = 0 }), []Protocol{Legacy}, 97, 72, vitals.LowPerfusion},
		{"signal 0 live9", with(func(s *State) { s.Signal = 0 }), []Protocol{Live9}, 97, 72, 0},
		{"signal 0 finger out legacy", with(func(s *State) { s.Signal, s.FingerOut = 0, true }), []Protocol{Legacy}, none, none, vitals.ProbeOff},
		{"pi 2.50 live9", with(func(s *State) { s.PI = 250 }), []Protocol{Live9}, 97, 72, 0},
		{"pi 0.01 live9", with(func(s *State) { s.PI = 1 }), []Protocol{Live9}, 97, 72, 0},
		{"pi 20.00 live9", with(func(s *State) { s.PI = maxPI }), []Protocol{Live9}, 97, 72, 0},
		{"pi 20.01 sent as none", with(func(s *State) { s.PI = maxPI + 1 }), []Protocol{Live9}, 97, 72, 0},
		{"pi dropped by legacy", with(func(s *State) { s.PI = 250 }), []Protocol{Legacy}, 97, 72, 0},
		{"pi with finger out", with(func(s *State) { s.PI, s.FingerOut = 300, true }), []Protocol{Live9}, none, none, vitals.ProbeOff},
		{"everything", State{SpO2: 85, PR: 180, Pleth: 127, Bar: 15, Signal: 8, Beat: true, Dropping: true}, nil, 85, 180, 0},
	}
	for _, tc := range tests {
		protocols := tc.protocols
		if protocols == nil {
			protocols = []Protocol{Live9, Legacy}
		}
		for _, p := range protocols {
			t.Run(p.String()+"/"+tc.name, func(t *testing.T) {
				b := p.Append(nil, tc.s)
				if len(b) != p.PacketLen() {
					t.Fatalf("encoded %d bytes, want %d", len(b), p.PacketLen())
				}
				pkts, d := decodeAll(t, p, closed(p, b))
				if len(pkts) != 1 || d.Stats().Garbled != 0 {
					t.Fatalf("% X: %d packets, stats %+v", b, len(pkts), d.Stats())
				}
				if got, want := pkts[0].State, p.Normalize(tc.s); got != want {
					t.Errorf("% X decoded\n %+v\nwant %+v", b, got, want)
				}
				r, ok := pkts[0].Readings(3)
				if !ok {
					t.Fatal("no readings")
				}
				want := [2]vitals.Reading{
					{Sensor: 3, Param: vitals.SpO2, Value: tc.spo2, Flags: tc.flags},
					{Sensor: 3, Param: vitals.Pulse, Value: tc.pr, Flags: tc.flags},
				}
				if r != want {
					t.Errorf("readings\n %+v\nwant %+v", r, want)
				}
			})
		}
	}
}

// TestRoundTripRandom encodes random states and checks decode(encode(s)) is
// Normalize(s) and that encoding the decoded state gives the same bytes.
func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []Protocol{Live9, Legacy} {
		for range 20000 {
			s := State{
				SpO2: int16(rng.IntN(140)) - 5, PR: int16(rng.IntN(300)) - 5,
				Pleth: uint8(rng.UintN(256)), Bar: uint8(rng.UintN(256)), Signal: uint8(rng.UintN(256)),
				Beat: rng.IntN(2) == 0, FingerOut: rng.IntN(8) == 0, Searching: rng.IntN(8) == 0,
				ProbeError: rng.IntN(8) == 0, Dropping: rng.IntN(2) == 0,
			}
			if rng.IntN(2) == 0 {
				s.PI = uint16(rng.IntN(maxPI + 200))
			}
			b := p.Append(nil, s)
			pkts, _ := decodeAll(t, p, closed(p, b))
			if len(pkts) != 1 {
				t.Fatalf("%v % X: %d packets", p, b, len(pkts))
			}
			if got, want := pkts[0].State, p.Normalize(s); got != want {
				t.Fatalf("%v % X: decoded %+v, want %+v", p, b, got, want)
			}
			if re := p.Append(nil, pkts[0].State); !bytes.Equal(re, b) {
				t.Fatalf("%v: re-encoded % X, want % X", p, re, b)
			}
		}
	}
}

// stream encodes n packets of s.
func stream(p Protocol, s State, n int) []byte {
	var b []byte
	for range n {
		b = p.Append(b, s)
	}
	return b
}

// TestResync feeds good packets around faults and checks that exactly the
// good packets come out, with the counts the Stats doc promises.
func TestResync(t *testing.T) {
	live9 := AppendLive9(nil, base)
	legacy := AppendLegacy(nil, base)
	tests := []struct {
		name    string
		p       Protocol
		in      [][]byte
		packets int
		skipped uint64
		garbled uint64
	}{
		{"live9 clean", Live9, [][]byte{live9, live9}, 2, 0, 0},
		{"live9 one noise byte", Live9, [][]byte{live9, {0xFF}, live9}, 2, 1, 1},
		{"live9 noise before first", Live9, [][]byte{{0xAA, 0xBB, 0x80}, live9}, 1, 3, 1},
		{"live9 truncated then good", Live9, [][]byte{live9, live9[:5], live9}, 2, 5, 1},
		{"live9 truncated by type byte", Live9, [][]byte{live9[:8], live9}, 1, 8, 1},
		{"live9 unknown type", Live9, [][]byte{{0x7E}, live9}, 1, 1, 1},
		{"live9 dropped byte", Live9, [][]byte{append(append([]byte{}, live9[:4]...), live9[5:]...), live9}, 1, 8, 1},
		{"live9 bad trailer", Live9, [][]byte{{0x01, 0xE0, 0x85, 0xB3, 0x96, 0xC1, 0xE1, 0xFF, 0xFE}, live9}, 1, 9, 1},
		{"live9 bad trailer bits", Live9, [][]byte{{0x01, 0xA0, 0x85, 0xB3, 0x96, 0xC1, 0xE1, 0xFF, 0xFF}, live9}, 1, 9, 1},
		{"live9 18 noise bytes", Live9, [][]byte{live9, bytes.Repeat([]byte{0xFF}, 18), live9}, 2, 18, 2},
		{"live9 19 noise bytes", Live9, [][]byte{live9, bytes.Repeat([]byte{0xFF}, 19), live9}, 2, 19, 3},
		{"live9 noise of zeros", Live9, [][]byte{live9, bytes.Repeat([]byte{0x00}, 100), live9}, 2, 100, 12},
		{"live9 ack between", Live9, [][]byte{live9, {0x0C, 0x80}, live9}, 3, 0, 0},
		{"live9 two broken packets in a row", Live9, [][]byte{live9, live9[:3], live9[:6], live9}, 2, 9, 1},
		// Legacy streams end with the next packet's first byte (closed).
		{"legacy clean", Legacy, [][]byte{legacy, legacy}, 2, 0, 0},
		{"legacy noise bytes", Legacy, [][]byte{{0x01, 0x02}, legacy}, 1, 2, 1},
		{"legacy truncated then good", Legacy, [][]byte{legacy, legacy[:3], legacy}, 2, 3, 1},
		// The packet before the zeros cannot be told from a packet that
		// lost a byte and ran into the next one's: it goes with them.
		{"legacy 11 zeros", Legacy, [][]byte{legacy, bytes.Repeat([]byte{0}, 11), legacy}, 1, 16, 4},
		{"legacy sync byte inside packet", Legacy, [][]byte{legacy[:2], legacy}, 1, 2, 1},
		// A byte lost, then the next packet's first: five bytes of two
		// packets, shown by the sixth.
		{"legacy byte and next start lost", Legacy, [][]byte{legacy[:2], legacy[3:], legacy[1:], legacy}, 1, 8, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := closed(tc.p, bytes.Join(tc.in, nil))
			pkts, d := decodeAll(t, tc.p, in)
			st := d.Stats()
			if len(pkts) != tc.packets || st.Skipped != tc.skipped || st.Garbled != tc.garbled || d.Pending() != closing(tc.p) {
				t.Errorf("% X\n%d packets, stats %+v, pending %d; want %d packets, skipped %d, garbled %d",
					in, len(pkts), st, d.Pending(), tc.packets, tc.skipped, tc.garbled)
			}
			for i, p := range liveOnly(pkts) {
				if p.State != tc.p.Normalize(base) {
					t.Errorf("packet %d: %+v, want %+v", i, p.State, base)
				}
			}
		})
	}
}

// TestTruncated checks that a packet cut at the end stays pending across
// Next calls, is completed by later bytes, and is counted as one garbled
// frame by Flush when the port closes instead.
func TestTruncated(t *testing.T) {
	for _, p := range []Protocol{Live9, Legacy} {
		pkt := p.Append(nil, base)
		for cut := 1; cut < len(pkt); cut++ {
			t.Run(fmt.Sprintf("%v/cut%d", p, cut), func(t *testing.T) {
				d, _ := NewDecoder(p)
				if got := feedAll(d, pkt[:cut]); len(got) != 0 || d.Pending() != cut {
					t.Fatalf("first part gave %d packets, pending %d", len(got), d.Pending())
				}
				if got := feedAll(d, closed(p, pkt[cut:])); len(got) != 1 || got[0].State != base {
					t.Fatalf("completion gave %+v", got)
				}
				feedAll(d, pkt[:cut])
				if !d.Flush() || d.Pending() != 0 {
					t.Fatal("Flush did not drop the partial packet")
				}
				if d.Flush() {
					t.Error("second Flush found a packet")
				}
				st := d.Stats()
				// Legacy: the next packet's first byte that closed the
				// packet is cut off as well.
				if st.Garbled != 1 || st.Skipped != uint64(cut+closing(p)) || st.Frames != 1 {
					t.Errorf("stats %+v", st)
				}
				if got := feedAll(d, closed(p, pkt)); len(got) != 1 {
					t.Errorf("after Flush a whole packet gave %d packets", len(got))
				}
			})
		}
	}
}

// TestChunking feeds the same stream whole and in random chunks: the
// packets and counts must not depend on how the port splits the bytes.
func TestChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range []Protocol{Live9, Legacy} {
		var in []byte
		for i := range 200 {
			s := base
			s.PR = int16(40 + i)
			in = p.Append(in, s)
			if i%7 == 0 {
				in = append(in, byte(rng.UintN(256)), byte(rng.UintN(256)))
			}
			if i%11 == 0 {
				in = append(in, p.Append(nil, s)[:3]...)
			}
		}
		want, dw := decodeAll(t, p, in)
		for range 50 {
			d, _ := NewDecoder(p)
			var got []Packet
			for rest := in; len(rest) > 0; {
				k := min(1+rng.IntN(40), len(rest))
				got = append(got, feedAll(d, rest[:k])...)
				rest = rest[k:]
			}
			if len(got) != len(want) || d.Stats() != dw.Stats() {
				t.Fatalf("%v: chunked %d packets %+v, whole %d packets %+v", p, len(got), d.Stats(), len(want), dw.Stats())
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%v: packet %d differs", p, i)
				}
			}
		}
	}
}

// TestNextConsumesOnePacket checks that Next stops at the end of a packet so
// the caller sees packets one at a time, in order.
func TestNextConsumesOnePacket(t *testing.T) {
	d, _ := NewDecoder(Live9)
	in := stream(Live9, base, 3)
	n, _, ok := d.Next(in)
	if !ok || n != 9 {
		t.Fatalf("Next gave n=%d ok=%v, want 9 true", n, ok)
	}
	if n, _, ok := d.Next(nil); n != 0 || ok {
		t.Errorf("Next(nil) = %d, %v", n, ok)
	}
}

// TestNewDecoderRejectsBadProtocol covers the zero and unknown protocols.
func TestNewDecoderRejectsBadProtocol(t *testing.T) {
	for _, p := range []Protocol{0, 3, 255} {
		if d, err := NewDecoder(p); err == nil || d != nil {
			t.Errorf("NewDecoder(%v) = %v, %v", p, d, err)
		}
	}
}

// TestDecodeNoAllocs checks the steady state of the whole decode path,
// readings included, allocates nothing.
func TestDecodeNoAllocs(t *testing.T) {
	for _, p := range []Protocol{Live9, Legacy} {
		d, _ := NewDecoder(p)
		in := stream(p, base, 60)
		var sum int
		allocs := testing.AllocsPerRun(100, func() {
			for b := in; len(b) > 0; {
				n, pkt, ok := d.Next(b)
				b = b[n:]
				if r, live := pkt.Readings(0); ok && live {
					sum += int(r[0].Value)
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per run", p, allocs)
		}
		if sum == 0 {
			t.Errorf("%v: no readings decoded", p)
		}
	}
}

// TestNonLivePacketHasNoReadings covers the acknowledgement packet.
func TestNonLivePacketHasNoReadings(t *testing.T) {
	pkts, _ := decodeAll(t, Live9, []byte{TypeAck, 0x80})
	if len(pkts) != 1 || pkts[0].Live() {
		t.Fatalf("%+v", pkts)
	}
	if _, ok := pkts[0].Readings(0); ok {
		t.Error("ack gave readings")
	}
	if pkts[0].Flags() != 0 {
		t.Error("ack has flags")
	}
}
