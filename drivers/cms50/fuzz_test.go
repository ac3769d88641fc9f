package cms50

import (
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// The seed corpora are in testdata/fuzz/FuzzLive9 and testdata/fuzz/FuzzLegacy
// (captures, built vectors, noise, truncated packets); inputs a fuzzing run
// found to fail are kept there as regression seeds.

func FuzzLive9(f *testing.F)  { fuzzDecoder(f, Live9) }
func FuzzLegacy(f *testing.F) { fuzzDecoder(f, Legacy) }

// fuzzDecoder checks, for any input: no panic; Next always makes progress;
// every reading is in range or NoValue with only the flags the decoder can
// raise; every byte is accounted for; the result does not depend on how the
// input is split; and a live packet re-encodes to a packet that decodes to
// the same state.
func fuzzDecoder(f *testing.F, p Protocol) {
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, d := decodeChecked(t, p, data, len(data)+1)
		// Split at points taken from the data itself, so the fuzzer explores
		// chunkings too.
		split := 1 + int(len(data)%7)
		if len(data) > 0 {
			split = 1 + int(data[0]%13)
		}
		chunked, dc := decodeChecked(t, p, data, split)
		if len(whole) != len(chunked) || d.Stats() != dc.Stats() || d.Pending() != dc.Pending() {
			t.Fatalf("chunks of %d gave %d packets %+v, whole %d packets %+v", split, len(chunked), dc.Stats(), len(whole), d.Stats())
		}
		for i := range whole {
			if whole[i] != chunked[i] {
				t.Fatalf("packet %d differs when chunked: %+v vs %+v", i, whole[i], chunked[i])
			}
		}
		pending := uint64(d.Pending())
		before := d.Stats()
		flushed := d.Flush()
		st := d.Stats()
		if flushed != (pending > 0) || d.Pending() != 0 || st.Skipped != before.Skipped+pending {
			t.Fatalf("Flush: pending %d, flushed %v, stats %+v after %+v", pending, flushed, st, before)
		}
		checkGarbled(t, p, st)
	})
}

// decodeChecked decodes data in chunks of at most chunk bytes, checking each
// packet and the byte accounting after every call.
func decodeChecked(t *testing.T, p Protocol, data []byte, chunk int) ([]Packet, *Decoder) {
	t.Helper()
	d, err := NewDecoder(p)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []Packet
	var framed uint64 // bytes of the packets returned
	for rest := data; len(rest) > 0; {
		k := min(chunk, len(rest))
		for b := rest[:k]; len(b) > 0; {
			n, pkt, ok := d.Next(b)
			if n < 1 || n > len(b) {
				t.Fatalf("Next consumed %d of %d bytes", n, len(b))
			}
			b = b[n:]
			if !ok {
				continue
			}
			framed += uint64(packetLen(t, pkt))
			checkPacket(t, p, pkt)
			pkts = append(pkts, pkt)
		}
		rest = rest[k:]
		st := d.Stats()
		if st.Bytes != framed+st.Skipped+uint64(d.Pending()) {
			t.Fatalf("accounting: %+v, framed %d, pending %d", st, framed, d.Pending())
		}
	}
	st := d.Stats()
	if st.Bytes != uint64(len(data)) || st.Frames != uint64(len(pkts)) || st.Live > st.Frames {
		t.Fatalf("stats %+v for %d bytes, %d packets", st, len(data), len(pkts))
	}
	return pkts, d
}

// packetLen gives the wire length of a returned packet.
func packetLen(t *testing.T, pkt Packet) int {
	if pkt.Protocol == Legacy {
		return legacyLen
	}
	n := live9Start(pkt.Type)
	if n == 0 {
		t.Fatalf("packet of unknown type %02X", pkt.Type)
	}
	return n
}

// checkPacket checks one packet's readings and its re-encoding.
func checkPacket(t *testing.T, p Protocol, pkt Packet) {
	t.Helper()
	if pkt.Protocol != p {
		t.Fatalf("packet of protocol %v from a %v decoder", pkt.Protocol, p)
	}
	r, ok := pkt.Readings(5)
	if ok != pkt.Live() {
		t.Fatalf("Readings ok=%v for type %02X", ok, pkt.Type)
	}
	if !ok {
		if pkt.State != (State{}) {
			t.Fatalf("non-live packet with state %+v", pkt.State)
		}
		return
	}
	const raisable = vitals.ProbeOff | vitals.Searching | vitals.SensorAlarm | vitals.LowPerfusion
	for _, x := range r {
		if x.Sensor != 5 || x.Flags&^raisable != 0 {
			t.Fatalf("reading %+v", x)
		}
		if x.Flags.Has(unusable) && x.Value != vitals.NoValue {
			t.Fatalf("value under %v: %+v", x.Flags, x)
		}
	}
	if v := r[0].Value; v != vitals.NoValue && (v < minSpO2 || v > maxSpO2) || r[0].Param != vitals.SpO2 {
		t.Fatalf("SpO2 reading %+v", r[0])
	}
	if v := r[1].Value; v != vitals.NoValue && (v < minPR || v > maxPR) || r[1].Param != vitals.Pulse {
		t.Fatalf("pulse reading %+v", r[1])
	}
	re, _ := decodeAllNoFatal(p, closed(p, p.Append(nil, pkt.State)))
	if len(re) != 1 || re[0] != pkt {
		t.Fatalf("state %+v re-encoded to %+v", pkt.State, re)
	}
}

// decodeAllNoFatal is decodeAll without a testing.TB.
func decodeAllNoFatal(p Protocol, b []byte) ([]Packet, *Decoder) {
	d, _ := NewDecoder(p)
	return feedAll(d, b), d
}

// checkGarbled checks the Garbled count against the discarded bytes: every
// garbled frame holds at least one discarded byte and at most PacketLen.
func checkGarbled(t *testing.T, p Protocol, st Stats) {
	t.Helper()
	unit := uint64(p.PacketLen())
	if st.Garbled > st.Skipped || st.Skipped > st.Garbled*unit {
		t.Fatalf("garbled %d for %d skipped bytes (unit %d)", st.Garbled, st.Skipped, unit)
	}
}
