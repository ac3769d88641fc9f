package suntech

import (
	"bytes"
	"slices"
	"testing"
)

var (
	ackK        = []byte{0x3E, 0x04, 0x4B, 0x73}
	press258    = []byte{0x3E, 0x05, 0x02, 0x01, 0xBA}
	press258Bad = []byte{0x3E, 0x05, 0x02, 0x01, 0xB1}
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// checkAccounting is the invariant the fuzz target also asserts.
func checkAccounting(t testing.TB, p *Parser) {
	t.Helper()
	st := p.Stats()
	if st.Bytes != st.FrameBytes+st.Discarded+uint64(p.Pending()) {
		t.Fatalf("accounting: %+v pending %d", st, p.Pending())
	}
	if p.Pending() > MaxFrameLen {
		t.Fatalf("pending %d > MaxFrameLen", p.Pending())
	}
}

func TestParserResync(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		want    []string
		garbled uint64
	}{
		{"garbage before", cat([]byte{0x00, 0x55, 0xFF, 0x3A, 0x20}, ackK), []string{"ack 'K' done"}, 1},
		{"garbage between", cat(ackK, []byte{1, 2, 3}, press258), []string{"ack 'K' done", "cuff pressure 258 mmHg"}, 1},
		{"bad CHK then good", cat(press258Bad, press258), []string{"cuff pressure 258 mmHg"}, 1},
		{"bad CHK twice counts once", cat(press258Bad, press258Bad, ackK), []string{"ack 'K' done"}, 1},
		{"bad CHK, good, bad CHK", cat(press258Bad, ackK, press258Bad, ackK), []string{"ack 'K' done", "ack 'K' done"}, 2},
		{"LEN too big", cat([]byte{0x3E, 0x44}, ackK), []string{"ack 'K' done"}, 1},
		{"LEN too small", cat([]byte{0x3E, 0x03, 0xBF}, ackK), []string{"ack 'K' done"}, 1},
		{"LEN zero", cat([]byte{0x3E, 0x00}, press258), []string{"cuff pressure 258 mmHg"}, 1},
		// 0x3E is also a valid LEN (62): only a quiet line (Flush) releases
		// the frames such a candidate holds.
		{"start byte as LEN", cat([]byte{0x3E, 0x3E}, ackK), []string{"ack 'K' done"}, 1},
		// A frame's '>' inside a longer candidate that fails its checksum:
		// the parser must look again inside it.
		{"frame hidden in a failed one", cat([]byte{0x3E, 0x0C}, ackK, press258, []byte{0x00}),
			[]string{"ack 'K' done", "cuff pressure 258 mmHg"}, 2}, // the pad byte after them is a second loss
		{"two frames hidden", cat([]byte{0x3E, 0x0A, 0x01}, ackK, ackK, []byte{0x99}),
			[]string{"ack 'K' done", "ack 'K' done"}, 2},
		{"noise of '>'", cat(bytes.Repeat([]byte{0x3E}, 10), ackK), []string{"ack 'K' done"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole and byte by byte.
			for _, split := range []bool{false, true} {
				var p Parser
				var got []string
				if split {
					for _, b := range tc.in {
						got = append(got, parseAll(&p, []byte{b})...)
					}
				} else {
					got = parseAll(&p, tc.in)
				}
				p.Flush() // the line goes quiet after the input
				got = append(got, parseAll(&p, nil)...)
				if !slices.Equal(got, tc.want) {
					t.Errorf("split %v: got %q, want %q", split, got, tc.want)
				}
				if st := p.Stats(); st.Garbled != tc.garbled || st.Frames != uint64(len(tc.want)) {
					t.Errorf("split %v: stats %+v, want garbled %d", split, st, tc.garbled)
				}
				checkAccounting(t, &p)
			}
		})
	}
}

// A truncated frame holds the frames after it until LEN bytes have arrived,
// or until Flush says the line went quiet.
func TestParserTruncated(t *testing.T) {
	trunc := []byte{0x3E, 0x18, 0x73, 0x00, 0x4A} // a result cut after 5 bytes
	var p Parser
	if got := parseAll(&p, cat(trunc, ackK)); len(got) != 0 {
		t.Fatalf("frame released before the candidate resolved: %q", got)
	}
	if p.Pending() != 9 {
		t.Fatalf("pending %d", p.Pending())
	}
	p.Flush()
	if got := parseAll(&p, nil); !slices.Equal(got, []string{"ack 'K' done"}) {
		t.Fatalf("after Flush: %q", got)
	}
	if p.Pending() != 0 {
		t.Errorf("pending %d after flush", p.Pending())
	}
	checkAccounting(t, &p)
	if st := p.Stats(); st.Garbled != 1 || st.Discarded != 5 {
		t.Errorf("stats %+v", st)
	}

	// Without Flush, the swallowed frame comes out once the candidate's
	// LEN is reached and its checksum fails.
	var q Parser
	in := cat(trunc, ackK, bytes.Repeat([]byte{0}, 24))
	if got := parseAll(&q, in); !slices.Equal(got, []string{"ack 'K' done"}) {
		t.Errorf("without flush: %q", got)
	}
	checkAccounting(t, &q)

	// A frame whose '>' alone arrived, then quiet.
	var r Parser
	parseAll(&r, []byte{0x3E})
	r.Flush()
	if got := parseAll(&r, ackK); !slices.Equal(got, []string{"ack 'K' done"}) {
		t.Errorf("lone start: %q", got)
	}
	checkAccounting(t, &r)
}

func TestParserFlushWhenEmptyIsHarmless(t *testing.T) {
	var p Parser
	p.Flush()
	in := cat(ackK[:2])
	parseAll(&p, in) // a fresh candidate after a flush of nothing stays pending
	if p.Pending() != 2 {
		t.Fatalf("pending %d", p.Pending())
	}
	if got := parseAll(&p, ackK[2:]); !slices.Equal(got, []string{"ack 'K' done"}) {
		t.Errorf("got %q", got)
	}
}

func TestParserDiscard(t *testing.T) {
	var p Parser
	parseAll(&p, press258[:3])
	p.Discard()
	checkAccounting(t, &p)
	if p.Pending() != 0 || p.Stats().Discarded != 3 || p.Stats().Garbled != 1 {
		t.Errorf("pending %d stats %+v", p.Pending(), p.Stats())
	}
	if got := parseAll(&p, ackK); len(got) != 1 {
		t.Errorf("after Discard: %q", got)
	}
}

// A stream of pure noise keeps counting, about one per MaxFrameLen bytes, so
// a wrong baud rate shows as garbled rather than as one glitch.
func TestParserNoiseKeepsCounting(t *testing.T) {
	var p Parser
	parseAll(&p, bytes.Repeat([]byte{0x55}, 10*MaxFrameLen))
	checkAccounting(t, &p)
	if g := p.Stats().Garbled; g != 10 {
		t.Errorf("garbled %d, want 10", g)
	}
}

// The consumed count lets a caller resume exactly after a frame.
func TestParserConsumed(t *testing.T) {
	var p Parser
	in := cat(ackK, press258)
	_, n, ok := p.Next(in)
	if !ok || n != len(ackK) {
		t.Fatalf("n %d ok %v", n, ok)
	}
	f, n2, ok := p.Next(in[n:])
	if !ok || n2 != len(press258) || f.Pressure != 258 {
		t.Fatalf("second: n %d ok %v %v", n2, ok, &f)
	}
	if _, n3, ok := p.Next(nil); ok || n3 != 0 {
		t.Errorf("empty: n %d ok %v", n3, ok)
	}
}
