package sim

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// FuzzParse: any text gives a scenario or problems, never a panic; a
// scenario accepted without errors stays within its bounds at every moment
// (checked at, around and between every breakpoint of every field), gives
// plausible NIBP results, and hands out each entry once, in time order.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "configs", "scenarios", "*.toml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(header)
	f.Add(header + "[[at]]\nt = \"1m\"\nbp = { diastolic = { to = 119, over = \"10m\" }, mean = { to = 110, over = \"1m\" } }\n")
	f.Add(header + "[[at]]\nt = \"0s\"\nspo2 = { to = 1, over = \"24h\" }\nunplug = \"nonin\"\nreplug = \"nonin\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		var ps tomlcheck.Problems
		sc := Parse("f.toml", text, &ps)
		if sc == nil {
			if ps.Errors() == 0 {
				t.Fatal("no scenario and no error")
			}
			return
		}
		if ps.Errors() > 0 {
			t.Fatalf("a scenario with errors: %v", ps.Err())
		}
		for _, at := range samples(sc) {
			checkState(t, sc.At(at))
		}
		c := sc.Cursor()
		n, last := 0, time.Duration(0)
		for _, at := range []time.Duration{0, sc.End() / 2, sc.End(), maxTime * 2} {
			for _, e := range c.Advance(at) {
				if e.T < last || e.T > at || e.Index != n+1 {
					t.Fatalf("entry %s at %v out of order (last %v, now %v)", e.Key(), e.T, last, at)
				}
				last = e.T
				n++
			}
		}
		if n != len(sc.Entries) || !c.Done() {
			t.Fatalf("cursor gave %d of %d entries", n, len(sc.Entries))
		}
	})
}

// samples are the times at which a scenario's fields change course, and
// points just around and between them.
func samples(sc *Scenario) []time.Duration {
	out := []time.Duration{0, sc.End(), sc.End() + time.Hour}
	tl := &sc.tl
	for _, tr := range []track{tl.spo2, tl.pulse, tl.sys, tl.dia, tl.mean, tl.bpPulse} {
		for _, s := range tr {
			out = append(out, s.from, s.from-1, s.from+1, s.end, s.end-1, (s.from+s.end)/2)
		}
	}
	for _, e := range sc.Entries {
		out = append(out, e.T)
	}
	return out
}

func checkState(t *testing.T, s State) {
	t.Helper()
	in := func(v float64, sp span) bool { return v >= sp.lo-eps && v <= sp.hi+eps }
	b := s.BP
	if !in(s.SpO2, spo2Span()) || !in(s.Pulse, pulseSpan()) || !in(b.Systolic, sysSpan()) || !in(b.Diastolic, diaSpan()) ||
		!in(b.Pulse, pulseSpan()) || b.Diastolic > b.Systolic-1+1e-6 || b.Mean < b.Diastolic-1e-6 || b.Mean > b.Systolic+1e-6 ||
		s.NIBPDuration < minNIBPDuration || s.NIBPDuration > maxNIBPDuration {
		t.Fatalf("state out of bounds at %v: %+v", s.T, s)
	}
	m := s.Measurement()
	if m.Diastolic <= 0 || m.Diastolic >= m.Systolic || m.Systolic > 300 || m.Mean < m.Diastolic || m.Mean > m.Systolic || m.Pulse <= 0 {
		t.Fatalf("implausible measurement at %v: %+v from %+v", s.T, m, b)
	}
	s.Readings(0)
}
