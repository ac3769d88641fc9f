package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/drivers/suntech"
)

// dropState is the oximeter's steady state in the frame-dropping tests: SpO2
// 96 and pulse 74, with the FLOAT bytes after them (the firmware revision,
// the display and beat-to-beat SpO2) far from both and SREV below the
// spo2_low limit, so that a value read one frame off its place is a wrong
// number and, kept up, a false alarm.
func dropState() nonin.State {
	s := nonin.Steady(96, 74)
	s.SREV = 80
	s.SpO2D, s.SpO2Fast, s.SpO2BB = 98, 93, 91
	return s
}

// Relay modes: what the relay between the oximeter and the daemon loses.
const (
	relayClean        = iota
	relayAfterSync    // the frame after each SYNC frame
	relayEveryThreeS  // one frame every 3 s, the HR LSB frame (index 1)
	relayEveryThreeS2 // idem, the SpO2 frame (index 2)
)

// newRelayBench is a bench whose oximeter writes its DF2 frames at the real
// rate through a relay that drops frames as *mode says.
func newRelayBench(t *testing.T, b *testBroker, mode *atomic.Int32) *bench {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	be := &bench{t: t, dir: t.TempDir(), bin: buildChairside(t)}
	oxiPTY, cuffPTY := serialtest.New(t), serialtest.New(t)
	serialtest.Link(t, filepath.Join(be.dir, "nonin"), oxiPTY.Name)
	serialtest.Link(t, filepath.Join(be.dir, "suntech"), cuffPTY.Name)
	var err error
	be.oxi, err = nonin.NewDevice(nonin.DeviceOpts{Format: nonin.DF2}, dropState())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		tick := time.NewTicker(be.oxi.Period())
		defer tick.Stop()
		var buf []byte
		for n := uint64(0); ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			buf = be.oxi.Next(buf[:0])
			idx := n % 25
			switch mode.Load() {
			case relayAfterSync:
				if idx == 1 {
					continue
				}
			case relayEveryThreeS:
				if n%225 == 1 {
					continue
				}
			case relayEveryThreeS2:
				if n%225 == 2 {
					continue
				}
			}
			if _, err := oxiPTY.Master.Write(buf); err != nil {
				return
			}
		}
	}()
	be.cuff = suntech.NewModule(cuffPTY.Master, nil)
	be.cuff.Set(suntech.Measurement{Sys: 118, Dia: 76, Map: 90, HR: 72, Duration: 2 * time.Second})
	go be.cuff.Run(ctx)
	be.write("hil.toml", hilProtocol)
	be.configure(fmt.Sprintf("broker = %q\nkeepalive = \"2s\"\n", b.url()))
	return be
}

// TestHILDroppedFrames: a relay between the Nonin and the daemon starts
// losing the frame after each SYNC frame in a running session (every frame
// that arrives still passes its checksum). No packet is whole any more: every
// published SpO2 and pulse is the true value or null, no spo2_low alarm
// starts, and after stale_after (10 s) sensor_silent does, since nothing
// validated comes. Then the relay loses only one frame every 3 s: true values
// come through again, still never a false one, and sensor_silent ends.
func TestHILDroppedFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("hardware-in-the-loop test")
	}
	b := startBroker(t)
	rec := subscribe(t, b)
	var mode atomic.Int32
	be := newRelayBench(t, b, &mode)
	be.start()
	defer func() {
		if t.Failed() {
			t.Logf("chairside log:\n%s", be.log())
		}
	}()
	rec.waitFor(t, "auto-started session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	rec.waitFor(t, "SpO2 96 through the clean relay", "/vitals/spo2", 5*time.Second, func(v map[string]any) bool { return num(v["value"]) == 96 })

	// checkValues fails on any SpO2 or pulse other than the true one or
	// null, and on any alarm on SpO2 or pulse; it returns how many true
	// SpO2 values it saw.
	checkValues := func(what string, from int) (trueSpO2 int) {
		t.Helper()
		for _, m := range rec.since(from) {
			v := m.v
			switch {
			case strings.HasSuffix(m.topic, "/vitals/spo2"):
				if v["value"] != nil && num(v["value"]) != 96 {
					t.Errorf("%s: false SpO2 published: %v", what, v)
				} else if v["value"] != nil {
					trueSpO2++
				}
			case strings.HasSuffix(m.topic, "/vitals/pulse"):
				if v["value"] != nil && num(v["value"]) != 74 {
					t.Errorf("%s: false pulse published: %v", what, v)
				}
			case strings.HasSuffix(m.topic, "/alarm"):
				if c, _ := v["condition"].(string); v["phase"] == "start" && (c == "spo2_low" || c == "pulse_low" || c == "pulse_high") {
					t.Errorf("%s: false alarm: %v", what, v)
				}
			}
		}
		return trueSpO2
	}

	from := rec.count()
	mode.Store(relayAfterSync)
	time.Sleep(14 * time.Second) // stale_after is 10 s
	checkValues("frame after each SYNC dropped", from)
	var silent map[string]any
	for _, m := range rec.since(from) {
		if strings.HasSuffix(m.topic, "/alarm") && m.v["condition"] == "sensor_silent" && m.v["phase"] == "start" && m.v["priority"] == "medium" {
			silent = m.v
		}
	}
	if silent == nil {
		t.Fatal("no sensor_silent after 14 s without a whole packet")
	}

	from = rec.count()
	mode.Store(relayEveryThreeS)
	rec.waitForFrom(t, from, "sensor_silent ended", "/alarm", 10*time.Second, func(v map[string]any) bool {
		return v["id"] == silent["id"] && v["phase"] == "end"
	})
	time.Sleep(7 * time.Second)
	mode.Store(relayEveryThreeS2)
	time.Sleep(7 * time.Second)
	if n := checkValues("one frame every 3 s dropped", from); n < 8 {
		t.Errorf("one frame every 3 s dropped: %d true SpO2 values in 14 s, want them to keep coming", n)
	}
}
