package max30102

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/ppg"
	"github.com/chairside/chairside/monitor/vitals"
)

// The whole chain without a real bus: a pulse played into the model at the
// part's rate, polled by the driver at irregular moments (sometimes too
// late, so the FIFO overflows, and once 600 ms late), fed to the estimator with lost samples and
// restarts declared as gaps; the board is unplugged for 3 s in the middle.
// Every sample pushed is read once or counted lost, and the estimator gives
// the pulse's SpO2 and rate before and after the unplug, and no number
// while it cannot.
func TestChainModelDriverEstimator(t *testing.T) {
	m := NewModel()
	dev, err := New(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	rate := m.OutputRate()
	est, err := ppg.New(ppg.Config{SampleRate: rate, MinDC: float64(DefaultOpts.FingerIR), FullScale: FullScale})
	if err != nil {
		t.Fatal(err)
	}
	const spo2, bpm = 94.0, 66.0
	r := (ppg.DefaultCalibration.A - spo2) / -ppg.DefaultCalibration.B
	rng := rand.New(rand.NewPCG(4, 4))
	buf := make([]Sample, FIFODepth)
	var pushed, read, lost, restarts, discarded int
	stalled := false
	var ests []ppg.Estimate
	unplugFrom, unplugTo := 30*time.Second, 33*time.Second
	poll := 0 // samples until the next poll
	for i := range int(60 * rate) {
		now := time.Duration(float64(i) / rate * float64(time.Second))
		switch {
		case now == unplugFrom:
			discarded = m.Available() // gone with the power
			m.Unplug()
		case now == unplugTo:
			m.Replug()
		}
		ph := bpm / 60 * float64(i) / rate
		p := math.Pow(math.Sin(math.Pi*(ph-math.Floor(ph))), 3)
		if m.Push(uint32(90000*(1-0.01*r*p)), uint32(120000*(1-0.01*p))) {
			pushed++
		}
		if poll--; poll > 0 {
			continue
		}
		poll = 5 + rng.IntN(30) // 50-340 ms; over 320 ms the FIFO overflows
		if now >= 45*time.Second && !stalled {
			poll, stalled = 60, true // a stall: about 28 samples lost, too many to bridge
		}
		b, err := dev.Read(buf)
		if err != nil {
			continue // unplugged: the next Read tries again
		}
		if b.Restarted {
			restarts++
			est.Restart() // the stretch before and after do not join
		}
		if b.Lost > 0 {
			lost += b.Lost
			est.Lost(b.Lost)
		}
		read += b.N
		for _, s := range buf[:b.N] {
			if e, ok := est.Push(float64(s.Red), float64(s.IR)); ok {
				ests = append(ests, e)
			}
		}
	}
	if c := m.Counts(); read+m.Available()+discarded != pushed || c.EmptyReads != 0 || c.PartialReads != 0 {
		t.Errorf("pushed %d, read %d, left %d, discarded at the unplug %d; model %+v", pushed, read, m.Available(), discarded, c)
	}
	if m.Counts().Dropped != lost {
		t.Errorf("the model dropped %d, the driver reported %d lost", m.Counts().Dropped, lost)
	}
	if lost < 28 || restarts != 1 {
		t.Errorf("lost %d, restarts %d: the test did not exercise overflow and unplug", lost, restarts)
	}
	good := 0
	for _, e := range ests {
		if e.SpO2 == vitals.NoValue {
			continue
		}
		good++
		if math.Abs(float64(e.SpO2)-spo2) > 2 || math.Abs(float64(e.Pulse)-bpm) > 3 {
			t.Errorf("at %v: SpO2 %d pulse %d, want %v and %v", e.At, e.SpO2, e.Pulse, spo2, bpm)
		}
	}
	if good < 30 {
		t.Errorf("only %d values in 60 s", good)
	}
}
