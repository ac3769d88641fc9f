package hl7

import (
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// BenchmarkHourOfMessages: an hour of one chair (3 600 SpO2 and 3 600 pulse
// records, 12 NIBPs) into its 72 messages and their bytes.
func BenchmarkHourOfMessages(b *testing.B) {
	var vitals []wire.Vital
	for i := range 3600 {
		at := time.Duration(i) * time.Second
		vitals = append(vitals, vital("spo2", uint64(2*i+1), at, wire.N(float64(95+i%4))),
			vital("pulse", uint64(2*i+2), at, wire.N(float64(60+i%20))))
	}
	var nibps []wire.NIBP
	for i := range 12 {
		n := nibp(uint64(10000+i), wire.N(120), wire.N(80), wire.N(90), wire.N(70), "")
		n.T = wire.At(t0.Add(time.Duration(i) * 5 * time.Minute))
		nibps = append(nibps, n)
	}
	b.ReportAllocs()
	for b.Loop() {
		msgs, err := SessionMessages(testConfig, "chair-07", "", vitals, nibps)
		if err != nil || len(msgs) != 72 {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
		for _, m := range msgs {
			_ = m.Bytes()
		}
	}
}
