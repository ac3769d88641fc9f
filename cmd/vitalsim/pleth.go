package main

import (
	"math"
	"math/rand/v2"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/monitor/vitals"
)

// pleth makes the Nonin's plethysmogram: one beat shape per pulse at the
// current rate, its height graded by perfusion, noisy during artifact, flat
// with the probe off. It is called once per frame, in order, from the
// device's own lock, so it keeps its phase without a lock of its own.
type pleth struct {
	df7   bool // 16-bit samples; otherwise 8-bit (DF2)
	phase float64
	rng   *rand.Rand
}

func newPleth(f nonin.Format, seed uint64) *pleth {
	return &pleth{df7: f == nonin.DF7, rng: rand.New(rand.NewPCG(seed, seed^0x2545f491))}
}

// Frame rate of DF2/DF7 (the only formats that carry a pleth).
const plethHz = 75

// sample gives the pleth sample of the next frame.
func (p *pleth) sample(_ uint64, s nonin.State) uint16 {
	v := 0.0
	if s.HR != vitals.NoValue && !s.Flags.Has(vitals.ProbeOff) {
		p.phase += float64(s.HR) / 60 / plethHz
		p.phase -= math.Floor(p.phase)
		amp := 1.0
		switch {
		case s.Flags.Has(vitals.LowPerfusion):
			amp = 0.15
		case s.Flags.Has(vitals.MarginalPerfusion):
			amp = 0.4
		}
		v = beat(p.phase) * amp
		if s.Flags.Has(vitals.Artifact) {
			v += (p.rng.Float64() - 0.5) * 0.8
		}
	}
	v = 16 + min(max(v, 0), 1)*200 // 8-bit scale, off the rails
	if p.df7 {
		return uint16(v * 256)
	}
	return uint16(v)
}

// beat is one pulse of a finger pleth over phase 0..1, peak 1: a quick
// systolic rise, then a decay with a small dicrotic bump.
func beat(ph float64) float64 {
	const rise = 0.15
	if ph < rise {
		return math.Sin(ph / rise * math.Pi / 2)
	}
	x := (ph - rise) / (1 - rise)
	return (1-x)*(1-x) + 0.15*math.Sin(x*math.Pi)*(1-x)
}
