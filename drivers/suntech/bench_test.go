package suntech

import (
	"testing"
	"time"
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

// driverLink is the driver's per-session state without a port: what the
// read loop hands each chunk to (link.feed).
func driverLink(tb testing.TB) *link {
	d, err := New("/dev/null", nil)
	if err != nil {
		tb.Fatal(err)
	}
	d.sink = nopSink{} // as Run sets it
	return &link{d: d, o: &d.opts}
}

// measuringStream is what the line carries during a cycle: cuff pressure
// answers, and one idle version answer.
func measuringStream() []byte {
	var b []byte
	for p := int16(0); p < 160; p += 4 {
		b = AppendPressure(b, p)
	}
	return AppendVersion(b, DefaultVersion)
}

// The driver's read path, parser and frame handling, must not allocate per
// frame in steady state either (a Frame local to drain used to escape to the
// heap through handle's log lines: one allocation per frame and per chunk).
func TestDriverFeedZeroAllocs(t *testing.T) {
	l := driverLink(t)
	l.cyc = cycle{id: "n-1-1", phase: measuring}
	in := measuringStream()
	now := time.Now()
	l.feed(in, now) // the first version answer is logged and kept
	allocs := testing.AllocsPerRun(100, func() {
		for rest := in; len(rest) > 0; rest = rest[min(7, len(rest)):] {
			l.feed(rest[:min(7, len(rest))], now)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
	if st := l.d.parser.Stats(); st.Garbled != 0 || st.Frames != 102*41 {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkDriverFeed is the driver's path from a read chunk (up to the
// session's 256-byte buffer) to the handled frames.
func BenchmarkDriverFeed(b *testing.B) {
	l := driverLink(b)
	l.cyc = cycle{id: "n-1-1", phase: measuring}
	in := measuringStream()
	now := time.Now()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := in; len(rest) > 0; rest = rest[min(256, len(rest)):] {
			l.feed(rest[:min(256, len(rest))], now)
		}
	}
}
