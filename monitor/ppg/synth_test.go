package ppg

import (
	"math"
	"math/rand/v2"
)

// synth makes a photoplethysmogram with a known SpO2 (through the ratio R
// the default curve gives for it) and a known pulse rate: each channel is
// DC·(1 − ac·pulse(phase)), with a systolic and a diastolic wave, breathing
// wander, white noise, and optional motion (the same fraction of both
// lights: R near 1, the classic motion artifact), quantised to counts.
type synth struct {
	fs        float64
	spo2      float64                 // sets R = (110 − spo2)/25
	rate      func(t float64) float64 // beats per minute at time t
	perfusion float64                 // infrared AC/DC in percent
	noise     float64                 // white noise, fraction of DC
	wander    float64                 // breathing wander at 0.25 Hz, fraction of DC
	motion    func(t float64) float64
	seed      uint64
}

const synthDCRed, synthDCIR = 90000.0, 120000.0

func ratioFor(spo2 float64) float64 { return (DefaultCalibration.A - spo2) / -DefaultCalibration.B }

func pulseShape(ph float64) float64 {
	g := func(c, w float64) float64 { d := (ph - c) / w; return math.Exp(-d * d) }
	return g(0.18, 0.08) + 0.45*g(0.45, 0.1)
}

func (s synth) gen(seconds float64) (red, ir []float64) {
	rng := rand.New(rand.NewPCG(s.seed, 7))
	n := int(seconds * s.fs)
	red, ir = make([]float64, n), make([]float64, n)
	r := ratioFor(s.spo2)
	acIR := s.perfusion / 100 / 1.1 // pulseShape peaks near 1.1 (band-passed less)
	acRed := r * acIR
	ph := rng.Float64()
	for i := range n {
		t := float64(i) / s.fs
		ph += s.rate(t) / 60 / s.fs
		p := pulseShape(ph - math.Floor(ph))
		w := 1 + s.wander*math.Sin(2*math.Pi*0.25*t)
		m := 0.0
		if s.motion != nil {
			m = s.motion(t)
		}
		red[i] = math.Round(synthDCRed * (w*(1-acRed*p) + m + s.noise*rng.NormFloat64()))
		ir[i] = math.Round(synthDCIR * (w*(1-acIR*p) + m + s.noise*rng.NormFloat64()))
	}
	return red, ir
}

func constRate(bpm float64) func(float64) float64 { return func(float64) float64 { return bpm } }

// run feeds the estimator and returns its estimates.
func run(e *Estimator, red, ir []float64) []Estimate {
	var out []Estimate
	for i := range red {
		if est, ok := e.Push(red[i], ir[i]); ok {
			out = append(out, est)
		}
	}
	return out
}
