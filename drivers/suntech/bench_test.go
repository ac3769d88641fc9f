package suntech

import (
	"testing"
)

// benchStream is what a measurement cycle looks like on the line: many cuff
// pressure answers, a few acks, one result, one version answer.
func benchStream() []byte {
	var b []byte
	b = AppendAck(b, AckReceived)
	for p := int16(0); p < 160; p += 4 {
		b = AppendPressure(b, p)
	}
	b = AppendAck(b, AckDone)
	b = AppendResult(b, BPData{Systolic: 115, Diastolic: 74, Mean: 88, HeartRate: 85})
	return AppendVersion(b, DefaultVersion)
}

func drainAll(p *Parser, in []byte) int {
	frames := 0
	for {
		_, n, ok := p.Next(in)
		in = in[n:]
		if !ok {
			return frames
		}
		frames++
	}
}

func BenchmarkParser(b *testing.B) {
	in := benchStream()
	var p Parser
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		drainAll(&p, in)
	}
}

// BenchmarkParserNoise is the worst case for resync: every byte a '>' with
// a valid LEN, so each candidate is rescanned.
func BenchmarkParserNoise(b *testing.B) {
	in := make([]byte, 4096)
	for i := range in {
		in[i] = ModuleStart
	}
	var p Parser
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		drainAll(&p, in)
		p.Flush()
		drainAll(&p, nil)
	}
}

// The parser must not allocate per frame in steady state.
func TestParserZeroAllocs(t *testing.T) {
	in := benchStream()
	noisy := append(append([]byte{0x3E, 0x18, 0x01, 0x55}, in...), 0x3E, 0x44)
	var p Parser
	want := drainAll(&p, in)
	allocs := testing.AllocsPerRun(100, func() {
		if got := drainAll(&p, in); got != want {
			t.Fatalf("frames %d, want %d", got, want)
		}
		drainAll(&p, noisy)
		p.Flush()
		drainAll(&p, nil)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}
