package max30102

import (
	"context"
	"math"
	"time"

	"github.com/chairside/chairside/monitor/ppg"
)

// Finger is a made-up finger on the sensor, for tests and the simulator: a
// pulse whose red/infrared ratio of ratios gives SpO2 on ppg's default
// curve, at a steady rate. It is light, not a patient: what it shows is only
// as true as that curve.
type Finger struct {
	SpO2  float64 // percent
	Pulse float64 // beats per minute
	// Perfusion is the infrared pulsatile fraction in percent; 0 means 2.
	Perfusion float64
	// Off: no finger, only a little ambient light reaches the photodiode.
	Off bool
}

// Light levels of a finger on the default LEDs (18-bit counts) and of none.
const (
	fingerRed, fingerIR   = 90000.0, 120000.0
	ambientRed, ambientIR = 1500, 2500
)

// Light is the red and infrared light at time t from the first sample.
func (f Finger) Light(t time.Duration) (red, ir uint32) {
	if f.Off {
		return ambientRed, ambientIR
	}
	perf := f.Perfusion
	if perf == 0 {
		perf = 2
	}
	c := ppg.DefaultCalibration
	r := (c.A - f.SpO2) / -c.B // the ratio the curve maps to SpO2 (C is 0)
	acIR := perf / 100 / 1.1   // the shape peaks near 1.1
	ph := f.Pulse / 60 * t.Seconds()
	p := pulseShape(ph - math.Floor(ph))
	return uint32(math.Round(fingerRed * (1 - r*acIR*p))), uint32(math.Round(fingerIR * (1 - acIR*p)))
}

// pulseShape is one beat: a systolic wave and a smaller diastolic one.
func pulseShape(ph float64) float64 {
	g := func(c, w float64) float64 { d := (ph - c) / w; return math.Exp(-d * d) }
	return g(0.18, 0.08) + 0.45*g(0.45, 0.1)
}

// Play pushes light(t) into m at the rate the part is configured for, times
// speed (1: real time), until ctx ends. Time runs on while the part is not
// measuring (unplugged, not yet configured): those samples are not taken,
// as on a real part. light is called from Play's goroutine only.
func Play(ctx context.Context, m *Model, speed float64, light func(t time.Duration) (red, ir uint32)) {
	const tick = 5 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	var at time.Duration // signal time of the next sample
	due := 0.0           // samples owed
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rate := m.OutputRate()
			due += now.Sub(last).Seconds() * speed * rate
			last = now
			step := time.Duration(float64(time.Second) / rate)
			for ; due >= 1; due-- {
				m.Push(light(at))
				at += step
			}
		}
	}
}

// Close does nothing: it makes the model an i2c.BusCloser, as i2creg.Open
// gives.
func (m *Model) Close() error { return nil }
