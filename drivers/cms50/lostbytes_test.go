package cms50

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// lossStream gives 12 live packets of p whose SpO2 and PR differ in every
// packet and from every other byte (pleth, bar, signal), so a value read
// from a byte a loss shifted into its place is not a true one; and the
// packets' states, normalised. With withPI (Live9 only), each packet also
// carries a perfusion index in its trailer instead of FF FF; the values mix
// PI bytes with and without bit 7, and most high-bit bytes are 0x80..0x87,
// so that a next packet's high-bit byte read as a PI's high byte is
// plausible.
func lossStream(p Protocol, withPI bool) ([]byte, []State) {
	var b []byte
	var states []State
	for i := range 12 {
		s := State{SpO2: int16(88 + i), PR: int16(60 + 7*i), Pleth: uint8(20 + 3*i), Bar: uint8(i % 16), Signal: uint8(i % 9)}
		if p == Live9 {
			s.Bar = uint8(30 + 5*i)
		}
		if withPI {
			s.PI = uint16(50 + 71*i)
		}
		s = p.Normalize(s)
		states = append(states, s)
		b = p.Append(b, s)
	}
	return b, states
}

// TestLostBytesNeverShiftAValue: both CMS50 protocols anchor every packet
// on its own first byte (Live9: the type byte, the only one with bit 7 clear;
// Legacy: the only byte with bit 7 set) and have no state across packets,
// so a lost byte breaks its packet (the next packet's first byte arrives in
// its place) and a lost packet costs only its own values. Two lost bytes, one
// in a packet and the next packet's first, would make five bytes of two
// packets: Live9's FF FF trailer rejects that, a Live9 packet with a PI in
// its trailer and a Legacy packet are taken only when the next packet's
// first byte follows them. With any one byte, any
// two bytes or any one whole packet lost, every packet decoded is a packet
// the device sent, whole.
func TestLostBytesNeverShiftAValue(t *testing.T) {
	for _, v := range []struct {
		p      Protocol
		withPI bool
	}{{Live9, false}, {Live9, true}, {Legacy, false}} {
		p := v.p
		clean, states := lossStream(p, v.withPI)
		L := p.PacketLen()
		cases := map[string][]byte{}
		for cut := range clean {
			cases[fmt.Sprintf("byte %d lost", cut)] = append(bytes.Clone(clean[:cut]), clean[cut+1:]...)
			for cut2 := cut + 1; cut2 < len(clean); cut2++ {
				in := append(bytes.Clone(clean[:cut]), clean[cut+1:cut2]...)
				cases[fmt.Sprintf("bytes %d and %d lost", cut, cut2)] = append(in, clean[cut2+1:]...)
			}
			if cut%L == 0 {
				cases[fmt.Sprintf("packet %d lost", cut/L)] = append(bytes.Clone(clean[:cut]), clean[cut+L:]...)
			}
		}
		for name, in := range cases {
			pkts, d := decodeAll(t, p, closed(p, in))
			for _, got := range pkts {
				if !slicesContain(states, got.State) {
					t.Fatalf("%v (PI %v), %s: packet %+v is none the device sent", p, v.withPI, name, got.State)
				}
			}
			// A lost Legacy start byte costs the packet before it too.
			if want := len(states) - 1; d.Stats().Garbled == 0 && len(pkts) != want {
				t.Errorf("%v (PI %v), %s: %d packets of %d, garbled %d", p, v.withPI, name, len(pkts), len(states), d.Stats().Garbled)
			}
		}
	}
}

func slicesContain(states []State, s State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// TestLegacyNoiseGivesNoReading: Legacy has no checksum, so random bytes at
// the line's rate match its bit-7 pattern about 30 times a second, with
// random values. Only a run of legacyChain packets back to back is trusted:
// a minute of noise fed to the driver gives no reading (the engine sees a
// silent sensor), while a real stream is trusted from its sixth packet and
// again six packets after a garbled stretch.
func TestLegacyNoiseGivesNoReading(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 1920*60)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	sink := newRecSink()
	dev, err := New("/dev/null", &Opts{Protocol: Legacy, Sensor: 2})
	if err != nil {
		t.Fatal(err)
	}
	dev.sink = sink                       // as Run sets it
	s := &session{d: dev, streamed: true} // streamed: no log line, which needs a port
	for i := 0; i < len(noise); i += 32 {
		s.feed(noise[i:min(i+32, len(noise))])
	}
	if r, _ := sink.snapshot(); len(r) != 0 || dev.dec.Stats().Frames == 0 {
		t.Fatalf("a minute of noise: %d readings (want none) from %d chance packets: %+v", len(r), dev.dec.Stats().Frames, r[:min(len(r), 4)])
	}

	clean, _ := lossStream(Legacy, false)
	d, _ := NewDecoder(Legacy)
	trusted := func(b []byte) (n int) {
		for len(b) > 0 {
			k, _, ok := d.Next(b)
			b = b[k:]
			if ok && d.Trusted() {
				n++
			}
		}
		return n
	}
	// 12 packets, the 12th confirmed by the closing start byte: the 6th
	// to the 12th are trusted.
	if n := trusted(closed(Legacy, clean)); n != 12-legacyChain+1 {
		t.Errorf("clean stream: %d packets trusted, want %d", n, 12-legacyChain+1)
	}
	trusted([]byte{0x00, 0x00}) // noise: the run starts again
	if n := trusted(closed(Legacy, clean)); n != 12-legacyChain+1 {
		t.Errorf("after noise: %d packets trusted, want %d", n, 12-legacyChain+1)
	}
}
