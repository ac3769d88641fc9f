package cms50

import (
	"bytes"
	"fmt"
	"testing"
)

// lossStream gives 12 live packets of p whose SpO2 and PR differ in every
// packet and from every other byte (pleth, bar, signal), so a value read
// from a byte a loss shifted into its place is not a true one; and the
// packets' states.
func lossStream(p Protocol) ([]byte, []State) {
	var b []byte
	var states []State
	for i := range 12 {
		s := State{SpO2: int16(88 + i), PR: int16(60 + 7*i), Pleth: uint8(20 + 3*i), Bar: uint8(i % 16), Signal: uint8(i % 9)}
		if p == Live9 {
			s.Bar = uint8(30 + 5*i)
		}
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
// packets: Live9's FF FF trailer rejects that, and a Legacy packet is taken
// only when the next packet's first byte follows it. With any one byte, any
// two bytes or any one whole packet lost, every packet decoded is a packet
// the device sent, whole.
func TestLostBytesNeverShiftAValue(t *testing.T) {
	for _, p := range []Protocol{Live9, Legacy} {
		clean, states := lossStream(p)
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
					t.Fatalf("%v, %s: packet %+v is none the device sent", p, name, got.State)
				}
			}
			// A lost Legacy start byte costs the packet before it too.
			if want := len(states) - 1; d.Stats().Garbled == 0 && len(pkts) != want {
				t.Errorf("%v, %s: %d packets of %d, garbled %d", p, name, len(pkts), len(states), d.Stats().Garbled)
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
