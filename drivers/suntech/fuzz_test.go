package suntech

import (
	"bytes"
	"testing"
)

// FuzzParser feeds arbitrary bytes, in arbitrary chunks, and checks that the
// parser never panics, keeps its accounting exact, holds at most one frame,
// returns only frames that are valid by construction, and does not depend on
// how the input was split.
func FuzzParser(f *testing.F) {
	for _, r := range readTable(f, "responses.txt") {
		f.Add(unhex(f, r[0]), uint8(0))
	}
	f.Add(cat(ackK, press258Bad, press258, []byte{0x3E, 0x44, 0x3E}), uint8(1))
	f.Add(AppendVersion(AppendResult(nil, BPData{Systolic: 120, Diastolic: 80}), "LX"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		whole := parseChecked(t, in, len(in)+1)
		split := parseChecked(t, in, int(chunk)%17+1)
		if len(whole) != len(split) {
			t.Fatalf("split changes the frames: %d vs %d", len(whole), len(split))
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("frame %d differs with split: %v vs %v", i, &whole[i], &split[i])
			}
		}
	})
}

// parseChecked parses in, chunk bytes at a time, then flushes, asserting the
// invariants after every call.
func parseChecked(t *testing.T, in []byte, chunk int) []Frame {
	var p Parser
	var out []Frame
	take := func(b []byte) {
		for {
			f, n, ok := p.Next(b)
			if n < 0 || n > len(b) {
				t.Fatalf("consumed %d of %d", n, len(b))
			}
			b = b[n:]
			checkAccounting(t, &p)
			if !ok {
				if len(b) != 0 {
					t.Fatalf("not ok with %d bytes left", len(b))
				}
				return
			}
			checkFrame(t, &f)
			out = append(out, f)
		}
	}
	for b := in; len(b) > 0; {
		c := b[:min(chunk, len(b))]
		b = b[len(c):]
		take(c)
	}
	p.Flush()
	take(nil)
	st := p.Stats()
	if p.Pending() != 0 {
		t.Fatalf("%d bytes still held after Flush", p.Pending())
	}
	if st.Bytes != uint64(len(in)) || st.Frames != uint64(len(out)) {
		t.Fatalf("stats %+v for %d bytes, %d frames", st, len(in), len(out))
	}
	if st.Discarded > 0 && st.Garbled == 0 || st.Garbled > st.Discarded {
		t.Fatalf("garbled %d for %d bytes discarded", st.Garbled, st.Discarded)
	}
	return out
}

// checkFrame asserts that a returned frame is well formed and decodes the
// same from its own bytes.
func checkFrame(t *testing.T, f *Frame) {
	b := f.Bytes()
	if len(b) < MinFrameLen || len(b) > MaxFrameLen || b[0] != ModuleStart || int(b[1]) != len(b) || !ValidChecksum(b) {
		t.Fatalf("invalid frame returned: % X", b)
	}
	wantKind := map[int]Kind{lenAck: KindAck, lenPressure: KindPressure, lenResult: KindResult, lenVersion: KindVersion}[len(b)]
	if f.Kind != wantKind {
		t.Fatalf("LEN %d classified %v", len(b), f.Kind)
	}
	var again Parser
	g, n, ok := again.Next(b)
	if !ok || n != len(b) || g != *f {
		t.Fatalf("frame does not round-trip: % X", b)
	}
	if f.Kind == KindVersion && !bytes.HasPrefix(b[2:], f.Text()) {
		t.Fatalf("Text not from the frame")
	}
	_ = f.String()
}
