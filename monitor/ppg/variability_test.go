package ppg

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// A living pulse is not a metronome: breathing modulates the pulse's size
// (±20 %) and rate (±6 %, sinus arrhythmia), beats differ in shape a little,
// and the waveform has no clear dicrotic wave. Values must keep coming, and
// right.
func TestBreathingAndArrhythmia(t *testing.T) {
	for _, fs := range []float64{25, 50, 100, 400} {
		rng := rand.New(rand.NewPCG(uint64(fs), 9))
		const spo2, bpm = 96.0, 75.0
		r := ratioFor(spo2)
		n := int(60 * fs)
		red, ir := make([]float64, n), make([]float64, n)
		ph, skew := 0.0, 0.3
		for i := range n {
			tt := float64(i) / fs
			breath := math.Sin(2 * math.Pi * 0.25 * tt)
			ph += bpm * (1 + 0.06*breath) / 60 / fs
			if ph >= 1 {
				ph--
				skew = 0.25 + 0.1*rng.Float64() // each beat rises a little differently
			}
			// A rise to the peak at skew, then a slow fall.
			p := ph / skew
			if ph > skew {
				p = math.Exp(-(ph - skew) * 4)
			}
			ac := 0.012 * (1 + 0.2*breath)
			ir[i] = math.Round(120000 * (1 - ac*p + 0.0002*rng.NormFloat64()))
			red[i] = math.Round(90000 * (1 - r*ac*p + 0.0002*rng.NormFloat64()))
		}
		es := run(newEst(t, fs), red, ir)
		checkFlags(t, "breathing", es)
		given := 0
		for _, e := range es {
			if e.At <= 6*time.Second {
				continue
			}
			if e.SpO2 == vitals.NoValue || e.Pulse == vitals.NoValue {
				t.Logf("%vHz at %v: withheld: %s", fs, e.At, e.Reason)
				continue
			}
			given++
			if math.Abs(float64(e.SpO2)-spo2) > 2 || math.Abs(float64(e.Pulse)-bpm) > 4 {
				t.Errorf("%vHz at %v: SpO2 %d pulse %d, want %v and %v±4", fs, e.At, e.SpO2, e.Pulse, spo2, bpm)
			}
		}
		if given < 50 {
			t.Errorf("%vHz: only %d of 54 estimates gave values", fs, given)
		}
	}
}

// A desaturation: 97 % down to 80 % over 30 s and back over 20 s. Values
// follow with the window's delay (about half of it) and are not withheld
// because R changes inside the window.
func TestFollowsDesaturation(t *testing.T) {
	truth := func(tt float64) float64 {
		switch {
		case tt < 10:
			return 97
		case tt < 40:
			return 97 - 17*(tt-10)/30
		case tt < 60:
			return 80 + 17*(tt-40)/20
		}
		return 97
	}
	for _, fs := range []float64{25, 100} {
		rng := rand.New(rand.NewPCG(3, uint64(fs)))
		n := int(70 * fs)
		red, ir := make([]float64, n), make([]float64, n)
		for i := range n {
			tt := float64(i) / fs
			ph := 70.0 / 60 * tt
			p := pulseShape(ph - math.Floor(ph))
			ac := 0.01
			ir[i] = math.Round(120000 * (1 - ac*p + 0.0002*rng.NormFloat64()))
			red[i] = math.Round(90000 * (1 - ratioFor(truth(tt))*ac*p + 0.0002*rng.NormFloat64()))
		}
		es := run(newEst(t, fs), red, ir)
		checkFlags(t, "desaturation", es)
		withheld := 0
		for _, e := range es {
			sec := e.At.Seconds()
			if sec <= 6 {
				continue
			}
			if e.SpO2 == vitals.NoValue {
				withheld++
				continue
			}
			// The window's middle, give or take its half.
			lo := min(truth(sec), truth(sec-4), truth(sec-8))
			hi := max(truth(sec), truth(sec-4), truth(sec-8))
			if float64(e.SpO2) < lo-2 || float64(e.SpO2) > hi+2 {
				t.Errorf("%vHz at %v: SpO2 %d, truth over the window %.0f-%.0f", fs, e.At, e.SpO2, lo, hi)
			}
		}
		if withheld > 3 {
			t.Errorf("%vHz: %d estimates withheld during a clean desaturation", fs, withheld)
		}
	}
}
