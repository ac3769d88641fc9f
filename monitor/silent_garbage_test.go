package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// TestSensorSilentUnderGarbage: a line that carries only random bytes at a
// real line's rate (a wrong baud rate, a broken sensor, a relay that mangles
// every packet) gives frame counts, mostly garbled but with a chance-valid
// frame now and then, and no reading. That is a silent sensor: sensor_silent
// starts after stale_after as if the line were dead, and a chance frame does
// not end it; sensor_garbled starts as well. A Status whose Valid grows (the
// NIBP module's validated answers) is data.
func TestSensorSilentUnderGarbage(t *testing.T) {
	r := sessionRig(t)
	r.run(5 * time.Second)
	m := r.mark()
	r.silent = true
	var frames, garbled uint64 = r.frames, r.garbled
	for sec := 1; sec <= 30; sec++ {
		r.run(time.Second)
		garbled += 190 // 960 bytes/s of noise, 5-byte frames
		if sec%3 == 0 {
			frames++ // a chance-valid frame
		}
		r.record(r.e.Status(r.now, vitals.Status{Sensor: oxi, Frames: frames, Garbled: garbled}))
	}
	got := r.since(m, "alarm start", "alarm end")
	expect(t, got,
		`00:00:06 alarm start sensor_garbled low active audio=on present=true "nonin: 190 of 565 frames garbled in the last 30s"`,
		`00:00:15 alarm start sensor_silent medium active audio=on present=true "nonin sent no valid data for 10s"`,
	)
	for _, l := range got {
		if strings.Contains(l, "alarm end sensor_silent") {
			t.Fatalf("a chance-valid frame ended sensor_silent: %s", l)
		}
	}

	// The NIBP module's validated answers are data; frames alone are not.
	r2 := sessionRig(t)
	r2.run(5 * time.Second)
	m2 := r2.mark()
	r2.silent = true
	for sec := 1; sec <= 12; sec++ {
		r2.run(time.Second)
		r2.record(r2.e.Status(r2.now, vitals.Status{Sensor: oxi, Frames: r2.frames + uint64(sec), Valid: uint64(sec)}))
	}
	if got := r2.since(m2, "sensor_silent"); len(got) != 0 {
		t.Errorf("validated answers did not keep sensor_silent away: %v", got)
	}
}
