package max30102

import (
	"testing"

	"github.com/chairside/chairside/monitor/ppg"
	"github.com/chairside/chairside/monitor/vitals"
)

// FuzzSensorStream feeds the Sensor's stream any batches a part on a noisy
// bus could give (any light, losses, restarts, empty reads) and checks what
// reaches the engine: every value flagged uncalibrated, SpO2 shown only in
// 50..100 and pulse in 25..250, a probe_off reading never with a value, and
// counts that add up.
func FuzzSensorStream(f *testing.F) {
	f.Add([]byte{0x00, 0x10, 0x01, 0x80, 0x00, 0x01, 0xD4, 0xC0})
	f.Add([]byte{0x41, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewSensor("1", nil)
		if err != nil {
			t.Fatal(err)
		}
		est, err := ppg.New(s.est)
		if err != nil {
			t.Fatal(err)
		}
		k := &sink{}
		st := &stream{s: s, sink: k, est: est}
		var samples, lost uint64
		buf := make([]Sample, FIFODepth)
		// Each batch: a header byte (bit 7 restarted, bit 6 lost, low 5
		// bits the count), a lost count if bit 6, then 3 bytes a sample
		// (red and IR from them, scaled to 18 bits), repeated many times so
		// the estimator gets windows to judge.
		for rep := 0; rep < 40 && len(data) > 0; rep++ {
			d := data
			for len(d) > 0 {
				h := d[0]
				d = d[1:]
				var b Batch
				b.Restarted = h&0x80 != 0
				if h&0x40 != 0 && len(d) > 0 {
					b.Lost = int(d[0] & 0x1F)
					d = d[1:]
				}
				n := int(h & 0x1F)
				for i := 0; i < n && len(d) >= 3; i++ {
					buf[i] = Sample{Red: (uint32(d[0])<<10 | uint32(d[1])<<2) & FullScale, IR: (uint32(d[1])<<10 | uint32(d[2])<<2) & FullScale}
					d = d[3:]
					b.N++
				}
				samples += uint64(b.N)
				lost += uint64(b.Lost)
				st.batch(b, buf[:b.N])
			}
		}
		st.status()
		if got := k.lastStatus(); got.Frames != samples || got.Garbled != lost || got.Valid != 0 {
			t.Fatalf("status %+v, want %d frames, %d garbled", got, samples, lost)
		}
		for _, r := range k.since(0) {
			if !r.Flags.Has(vitals.Uncalibrated) {
				t.Fatalf("%+v without uncalibrated", r)
			}
			if r.Value == vitals.NoValue {
				continue
			}
			if r.Flags.Has(vitals.ProbeOff) {
				t.Fatalf("%+v: a value with probe_off", r)
			}
			if r.Param == vitals.SpO2 && (r.Value < 50 || r.Value > 100) || r.Param == vitals.Pulse && (r.Value < 25 || r.Value > 250) {
				t.Fatalf("%+v out of range", r)
			}
		}
	})
}
