package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/monitor/vitals"
)

// Formats 7 and 8 (format 2 is in TestHILNoninAndSunTech), read by the
// driver set to the same format.
func TestHILNoninFormats(t *testing.T) {
	for _, f := range []nonin.Format{nonin.DF7, nonin.DF8} {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			link := filepath.Join(dir, "nonin")
			startRun(t, "-scenario", writeScenario(t, dir, goodScenario), "-nonin", "pty:"+link,
				"-nonin-format", fmt.Sprint(int(f)))
			waitFor(t, "the link", func() bool { return linkExists(link) })
			s := newSink()
			dev, err := nonin.New(&nonin.Opts{Port: link, Format: f}, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- dev.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("driver: %v", err)
				}
			}()
			waitFor(t, "two SpO2 readings", func() bool {
				rs, _ := s.since(0, vitals.SpO2)
				return len(rs) >= 2
			})
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
