package main

import (
	"math"
	"testing"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/monitor/vitals"
)

func TestBeatShape(t *testing.T) {
	prev := beat(0)
	for i := 1; i <= 1000; i++ {
		v := beat(float64(i) / 1000)
		if v < 0 || v > 1 || math.Abs(v-prev) > 0.02 {
			t.Fatalf("beat(%v) = %v after %v: out of range or a jump", float64(i)/1000, v, prev)
		}
		prev = v
	}
}

// swing is the pleth's range over two seconds of frames.
func swing(p *pleth, s nonin.State) (lo, hi uint16) {
	lo = math.MaxUint16
	for range 150 {
		v := p.sample(0, s)
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

func TestPlethFollowsPerfusionAndProbe(t *testing.T) {
	s := nonin.Steady(97, 72)
	lo, hi := swing(newPleth(nonin.DF2, 1), s)
	if hi-lo < 150 || hi > 255 {
		t.Errorf("good perfusion swing %d..%d", lo, hi)
	}
	s.Flags = vitals.LowPerfusion
	if lo, hi := swing(newPleth(nonin.DF2, 1), s); hi-lo > 40 || hi-lo < 10 {
		t.Errorf("low perfusion swing %d..%d", lo, hi)
	}
	s.Flags = vitals.ProbeOff
	if lo, hi := swing(newPleth(nonin.DF2, 1), s); lo != hi {
		t.Errorf("probe off swing %d..%d", lo, hi)
	}
	s = nonin.Steady(97, 72)
	if _, hi := swing(newPleth(nonin.DF7, 1), s); hi < 256*150 {
		t.Errorf("DF7 pleth is not 16-bit: max %d", hi)
	}
}
