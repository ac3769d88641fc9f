package ppg

import "math"

// biquad is a second-order IIR section in transposed direct form II.
type biquad struct {
	b0, b1, b2, a1, a2 float64 // normalised by a0
	s1, s2             float64
}

// butterworth gives a 2nd-order Butterworth low- or high-pass at f Hz for
// sample rate fs (bilinear transform, RBJ's cookbook formulas).
func butterworth(f, fs float64, highPass bool) biquad {
	w := 2 * math.Pi * f / fs
	cw, sw := math.Cos(w), math.Sin(w)
	alpha := sw / math.Sqrt2 // Q = 1/√2
	a0 := 1 + alpha
	var q biquad
	if highPass {
		q.b0, q.b1, q.b2 = (1+cw)/2, -(1 + cw), (1+cw)/2
	} else {
		q.b0, q.b1, q.b2 = (1-cw)/2, 1-cw, (1-cw)/2
	}
	q.b0, q.b1, q.b2 = q.b0/a0, q.b1/a0, q.b2/a0
	q.a1, q.a2 = -2*cw/a0, (1-alpha)/a0
	return q
}

// settle sets the state as if x had been the input forever, so that the
// first samples after a start or a gap cause no step response.
func (q *biquad) settle(x float64) {
	g := (q.b0 + q.b1 + q.b2) / (1 + q.a1 + q.a2)
	y := g * x
	q.s2 = q.b2*x - q.a2*y
	q.s1 = q.b1*x - q.a1*y + q.s2
}

func (q *biquad) step(x float64) float64 {
	y := q.b0*x + q.s1
	q.s1 = q.b1*x - q.a1*y + q.s2
	q.s2 = q.b2*x - q.a2*y
	return y
}

// bandPass is the pulse band: a high-pass then a low-pass.
type bandPass struct{ hp, lp biquad }

func newBandPass(lo, hi, fs float64) bandPass {
	return bandPass{hp: butterworth(lo, fs, true), lp: butterworth(hi, fs, false)}
}

func (b *bandPass) settle(x float64) {
	b.hp.settle(x)
	b.lp.settle(0) // the high-pass gives 0 for a constant input
}

func (b *bandPass) step(x float64) float64 { return b.lp.step(b.hp.step(x)) }
