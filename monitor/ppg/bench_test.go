package ppg

import (
	"fmt"
	"testing"
)

// BenchmarkEstimator reports the CPU for one second of signal (per op) at
// several rates: the analysis runs once a second over the 8 s window.
func BenchmarkEstimator(b *testing.B) {
	for _, fs := range []float64{25, 100, 400} {
		b.Run(fmt.Sprintf("%vHz", fs), func(b *testing.B) {
			s := synth{fs: fs, spo2: 95, rate: constRate(70), perfusion: 1, noise: 0.0002, seed: 1}
			red, ir := s.gen(60)
			e := newEst(b, fs)
			per := int(fs)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				o := (i * per) % (len(red) - per)
				for j := o; j < o+per; j++ {
					e.Push(red[j], ir[j])
				}
			}
		})
	}
}
