package ppg_test

import (
	"fmt"
	"math"

	"github.com/chairside/chairside/monitor/ppg"
)

// Samples in, an estimate out every second: withheld (searching) until 5 s
// of signal are in, then SpO2 and pulse, always flagged uncalibrated.
func ExampleEstimator() {
	const rate = 100.0
	est, err := ppg.New(ppg.Config{SampleRate: rate, MinDC: 50000, FullScale: 1<<18 - 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := (ppg.DefaultCalibration.A - 95) / -ppg.DefaultCalibration.B // the ratio the curve maps to 95 %
	for i := range int(7 * rate) {
		ph := 72.0 / 60 * float64(i) / rate // 72 beats a minute
		p := math.Pow(math.Sin(math.Pi*(ph-math.Floor(ph))), 3)
		ir := 120000 * (1 - 0.01*p)
		red := 90000 * (1 - 0.01*r*p)
		if e, ok := est.Push(red, ir); ok {
			fmt.Println(e.At, e.SpO2, e.Pulse, e.SpO2Flags)
		}
	}
	// Output:
	// 1s -1 -1 searching|uncalibrated
	// 2s -1 -1 searching|uncalibrated
	// 3s -1 -1 searching|uncalibrated
	// 4s -1 -1 searching|uncalibrated
	// 5s 95 72 uncalibrated
	// 6s 95 72 uncalibrated
	// 7s 95 72 uncalibrated
}
