package cms50

import (
	"testing"
)

// TestLive9PerfusionIndex: a unit of Contec's protocol V7.0 puts the
// perfusion index ×100 (little-endian, bit 7 of each byte in bits 5 and 6 of
// the high-bit byte) where older units send FF FF, and says so with bit 4 of
// byte 4. Such a packet gives its readings and its PI once the next packet's
// type byte shows it was whole; a trailer that is no FF FF and no plausible,
// announced PI is garbled, as is a PI packet followed by anything but a
// packet start. The bytes are written by hand, not by the encoder.
func TestLive9PerfusionIndex(t *testing.T) {
	next := "01" // the next packet's type byte
	tests := []struct {
		name    string
		in      string
		packets int    // packets returned
		pi      uint16 // PI of the first packet
		garbled uint64
	}{
		// PI 250 = FA 00: FA has bit 7 (hh bit 5), byte 4 96 has bit 4.
		{"pi 2.50", "01 A0 85 B3 96 C1 E1 FA 80 " + next, 1, 250, 0},
		// PI 2000 = D0 07.
		{"pi 20.00", "01 A0 85 B3 96 C1 E1 D0 87 " + next, 1, 2000, 0},
		// PI 100 = 64 00, no high bits at all.
		{"pi 1.00", "01 80 85 B3 96 C1 E1 E4 80 " + next, 1, 100, 0},
		// V7.0 "PI invalid" is FFFF: the captures' trailer, PI-valid bit or not.
		{"pi invalid with valid bit", "01 E0 85 B3 96 C1 E1 FF FF " + next, 1, 0, 0},
		{"ff ff without valid bit", "01 E0 85 B3 86 C1 E1 FF FF " + next, 1, 0, 0},
		// A PI packet followed by an ack is whole too.
		{"pi then ack", "01 A0 85 B3 96 C1 E1 FA 80 0C 80 " + next, 2, 250, 0},
		{"pi without valid bit", "01 A0 85 B3 86 C1 E1 FA 80 " + next, 0, 0, 1},
		{"pi 20.01", "01 A0 85 B3 96 C1 E1 D1 87 " + next, 0, 0, 1},
		{"pi high byte 0x7F", "01 80 85 B3 96 C1 E1 80 FF " + next, 0, 0, 1},
		// Followed by a byte with bit 7 set: it may be 8 bytes of its own
		// and the next packet's high-bit byte. Ten bytes discarded are two
		// frames' worth (Stats.Garbled).
		{"pi then no packet start", "01 A0 85 B3 96 C1 E1 FA 80 85 " + next, 0, 0, 2},
		{"pi then unknown type", "01 A0 85 B3 96 C1 E1 FA 80 7E " + next, 0, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkts, d := decodeAll(t, Live9, parseHex(t, tc.in))
			st := d.Stats()
			if len(pkts) != tc.packets || st.Garbled != tc.garbled || d.Pending() != 1 {
				t.Fatalf("%d packets, stats %+v, pending %d; want %d packets, garbled %d, pending 1",
					len(pkts), st, d.Pending(), tc.packets, tc.garbled)
			}
			if tc.packets == 0 {
				return
			}
			got := pkts[0]
			if got.SpO2 != 97 || got.PR != 65 || got.PI != tc.pi {
				t.Errorf("SpO2 %d PR %d PI %d, want 97 65 %d", got.SpO2, got.PR, got.PI, tc.pi)
			}
			if s := readingsString(t, got); s != "spo2=97 pr=65 flags=none" {
				t.Errorf("readings %s", s)
			}
		})
	}
}

// TestLive9PIPacketWaitsForNext: the PI packet is pending (not lost, not
// returned) until the next byte, across Next calls, and Flush counts it
// garbled when the port closes first.
func TestLive9PIPacketWaitsForNext(t *testing.T) {
	pkt := parseHex(t, "01 A0 85 B3 96 C1 E1 FA 80")
	d, _ := NewDecoder(Live9)
	if got := feedAll(d, pkt); len(got) != 0 || d.Pending() != 9 {
		t.Fatalf("before the next byte: %d packets, pending %d", len(got), d.Pending())
	}
	if got := feedAll(d, []byte{TypeLive}); len(got) != 1 || got[0].PI != 250 || d.Pending() != 1 {
		t.Fatalf("after the next byte: %+v, pending %d", got, d.Pending())
	}
	d, _ = NewDecoder(Live9)
	feedAll(d, pkt)
	if !d.Flush() || d.Pending() != 0 || d.Stats().Garbled != 1 || d.Stats().Skipped != 9 {
		t.Fatalf("Flush: pending %d, stats %+v", d.Pending(), d.Stats())
	}
	if got := feedAll(d, closed(Live9, pkt)); len(got) != 1 {
		t.Errorf("after Flush a whole PI packet gave %d packets", len(got))
	}
}
