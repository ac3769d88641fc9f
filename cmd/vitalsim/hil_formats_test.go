package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/monitor/vitals"
)

// unplugScenario pulls the oximeter's cable 20 s in and puts it back 30 s
// later (half a second at -speed 60).
const unplugScenario = goodScenario + `
[[at]]
t = "20s"
unplug = "nonin"

[[at]]
t = "50s"
replug = "nonin"
`

// Formats 7 and 8 (format 2 is in TestHILNoninAndSunTech), read by the
// driver set to the same format, across an unplug: the driver opens the new
// port and reads again.
func TestHILNoninFormats(t *testing.T) {
	for _, f := range []nonin.Format{nonin.DF7, nonin.DF8} {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			link := filepath.Join(dir, "nonin")
			r := startRun(t, "-scenario", writeScenario(t, dir, unplugScenario), "-nonin", "pty:"+link,
				"-nonin-format", fmt.Sprint(int(f)), "-speed", "60")
			waitFor(t, "the link", func() bool { return linkExists(link) })
			s := newSink()
			log := &syncBuffer{}
			dev, err := nonin.New(link, &nonin.Opts{Format: f, Logger: slog.New(slog.NewTextHandler(log, nil))})
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
			waitFor(t, "the replug", func() bool {
				return countLog(r.stderr.String(), `"msg":"line plugged in"`, `"device":"nonin"`) == 2
			})
			_, before := s.since(0, vitals.SpO2)
			waitFor(t, "two SpO2 readings after the replug", func() bool {
				after, _ := s.since(before, vitals.SpO2)
				return len(after) >= 2
			})
			if n := strings.Count(log.String(), "serial port opened"); n != 2 {
				t.Errorf("the driver opened its port %d times, want 2:\n%s", n, log.String())
			}
			for _, p := range []vitals.Param{vitals.SpO2, vitals.Pulse} {
				rs, _ := s.since(0, p)
				want := map[vitals.Param]int16{vitals.SpO2: 97, vitals.Pulse: 70}[p]
				for _, r := range rs {
					if r.Value != want || r.Flags != 0 {
						t.Errorf("%v reading %+v, want %d", p, r, want)
					}
				}
			}
		})
	}
}
