package suntech

import (
	"bytes"
	"testing"
)

// TestLostByteNeverShiftsAResult: a response that lost a byte on the wire is
// shorter than its LEN says, so the parser waits for bytes that are not its
// own. Its own bytes sum to 0 without the lost one only if the lost byte and
// whatever completes it are equal, so with the line then quiet (Flush: the
// driver's frameGap after the result it fetched, when it sends nothing until
// the next idle poll) it never completes, and followed at once by the next
// frame it completes only if the lost byte was 0x3E, the next frame's '>'.
// Every lost byte of a result whose bytes are not 0x3E (every position: the
// LEN, a value, the checksum) gives no result, in both cases; and no frame
// the parser returns then has values from shifted places.
func TestLostByteNeverShiftsAResult(t *testing.T) {
	bp := BPData{Systolic: 131, Diastolic: 84, Beats: 9, HeartRate: 71, Mean: 100}
	res := AppendResult(nil, bp)
	if bytes.IndexByte(res[1:], ModuleStart) >= 0 {
		t.Fatalf("result % X holds a 0x3E: pick other values", res)
	}
	next := AppendAck(nil, AckReceived)
	for cut := range res {
		lost := append(bytes.Clone(res[:cut]), res[cut+1:]...)
		for _, tc := range []struct {
			name  string
			in    []byte
			flush bool
		}{
			{"then a quiet line", lost, true},
			{"then the next frame at once", append(bytes.Clone(lost), next...), false},
		} {
			var p Parser
			in := tc.in
			var got []Frame
			for {
				f, n, ok := p.Next(in)
				in = in[n:]
				if !ok {
					break
				}
				got = append(got, f)
			}
			if tc.flush {
				p.Flush()
				for {
					f, _, ok := p.Next(nil)
					if !ok {
						break
					}
					got = append(got, f)
				}
			}
			for _, f := range got {
				if f.Kind == KindResult || f.Kind == KindPressure {
					t.Fatalf("byte %d lost, %s: parser gave %s", cut, tc.name, f.String())
				}
			}
			if st := p.Stats(); st.Garbled == 0 {
				t.Errorf("byte %d lost, %s: no garbled frame counted (%+v)", cut, tc.name, st)
			}
		}
	}
}
