package ppg

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// FuzzEstimator feeds arbitrary samples (any float64, NaN and infinities
// included, with gaps) at a rate chosen by the input: no panic, and every
// estimate is either withheld with a reason or a plausible number; no NaN.
func FuzzEstimator(f *testing.F) {
	s := synth{fs: 50, spo2: 95, rate: constRate(70), perfusion: 1, noise: 0.0002, seed: 1}
	red, ir := s.gen(12)
	seed := []byte{25}
	for i := range red {
		seed = binary.LittleEndian.AppendUint32(seed, uint32(red[i]))
		seed = binary.LittleEndian.AppendUint32(seed, uint32(ir[i]))
	}
	f.Add(seed)
	f.Add([]byte{0})
	f.Add([]byte{255, 0, 0, 0xF8, 0x7F, 0, 0, 0xF0, 0x7F})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fs := MinSampleRate + float64(data[0])*float64(MaxSampleRate-MinSampleRate)/255
		e, err := New(Config{SampleRate: fs, MinDC: 1000})
		if err != nil {
			t.Fatal(err)
		}
		data = data[1:]
		check := func(est Estimate) {
			if math.IsNaN(est.R) || math.IsNaN(est.Perfusion) || math.IsNaN(est.Quality) {
				t.Fatalf("NaN in %+v", est)
			}
			if !est.SpO2Flags.Has(vitals.Uncalibrated) || !est.PulseFlags.Has(vitals.Uncalibrated) {
				t.Fatalf("not uncalibrated: %+v", est)
			}
			if est.SpO2 != vitals.NoValue && (est.SpO2 < minSpO2 || est.SpO2 > 100) {
				t.Fatalf("SpO2 %d", est.SpO2)
			}
			if est.Pulse != vitals.NoValue && (est.Pulse < minPulse || est.Pulse > maxPulse) {
				t.Fatalf("pulse %d", est.Pulse)
			}
		}
		// Each 8 bytes is a sample: two float32 bit patterns, or, when the
		// first byte is 0xEE, p[1] lost samples, 0xEF a restart; the data repeats
		// to fill 12 s.
		need := int(12 * fs)
		for i := 0; i < need && len(data) >= 8; i++ {
			p := data[(i*8)%(len(data)/8*8):]
			switch p[0] {
			case 0xEE:
				e.Lost(int(p[1]))
				continue
			case 0xEF:
				e.Restart()
				continue
			}
			r := float64(math.Float32frombits(binary.LittleEndian.Uint32(p)))
			x := float64(math.Float32frombits(binary.LittleEndian.Uint32(p[4:])))
			if p[0] == 0 && p[1] == 0 { // integers, as a sensor gives
				r = float64(binary.LittleEndian.Uint32(p))
				x = float64(binary.LittleEndian.Uint32(p[4:]))
			}
			if est, ok := e.Push(r, x); ok {
				check(est)
			}
		}
	})
}
