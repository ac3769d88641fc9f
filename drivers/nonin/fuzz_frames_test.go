package nonin

import (
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// Frame faults FuzzFrameLoss applies to a packet: a relay that loses whole
// frames, sends one twice, or delivers one late (inside the next packet).
const (
	faultNone = iota
	faultDrop
	faultRepeat
	faultMove
	numFaults
)

// framed is one frame on the wire and where the encoder put it.
type framed struct {
	packet, index int
	b             []byte
}

// FuzzFrameLoss builds a stream of valid DF2/DF7 frames (every one passes its
// checksum, so no framing error shows) from packets of fuzzed states, loses,
// repeats or moves whole frames as the input says, and checks that the
// decoder emits exactly the values of the packets that arrived whole (their
// 25 frames in order, closed by a SYNC frame), each equal to what the encoder
// put in that packet: never a value read from a frame another frame's loss
// shifted. It also checks the discarded-packet count and Last.
//
// Input: byte 0 chooses the format, byte 1 the chunk size, then 5 bytes per
// packet: SpO2, HR/2, flags, fault, fault position. A packet that gained a
// moved frame is only ever whole or repeated, never also short: a packet
// that loses one frame and gains another has 25 frames in the wrong order,
// which the wire cannot show (see Decoder). For the same reason a moved frame
// is never a SYNC frame and never lands before the next packet's SYNC.
func FuzzFrameLoss(f *testing.F) {
	intact := []byte{0, 5}
	dropAfterSync := []byte{0, 7}
	everyThird := []byte{1, 16}
	repeatAndMove := []byte{1, 3}
	for k := 0; k < 12; k++ {
		v := []byte{byte(85 + k), byte(30 + k), 0, faultNone, 0}
		intact = append(intact, v...)
		d := append([]byte(nil), v...)
		d[3], d[4] = faultDrop, 1
		dropAfterSync = append(dropAfterSync, d...)
		e := append([]byte(nil), v...)
		if k%3 == 2 {
			e[3], e[4] = faultDrop, byte(k)
		}
		everyThird = append(everyThird, e...)
		m := append([]byte(nil), v...)
		m[2] = byte(k * 37)
		m[3], m[4] = byte(k%numFaults), byte(k*11)
		repeatAndMove = append(repeatAndMove, m...)
	}
	for _, seed := range [][]byte{intact, dropAfterSync, everyThird, repeatAndMove} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2+5 {
			return
		}
		format := [2]Format{DF2, DF7}[data[0]%2]
		chunk := int(data[1])%16 + 1
		data = data[2:]
		npk := min(len(data)/5, 40)

		// The packets' states and frames.
		enc, _ := NewEncoder(format)
		states := make([]State, npk)
		packets := make([][]framed, npk)
		for k := range npk {
			p := data[5*k:]
			s := Steady(int16(p[0]%128), int16(p[1])*2) // 101..127 and 511 go out as missing
			s.Flags = vitals.Flag(p[2]) & knownFlags
			s.SREV, s.Timer, s.Pleth = p[0]^0x5a, uint16(k)*3, 0x4242
			s.SpO2D, s.SpO2BB, s.EHR = int16(p[1]%101), int16(p[0]%101), int16(p[1])
			states[k] = s
			for i := range packetFrames {
				packets[k] = append(packets[k], framed{k, i, enc.Append(nil, &s)})
			}
		}
		// The faults.
		gained := false
		for k := range npk {
			p := data[5*k:]
			fault, at := int(p[3])%numFaults, int(p[4])
			if gained && (fault == faultDrop || fault == faultMove) {
				fault = faultNone
			}
			gained = false
			switch fault {
			case faultDrop:
				i := at % packetFrames
				packets[k] = append(packets[k][:i:i], packets[k][i+1:]...)
			case faultRepeat:
				i := at % packetFrames
				packets[k] = append(packets[k][:i+1:i+1], packets[k][i:]...)
			case faultMove:
				i := 1 + at%(packetFrames-1)
				fr := packets[k][i]
				packets[k] = append(packets[k][:i:i], packets[k][i+1:]...)
				if k+1 < npk {
					j := 1 + (at/packetFrames)%packetFrames // after the next SYNC
					next := packets[k+1]
					packets[k+1] = append(append(append([]framed(nil), next[:j]...), fr), next[j:]...)
					gained = true
				}
			}
		}
		var stream []framed
		var in []byte
		for _, p := range packets {
			stream = append(stream, p...)
			for _, fr := range p {
				in = append(in, fr.b...)
			}
		}

		// What must come out: the packets whose 25 frames arrived in order
		// and were closed by a SYNC frame.
		var want []vitals.Reading
		var wantLast *State
		var discarded uint64
		start, open := 0, false
		for n, fr := range stream {
			if fr.index == 0 {
				if open && n-start == packetFrames {
					for i, g := range stream[start:n] {
						if g.index != i || g.packet != stream[start].packet {
							t.Fatalf("the generator made a 25-frame packet out of order at frame %d: %v", start, stream[start:n])
						}
					}
					s := expected(states[stream[start].packet], format)
					want = append(want,
						vitals.Reading{Sensor: 7, Param: vitals.Pulse, Value: s.HR, Flags: s.Flags},
						vitals.Reading{Sensor: 7, Param: vitals.SpO2, Value: s.SpO2, Flags: s.Flags})
					wantLast = &s
				} else if open {
					discarded++
				}
				start, open = n, true
			} else if open && n-start == packetFrames {
				discarded++
				open = false
			}
		}

		d, got := decodeChunks(t, format, in, chunk)
		if len(got) != len(want) {
			t.Fatalf("%d readings, want %d (from %d whole packets)\ngot  %+v\nwant %+v", len(got), len(want), len(want)/2, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("reading %d = %+v, want %+v (the value the encoder put in that packet)", i, got[i], want[i])
			}
		}
		if d.Discarded() != discarded || d.Garbled() != discarded || d.Frames() != uint64(len(stream)) {
			t.Fatalf("frames %d garbled %d discarded %d; want %d, %d, %d", d.Frames(), d.Garbled(), d.Discarded(), len(stream), discarded, discarded)
		}
		last := d.Last()
		if wantLast == nil {
			w := missingState()
			wantLast = &w
		}
		wantLast.Pleth = last.Pleth
		if last != *wantLast {
			t.Fatalf("Last() = %+v\nwant     %+v", last, *wantLast)
		}
	})
}
