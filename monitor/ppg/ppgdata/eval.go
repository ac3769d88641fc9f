package ppgdata

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/chairside/chairside/monitor/ppg"
	"github.com/chairside/chairside/monitor/vitals"
)

// Pair is one estimate beside the reference at its time.
type Pair struct {
	Rec     string
	At      time.Duration
	R       float64 // the estimator's ratio, 0 when it withheld SpO2
	SpO2    int16   // with the estimator's curve; vitals.NoValue when withheld
	Pulse   int16   // vitals.NoValue when withheld
	Flags   vitals.Flag
	Reason  string  // why a value was withheld
	RefSpO2 float64 // NaN when unknown
	RefHR   float64
	// The textbook baseline on the same stretch of signal: peak-to-peak
	// ratio of ratios, and its pulse rate (0 when it found no beats).
	BaseR, BaseHR float64
}

// Options for Evaluate.
type Options struct {
	// Config is the estimator's; SampleRate is taken from each recording.
	Config ppg.Config
	// LastOnly keeps only each recording's last estimate: for clips a few
	// seconds long with one reference each.
	LastOnly bool
}

// Evaluate runs the estimator over rec and pairs each estimate with the
// reference at its last sample.
func Evaluate(rec *Recording, o Options) ([]Pair, error) {
	cfg := o.Config
	cfg.SampleRate = rec.Rate
	est, err := ppg.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rec.Name, err)
	}
	window := int(math.Round(est.Config().Window.Seconds() * rec.Rate))
	var pairs []Pair
	for i := range rec.Red {
		if k := rec.Lost[i]; k > 0 {
			est.Lost(k)
		}
		e, ok := est.Push(rec.Red[i], rec.IR[i])
		if !ok {
			continue
		}
		p := Pair{Rec: rec.Name, At: e.At, R: e.R, SpO2: e.SpO2, Pulse: e.Pulse, Flags: e.SpO2Flags | e.PulseFlags, Reason: e.Reason,
			RefSpO2: math.NaN(), RefHR: math.NaN()}
		if i < len(rec.RefSpO2) {
			p.RefSpO2 = rec.RefSpO2[i]
		}
		if i < len(rec.RefHR) {
			p.RefHR = rec.RefHR[i]
		}
		from := max(0, i+1-window)
		p.BaseR, p.BaseHR = Baseline(rec.Red[from:i+1], rec.IR[from:i+1], rec.Rate)
		if o.LastOnly && len(pairs) > 0 {
			pairs[0] = p
			continue
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// Figures summarise estimates against a reference.
type Figures struct {
	N        int     // pairs with a value and a reference
	Withheld int     // pairs with a reference and no value
	Arms     float64 // root mean square of the differences
	Bias     float64 // mean difference (estimate − reference)
	MaxAbs   float64
}

func (f Figures) String() string {
	if f.N == 0 {
		return fmt.Sprintf("no values (%d withheld)", f.Withheld)
	}
	return fmt.Sprintf("n %d (withheld %d), Arms %.2f, bias %+.2f, max |error| %.1f", f.N, f.Withheld, f.Arms, f.Bias, f.MaxAbs)
}

func (f *Figures) add(est, ref float64) {
	d := est - ref
	f.N++
	f.Bias += d
	f.Arms += d * d
	f.MaxAbs = max(f.MaxAbs, math.Abs(d))
}

func (f *Figures) done() Figures {
	if f.N > 0 {
		f.Bias /= float64(f.N)
		f.Arms = math.Sqrt(f.Arms / float64(f.N))
	}
	return *f
}

// SpO2Of maps a ratio through a curve as the estimator shows it: rounded,
// 100 at most, withheld (false) under 50 or without a ratio.
func SpO2Of(r float64, c ppg.Calibration) (float64, bool) {
	if !(r > 0) {
		return 0, false
	}
	s := c.SpO2(r)
	if !(s >= 50) {
		return 0, false
	}
	return math.Round(min(s, 100)), true
}

// SpO2Figures compares the pairs' ratios, through curve c, with the
// reference SpO2 (the estimator's own curve is not used, so a fitted curve
// can be tried without running again). base uses the baseline's ratio.
func SpO2Figures(pairs []Pair, c ppg.Calibration, base bool) Figures {
	var f Figures
	for _, p := range pairs {
		if math.IsNaN(p.RefSpO2) {
			continue
		}
		r := p.R
		if base {
			r = p.BaseR
		}
		s, ok := SpO2Of(r, c)
		if !ok {
			f.Withheld++
			continue
		}
		f.add(s, p.RefSpO2)
	}
	return f.done()
}

// PulseFigures compares the pulse rates with the reference's.
func PulseFigures(pairs []Pair, base bool) Figures {
	var f Figures
	for _, p := range pairs {
		if math.IsNaN(p.RefHR) {
			continue
		}
		v := float64(p.Pulse)
		ok := p.Pulse != vitals.NoValue
		if base {
			v, ok = p.BaseHR, p.BaseHR > 0
		}
		if !ok {
			f.Withheld++
			continue
		}
		f.add(v, p.RefHR)
	}
	return f.done()
}

// FitLine fits SpO2 = A + B·R by least squares to the pairs that have a
// ratio and a reference (base: the baseline's ratio).
func FitLine(pairs []Pair, base bool, source string) (ppg.Calibration, error) {
	var n, sx, sy, sxx, sxy float64
	for _, p := range pairs {
		r := p.R
		if base {
			r = p.BaseR
		}
		if !(r > 0) || math.IsNaN(p.RefSpO2) {
			continue
		}
		n++
		sx += r
		sy += p.RefSpO2
		sxx += r * r
		sxy += r * p.RefSpO2
	}
	d := n*sxx - sx*sx
	if n < 3 || d == 0 {
		return ppg.Calibration{}, errors.New("ppgdata: fewer than 3 ratios with a reference, or all equal: nothing to fit")
	}
	b := (n*sxy - sx*sy) / d
	return ppg.Calibration{A: (sy - b*sx) / n, B: b, Source: source}, nil
}

// The vendor curves the baseline is read with, from their formulas:
// Maxim's application note 6845 (Table 1) and Maxim's RD117 reference code
// (its uch_spo2_table is this quadratic).
var (
	AN6845 = ppg.Calibration{A: 112.6898759, B: -34.6596622, C: 1.5958422, Source: "Maxim AN6845 quadratic"}
	RD117  = ppg.Calibration{A: 94.845, B: 30.354, C: -45.060, Source: "Maxim RD117 quadratic"}
	// Textbook is the empirical line of Webster's Design of Pulse Oximeters
	// (1997) and many application notes.
	Textbook = ppg.Calibration{A: 110, B: -25, Source: "textbook line 110 − 25·R"}
)

// Baseline is the textbook method on a stretch of raw signal: for each
// channel DC = mean and AC = peak-to-peak after removing the linear trend,
// R = (AC_red/DC_red)/(AC_ir/DC_ir); the pulse rate from peaks of the
// inverted, detrended infrared above its mean, smoothed over 4 samples at
// 25 sps (scaled to the rate), at least 0.16 s apart, as RD117 does.
func Baseline(red, ir []float64, rate float64) (r, hr float64) {
	n := len(red)
	if n < 4 {
		return 0, 0
	}
	acR, dcR := peakToPeak(red)
	acI, dcI := peakToPeak(ir)
	if dcR > 0 && dcI > 0 && acI > 0 {
		r = (acR / dcR) / (acI / dcI)
	}
	// Pulse: detrend, invert, moving average.
	x := detrend(ir)
	w := max(1, int(math.Round(4*rate/25)))
	y := make([]float64, n-w+1)
	for i := range y {
		var s float64
		for _, v := range x[i : i+w] {
			s -= v
		}
		y[i] = s / float64(w)
	}
	minDist := int(math.Ceil(0.16 * rate))
	var peaks []int
	for i := 1; i+1 < len(y); i++ {
		if y[i] > 0 && y[i] > y[i-1] && y[i] >= y[i+1] {
			if len(peaks) > 0 && i-peaks[len(peaks)-1] < minDist {
				if y[i] > y[peaks[len(peaks)-1]] {
					peaks[len(peaks)-1] = i
				}
				continue
			}
			peaks = append(peaks, i)
		}
	}
	if len(peaks) >= 2 {
		hr = 60 * rate * float64(len(peaks)-1) / float64(peaks[len(peaks)-1]-peaks[0])
	}
	return r, hr
}

func detrend(x []float64) []float64 {
	n := float64(len(x))
	var st, sx, stt, stx float64
	for i, v := range x {
		t := float64(i)
		st += t
		sx += v
		stt += t * t
		stx += t * v
	}
	b := (n*stx - st*sx) / (n*stt - st*st)
	a := (sx - b*st) / n
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v - (a + b*float64(i))
	}
	return out
}

func peakToPeak(x []float64) (ac, dc float64) {
	for _, v := range x {
		dc += v
	}
	dc /= float64(len(x))
	d := detrend(x)
	lo, hi := d[0], d[0]
	for _, v := range d {
		lo, hi = min(lo, v), max(hi, v)
	}
	return hi - lo, dc
}
