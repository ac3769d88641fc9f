package fhir

import (
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// BenchmarkExportHour: a one-hour session (7 200 vitals, 12 NIBPs) to JSON.
func BenchmarkExportHour(b *testing.B) {
	s := smallSession()
	s.Vitals, s.NIBP = nil, nil
	for i := range 3600 {
		at := time.Duration(i) * time.Second
		s.Vitals = append(s.Vitals, vital("spo2", uint64(2*i+1), at, wire.N(97)), vital("pulse", uint64(2*i+2), at, wire.N(70)))
	}
	for i := range 12 {
		s.NIBP = append(s.NIBP, nibp(uint64(10000+i), time.Duration(i)*5*time.Minute, wire.N(120), wire.N(80), wire.N(90), wire.N(70), ""))
	}
	for name, o := range map[string]Options{"records": {}, "minutes": {Minutes: true}} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				bundle, err := Export(s, o)
				if err != nil {
					b.Fatal(err)
				}
				out, err := bundle.JSON()
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes/bundle")
		})
	}
}
