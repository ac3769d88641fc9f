package monitor

import (
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// BenchmarkReading measures the per-sample path in a running session: one
// oximeter value judged against every limit. Target: ≥ 1,000,000 samples/s
// on one core and no allocation.
func BenchmarkReading(b *testing.B) {
	r := sessionRig(b)
	r.run(time.Minute)
	e := r.e
	now := r.now
	step := time.Second / 150 // 75 frames/s, SpO2 and pulse each
	values := [...]int16{97, 96, 95, 96}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(step)
		p := vitals.Param(i & 1)
		v := values[(i>>1)&3]
		if p == vitals.Pulse {
			v += -25
		}
		e.Reading(now, vitals.Reading{Sensor: oxi, Param: p, Value: v})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkReadingInAlarm is the same path with a limit crossed and its
// alarm present: still nothing to publish per sample.
func BenchmarkReadingInAlarm(b *testing.B) {
	r := sessionRig(b)
	r.spo2 = 86
	r.run(time.Minute)
	e := r.e
	now := r.now
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Second / 150)
		e.Reading(now, vitals.Reading{Sensor: oxi, Param: vitals.SpO2, Value: 86 - int16(i&1)})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkStream is a whole second of a full-rate stream: 150 readings,
// frame counts, 10 ticks and the 1 Hz vitals they publish.
func BenchmarkStream(b *testing.B) {
	r := sessionRig(b)
	r.run(time.Minute)
	e := r.e
	now := r.now
	var frames uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := 0; k < 150; k++ {
			now = now.Add(time.Second / 150)
			e.Reading(now, vitals.Reading{Sensor: oxi, Param: vitals.Param(k & 1), Value: 97 - int16(k&1)*25})
			if k%15 == 0 {
				e.Tick(now)
			}
		}
		frames += 75
		e.Status(now, vitals.Status{Sensor: oxi, Frames: frames})
		e.Status(now, vitals.Status{Sensor: cuff, Frames: frames, Valid: frames})
	}
	b.ReportMetric(float64(b.N*150)/b.Elapsed().Seconds(), "samples/s")
}
