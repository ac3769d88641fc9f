package ppg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

var rates = []float64{25, 50, 64, 100, 200, 400}

func newEst(t testing.TB, fs float64) *Estimator {
	t.Helper()
	e, err := New(Config{SampleRate: fs, MinDC: 20000, FullScale: 1<<18 - 1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkFlags fails when an estimate breaks the rules every value obeys:
// always uncalibrated, and a withheld value has a reason.
func checkFlags(t *testing.T, name string, es []Estimate) {
	t.Helper()
	for _, e := range es {
		if !e.SpO2Flags.Has(vitals.Uncalibrated) || !e.PulseFlags.Has(vitals.Uncalibrated) {
			t.Fatalf("%s at %v: not flagged uncalibrated: %+v", name, e.At, e)
		}
		reasons := vitals.ProbeOff | vitals.Searching | vitals.Artifact | vitals.LowPerfusion
		if e.SpO2 == vitals.NoValue && !e.SpO2Flags.Has(reasons) {
			t.Fatalf("%s at %v: SpO2 withheld without a reason: %+v", name, e.At, e)
		}
		if e.Pulse == vitals.NoValue && !e.PulseFlags.Has(reasons) {
			t.Fatalf("%s at %v: pulse withheld without a reason: %+v", name, e.At, e)
		}
		if e.SpO2 != vitals.NoValue && (e.SpO2 < minSpO2 || e.SpO2 > 100) {
			t.Fatalf("%s at %v: SpO2 %d", name, e.At, e.SpO2)
		}
	}
}

// Tolerances: SpO2 ±2 points of the value the chosen R gives, pulse ±2/min
// (±3 % above 100/min), once MinWindow of signal has passed.
func TestRecoversKnownSpO2AndRate(t *testing.T) {
	for _, fs := range rates {
		for _, c := range []struct{ spo2, bpm, pi float64 }{
			{98, 60, 1.5}, {94, 75, 0.8}, {88, 110, 2}, {80, 48, 1}, {72, 150, 1.2}, {97, 200, 3},
		} {
			name := fmt.Sprintf("%vHz/%v%%/%v", fs, c.spo2, c.bpm)
			s := synth{fs: fs, spo2: c.spo2, rate: constRate(c.bpm), perfusion: c.pi, noise: 0.0002, wander: 0.003, seed: uint64(fs + c.bpm)}
			red, ir := s.gen(30)
			es := run(newEst(t, fs), red, ir)
			checkFlags(t, name, es)
			if len(es) != 30 {
				t.Fatalf("%s: %d estimates in 30 s, want 30", name, len(es))
			}
			for _, e := range es {
				if e.At <= 6*time.Second {
					continue
				}
				if e.SpO2 == vitals.NoValue || e.Pulse == vitals.NoValue {
					t.Fatalf("%s at %v: withheld a clean signal: %+v", name, e.At, e)
				}
				if d := math.Abs(float64(e.SpO2) - c.spo2); d > 2 {
					t.Errorf("%s at %v: SpO2 %d, want %v±2 (R %.3f, want %.3f)", name, e.At, e.SpO2, c.spo2, e.R, ratioFor(c.spo2))
				}
				if d := math.Abs(float64(e.Pulse) - c.bpm); d > max(2, 0.03*c.bpm) {
					t.Errorf("%s at %v: pulse %d, want %v", name, e.At, e.Pulse, c.bpm)
				}
			}
		}
	}
}

func TestFirstValueWaitsForMinWindow(t *testing.T) {
	s := synth{fs: 100, spo2: 96, rate: constRate(70), perfusion: 1, noise: 0.0002, seed: 1}
	red, ir := s.gen(10)
	es := run(newEst(t, 100), red, ir)
	for _, e := range es[:4] {
		if e.SpO2 != vitals.NoValue || !e.SpO2Flags.Has(vitals.Searching) {
			t.Fatalf("at %v before 5 s of signal: %+v", e.At, e)
		}
	}
	if es[4].SpO2 == vitals.NoValue {
		t.Fatalf("no value at 5 s: %+v", es[4])
	}
}

func TestFollowsRateChange(t *testing.T) {
	for _, fs := range []float64{25, 100, 400} {
		// 60/min for 20 s, up to 120/min over 20 s, then 120/min.
		rate := func(t float64) float64 { return 60 + 60*min(max(t-20, 0)/20, 1) }
		s := synth{fs: fs, spo2: 95, rate: rate, perfusion: 1.5, noise: 0.0002, seed: 3}
		red, ir := s.gen(60)
		es := run(newEst(t, fs), red, ir)
		checkFlags(t, "rate change", es)
		for _, e := range es {
			sec := e.At.Seconds()
			// During the ramp the window holds rates up to 8 s old.
			want := rate(sec - 4)
			if e.Pulse == vitals.NoValue {
				if sec > 6 {
					t.Errorf("%vHz at %v: pulse withheld: %+v", fs, e.At, e)
				}
				continue
			}
			if math.Abs(float64(e.Pulse)-want) > 6 {
				t.Errorf("%vHz at %v: pulse %d, want about %.0f", fs, e.At, e.Pulse, want)
			}
		}
	}
}

// Motion: bursts of large movement that reach both channels. Inside them
// values must be withheld as artifact or still right; never a wrong number.
func TestMotionIsWithheldNotWrong(t *testing.T) {
	inBursts := func(t float64) bool { return (t > 15 && t < 20) || (t > 35 && t < 38) }
	jerks := make([]float64, 200) // a new offset every 0.3 s
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range jerks {
		jerks[i] = 0.02 * (rng.Float64() - 0.5)
	}
	motions := map[string]func(float64) float64{
		"waving": func(t float64) float64 {
			if inBursts(t) {
				return 0.03 * math.Sin(2*math.Pi*1.7*t) * math.Sin(2*math.Pi*0.6*t+1)
			}
			return 0
		},
		"jerks": func(t float64) float64 {
			if inBursts(t) {
				return jerks[int(t/0.3)]
			}
			return 0
		},
		"tapping near the pulse rate": func(t float64) float64 {
			if inBursts(t) {
				return 0.015 * math.Max(0, math.Sin(2*math.Pi*1.45*t))
			}
			return 0
		},
	}
	for name, motion := range motions {
		for _, fs := range []float64{25, 100, 400} {
			s := synth{fs: fs, spo2: 93, rate: constRate(72), perfusion: 1, noise: 0.0002, wander: 0.003, motion: motion, seed: 5}
			red, ir := s.gen(60)
			es := run(newEst(t, fs), red, ir)
			checkFlags(t, "motion", es)
			withheld := 0
			for _, e := range es {
				if e.SpO2 == vitals.NoValue {
					withheld++
					if e.At > 6*time.Second && !e.SpO2Flags.Has(vitals.Artifact|vitals.Searching) {
						t.Errorf("%s %vHz at %v: withheld without artifact: %+v", name, fs, e.At, e)
					}
				} else if math.Abs(float64(e.SpO2)-93) > 3 {
					t.Errorf("%s %vHz at %v: SpO2 %d during motion, want withheld or 93±3", name, fs, e.At, e.SpO2)
				}
				if e.Pulse != vitals.NoValue && math.Abs(float64(e.Pulse)-72) > 4 {
					t.Errorf("%s %vHz at %v: pulse %d during motion, want withheld or 72±4", name, fs, e.At, e.Pulse)
				}
			}
			if withheld <= 5 {
				t.Errorf("%s %vHz: only %d estimates withheld around 8 s of motion", name, fs, withheld)
			}
			last := es[len(es)-1]
			if last.SpO2 == vitals.NoValue || last.Pulse == vitals.NoValue {
				t.Errorf("%s %vHz: no recovery 22 s after the motion: %+v", name, fs, last)
			}
		}
	}
}

func TestPoorSignalIsNeverANumber(t *testing.T) {
	cases := []struct {
		name string
		s    synth
		dc   float64 // scales both channels (probe off)
		want vitals.Flag
	}{
		{"low perfusion", synth{spo2: 95, rate: constRate(70), perfusion: 0.05, noise: 0.00002}, 1, vitals.LowPerfusion},
		{"noise only", synth{spo2: 95, rate: constRate(70), perfusion: 0, noise: 0.002}, 1, vitals.Artifact | vitals.Searching | vitals.LowPerfusion},
		{"flat", synth{spo2: 95, rate: constRate(70)}, 1, vitals.LowPerfusion},
		{"probe off", synth{spo2: 95, rate: constRate(70), perfusion: 1, noise: 0.0002}, 0.05, vitals.ProbeOff},
		{"noise drowns the pulse", synth{spo2: 95, rate: constRate(70), perfusion: 0.5, noise: 0.01}, 1, vitals.Artifact | vitals.Searching},
	}
	for _, fs := range rates {
		for _, c := range cases {
			c.s.fs, c.s.seed = fs, uint64(fs)
			red, ir := c.s.gen(30)
			for i := range red {
				red[i] *= c.dc
				ir[i] *= c.dc
			}
			es := run(newEst(t, fs), red, ir)
			checkFlags(t, c.name, es)
			for _, e := range es {
				if e.SpO2 != vitals.NoValue || e.Pulse != vitals.NoValue {
					t.Fatalf("%vHz %s at %v: gave a number: %+v", fs, c.name, e.At, e)
				}
				if e.At > 5*time.Second && !e.SpO2Flags.Has(c.want) {
					t.Fatalf("%vHz %s at %v: flags %v, want %v", fs, c.name, e.At, e.SpO2Flags, c.want)
				}
			}
		}
	}
}

func TestClippedAndBadInputWithheld(t *testing.T) {
	s := synth{fs: 100, spo2: 95, rate: constRate(70), perfusion: 1, noise: 0.0002, seed: 9}
	red, ir := s.gen(30)
	clip := append([]float64(nil), ir...)
	for i := range clip {
		clip[i] = min(clip[i], 119500) // the pulse's top is cut off
	}
	e, _ := New(Config{SampleRate: 100, FullScale: 119500})
	for _, est := range run(e, red, clip) {
		if est.SpO2 != vitals.NoValue || (est.At > 5*time.Second && !est.SpO2Flags.Has(vitals.Artifact)) {
			t.Fatalf("clipped at %v: %+v", est.At, est)
		}
	}
	bad := append([]float64(nil), ir...)
	bad[1500] = math.NaN()
	es := run(newEst(t, 100), red, bad)
	checkFlags(t, "NaN", es)
	for _, est := range es {
		sec := est.At.Seconds()
		inWindow := sec > 15.005 && sec <= 23 // sample 1500 is in the estimates from 15.01 s to 23 s
		if inWindow && (est.SpO2 != vitals.NoValue || !est.SpO2Flags.Has(vitals.Artifact)) {
			t.Fatalf("NaN at 15 s, estimate at %v: %+v", est.At, est)
		}
		if sec > 24 && est.SpO2 == vitals.NoValue {
			t.Fatalf("no recovery after the NaN left the window: %+v", est)
		}
	}
}

func TestLongLossRestarts(t *testing.T) {
	s := synth{fs: 100, spo2: 95, rate: constRate(70), perfusion: 1, noise: 0.0002, seed: 11}
	red, ir := s.gen(40)
	e := newEst(t, 100)
	run(e, red[:2000], ir[:2000])
	e.Lost(150) // 1.5 s lost
	es := run(e, red[2000:], ir[2000:])
	if es[0].At != 22*time.Second {
		t.Fatalf("first estimate after the gap at %v, want 22s (time goes on by the lost samples)", es[0].At)
	}
	for _, est := range es {
		since := est.At.Seconds() - 21.5
		if since < 5 && (est.SpO2 != vitals.NoValue || !est.SpO2Flags.Has(vitals.Searching)) {
			t.Fatalf("%.1f s after the gap: %+v", since, est)
		}
		if since >= 5 && est.SpO2 == vitals.NoValue {
			t.Fatalf("%.1f s after the gap: still withheld: %+v", since, est)
		}
	}
}

func TestConfigRejected(t *testing.T) {
	for _, c := range []Config{
		{SampleRate: 10}, {SampleRate: 500}, {SampleRate: math.NaN()},
		{SampleRate: 100, Window: time.Second},
		{SampleRate: 100, Window: 4 * time.Second, MinWindow: 5 * time.Second},
		{SampleRate: 100, Update: time.Millisecond},
		{SampleRate: 100, MinDC: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestReadings(t *testing.T) {
	e := Estimate{SpO2: 95, Pulse: 70, SpO2Flags: vitals.Uncalibrated, PulseFlags: vitals.Uncalibrated | vitals.MarginalPerfusion}
	r := e.Readings(2)
	if r[0].Param != vitals.SpO2 || r[0].Value != 95 || r[1].Param != vitals.Pulse || r[1].Value != 70 || r[1].Flags != e.PulseFlags || r[0].Sensor != 2 {
		t.Errorf("%+v", r)
	}
}

// A gap of any length, however large, returns at once and keeps the time
// on the grid.
func TestHugeLoss(t *testing.T) {
	e := newEst(t, 25)
	e.Lost(1 << 30)
	s := synth{fs: 25, spo2: 95, rate: constRate(70), perfusion: 1, noise: 0.0002, seed: 2}
	red, ir := s.gen(2)
	es := run(e, red, ir)
	// Estimates stay on the whole-second grid from the first sample:
	// 2^30 samples is 42949672.96 s, so they come at ...673 s and ...674 s.
	want := 42949674 * time.Second
	if len(es) != 2 || es[1].At != want {
		t.Fatalf("%d estimates, last at %v, want %v", len(es), es[len(es)-1].At, want)
	}
	e.Lost(math.MaxInt)
	if est, _ := e.Push(1, 1); est.At < 0 {
		t.Fatalf("time went negative: %v", est.At)
	}
}

// A few samples lost mid-stream (a reader a little late) are bridged: the
// values go on, right, and time moves on by the lost samples.
func TestShortLossBridged(t *testing.T) {
	for _, fs := range []float64{25, 100, 400} {
		s := synth{fs: fs, spo2: 92, rate: constRate(80), perfusion: 1, noise: 0.0002, seed: 12}
		red, ir := s.gen(40)
		e := newEst(t, fs)
		var es []Estimate
		lost := int(fs / 20) // 50 ms
		step := int(fs * 1.3)
		for i := 0; i < len(red); i++ {
			if i > 0 && i%step == 0 {
				e.Lost(lost)
				i += lost - 1 // those samples never arrive
				continue
			}
			if est, ok := e.Push(red[i], ir[i]); ok {
				es = append(es, est)
			}
		}
		checkFlags(t, "bridged", es)
		for k, est := range es {
			if est.At > 6*time.Second && (est.SpO2 == vitals.NoValue || math.Abs(float64(est.SpO2)-92) > 2 || math.Abs(float64(est.Pulse)-80) > 3) {
				t.Errorf("%vHz at %v: %+v", fs, est.At, est)
			}
			if k > 0 && est.At-es[k-1].At > time.Second+time.Second/10 {
				t.Errorf("%vHz: estimates at %v and %v: one skipped", fs, es[k-1].At, est.At)
			}
		}
		if last := es[len(es)-1].At; last < 39*time.Second {
			t.Errorf("%vHz: last estimate at %v: time did not go on through the losses", fs, last)
		}
	}
}
