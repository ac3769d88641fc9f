package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chairside/chairside/drivers/cms50"
	"github.com/chairside/chairside/monitor/vitals"
)

const cms50Scenario = `name = "cms50"
[start]
spo2 = 96
pulse = 66
bp = { systolic = 120, diastolic = 80 }
[[at]]
t = "20s"
garbage = { device = "cms50", bytes = 500 }
[[at]]
t = "30s"
unplug = "cms50"
[[at]]
t = "45s"
replug = "cms50"
[[at]]
t = "1m"
probe = "off"
`

// The CMS50 model in both protocols, read by the real driver: values, a
// garbage burst counted as garbled and giving no false value,
// an unplug after which the driver opens the new port and reads again, and
// the finger coming out.
func TestHILCMS50(t *testing.T) {
	for _, proto := range []cms50.Protocol{cms50.Live9, cms50.Legacy} {
		t.Run(proto.String(), func(t *testing.T) {
			dir := t.TempDir()
			link := filepath.Join(dir, "cms50")
			r := startRun(t, "-scenario", writeScenario(t, dir, cms50Scenario), "-cms50", "pty:"+link,
				"-cms50-protocol", proto.String(), "-speed", "60")
			waitFor(t, "the link", func() bool { return linkExists(link) })
			s := newSink()
			log := &syncBuffer{}
			dev, err := cms50.New(link, &cms50.Opts{Protocol: proto, Sensor: 2, Logger: slog.New(slog.NewTextHandler(log, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- dev.Run(ctx, s) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("driver: %v", err)
				}
			}()
			waitFor(t, "the finger to come out", func() bool {
				rs, _ := s.since(0, vitals.SpO2)
				return len(rs) > 0 && rs[len(rs)-1].Flags.Has(vitals.ProbeOff)
			})
			for _, p := range []vitals.Param{vitals.SpO2, vitals.Pulse} {
				rs, _ := s.since(0, p)
				want := map[vitals.Param]int16{vitals.SpO2: 96, vitals.Pulse: 66}[p]
				good := 0
				for _, r := range rs {
					switch {
					case r.Sensor != 2:
						t.Fatalf("sensor %d", r.Sensor)
					case r.Value == want && r.Flags == 0:
						good++
					case r.Value == vitals.NoValue && r.Flags == vitals.ProbeOff:
					default:
						// Legacy has no checksum, but only a run of six
						// packets back to back gives readings: the burst
						// gives none.
						t.Fatalf("%v reading %+v is neither the scenario's value nor probe off", p, r)
					}
				}
				// Legacy readings start only at the sixth packet of a run
				// (after the open, the burst and the replug).
				if least := map[cms50.Protocol]int{cms50.Live9: 30, cms50.Legacy: 20}[proto]; good < least {
					t.Errorf("%d good %v readings", good, p)
				}
			}
			waitFor(t, "the garbled count", func() bool { return s.lastStatus().Garbled > 0 })
			// The finger came out after the replug, so the driver read the
			// new port.
			if countLog(r.stderr.String(), `"msg":"line plugged in"`, `"device":"cms50"`) != 2 {
				t.Errorf("vitalsim did not replug the CMS50:\n%s", r.stderr.String())
			}
			if n := strings.Count(log.String(), "serial port opened"); n != 2 {
				t.Errorf("the driver opened its port %d times, want 2:\n%s", n, log.String())
			}
		})
	}
}
