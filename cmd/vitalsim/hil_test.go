package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/suntech"
	"github.com/chairside/chairside/monitor/vitals"
)

// Hardware in the loop: vitalsim's run() makes the ptys and links, the real
// drivers open the links as the daemon opens /dev/serial/by-id paths. At
// -speed 60 a scenario minute takes a second.
const hilScenario = `name = "hil"
[start]
spo2 = 97
pulse = 70
bp = { systolic = 124, diastolic = 82, mean = 96, pulse = 71 }
nibp_duration = "30s"

[[at]]
t = "0s"
nibp_error = 0x57            # the first measurement fails

[[at]]
t = "30s"
spo2 = { to = 85, over = "2m30s" }   # DF2 reports SpO2 3 times a second: about 7 readings

[[at]]
t = "2m"
garbage = { device = "nonin", bytes = 300 }   # mid-ramp: no value from it, counted as garbled

[[at]]
t = "3m"
unplug = "nonin"

[[at]]
t = "3m30s"
replug = "nonin"

[[at]]
t = "4m"
unplug = "suntech"

[[at]]
t = "4m30s"
replug = "suntech"

[[at]]
t = "4m40s"
garbage = { device = "suntech", bytes = 100 }  # before the next measurement
`

func TestHILNoninAndSunTech(t *testing.T) {
	dir := t.TempDir()
	noninLink, suntechLink := filepath.Join(dir, "nonin"), filepath.Join(dir, "suntech")
	r := startRun(t, "-scenario", writeScenario(t, dir, hilScenario),
		"-nonin", "pty:"+noninLink, "-suntech", "pty:"+suntechLink, "-speed", "60")
	waitFor(t, "the links", func() bool { return linkExists(noninLink) && linkExists(suntechLink) })

	ctx, cancel := context.WithCancel(context.Background())
	oxi, nibp := newSink(), newSink()
	noninLog := &syncBuffer{}
	ndev, err := nonin.New(noninLink, &nonin.Opts{Format: nonin.DF2, Sensor: 0, Logger: slog.New(slog.NewTextHandler(noninLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sdev, err := suntech.New(suntechLink, &suntech.Opts{Sensor: 1})
	if err != nil {
		t.Fatal(err)
	}
	drivers := make(chan error, 2)
	go func() { drivers <- ndev.Run(ctx, oxi) }()
	go func() { drivers <- sdev.Run(ctx, nibp) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-drivers; err != nil {
				t.Errorf("driver: %v", err)
			}
		}
	}()

	// NIBP: the queued 0x57 first, then the scenario's pressure.
	start := func(id string) {
		t.Helper()
		waitFor(t, "the NIBP port", func() bool {
			err := sdev.Start(context.Background(), id)
			if err != nil && !errors.Is(err, suntech.ErrNotOpen) {
				t.Fatalf("Start(%s): %v", id, err)
			}
			return err == nil
		})
	}
	start("n-1-1")
	if got := nibp.result(t, 10*time.Second); got.Request != "n-1-1" || !strings.HasPrefix(got.Failure, "0x57 inflate timeout") {
		t.Errorf("first measurement %+v, want the 0x57 failure", got)
	}
	start("n-1-2")
	want := vitals.Result{Sensor: 1, Request: "n-1-2", Systolic: 124, Diastolic: 82, Mean: 96, Pulse: 71}
	if got := nibp.result(t, 10*time.Second); got != want {
		t.Errorf("second measurement %+v, want %+v", got, want)
	}

	// SpO2 ramps down from 97 to 85 through the values between.
	waitFor(t, "SpO2 to reach 85", func() bool {
		rs, _ := oxi.since(0, vitals.SpO2)
		return len(rs) > 0 && rs[len(rs)-1].Value == 85
	})
	rs, _ := oxi.since(0, vitals.SpO2)
	seen := map[int16]bool{}
	for i, x := range rs {
		if x.Value < 85 || x.Value > 97 || x.Flags != 0 {
			t.Fatalf("reading %+v outside the ramp", x)
		}
		if i > 0 && x.Value > rs[i-1].Value {
			t.Fatalf("SpO2 went up during the ramp: %d then %d", rs[i-1].Value, x.Value)
		}
		seen[x.Value] = true
	}
	if !seen[97] || len(seen) < 4 {
		t.Errorf("SpO2 values seen %v: want 97 down to 85 in steps", seen)
	}
	pulses, _ := oxi.since(0, vitals.Pulse)
	for _, x := range pulses {
		if x.Value != 70 || x.Flags != 0 {
			t.Fatalf("pulse reading %+v, want exactly 70 throughout (garbage never gives a value)", x)
		}
	}
	if len(pulses) < 5 {
		t.Fatalf("%d pulse readings", len(pulses))
	}

	// The unplug: the link goes and comes back (told by the log, which
	// does not depend on catching the half second in between), the driver
	// sees its port go, opens the new one and reads again.
	waitFor(t, "the replug", func() bool {
		return countLog(r.stderr.String(), `"msg":"line plugged in"`, `"device":"nonin"`) == 2
	})
	if countLog(r.stderr.String(), `"msg":"line unplugged: pty closed and link removed"`, `"device":"nonin"`) != 1 {
		t.Fatal("no unplug logged")
	}
	_, before := oxi.since(0, vitals.SpO2)
	waitFor(t, "readings after the replug", func() bool {
		after, _ := oxi.since(before, vitals.SpO2)
		return len(after) >= 5
	})
	after, _ := oxi.since(before, vitals.SpO2)
	if last := after[len(after)-1]; last.Value != 85 || last.Flags != 0 || !linkExists(noninLink) {
		t.Errorf("after the replug %+v", last)
	}
	if n := strings.Count(noninLog.String(), "serial port opened"); n != 2 {
		t.Errorf("the nonin driver opened its port %d times, want 2:\n%s", n, noninLog.String())
	}
	// The 300 garbage bytes are at most 60 frames' worth; some of them
	// fail framing or checksum and are counted (counts only grow).
	if st := oxi.lastStatus(); st.Frames < 75 || st.Garbled < 1 || st.Garbled > 60 {
		t.Errorf("nonin status %+v: want the garbage counted as 1..60 garbled frames", st)
	}

	// The cuff's cable too: the driver reopens and measures again.
	waitFor(t, "the suntech replug", func() bool {
		return countLog(r.stderr.String(), `"msg":"line plugged in"`, `"device":"suntech"`) == 2
	})
	start("n-1-3")
	want.Request = "n-1-3"
	if got := nibp.result(t, 10*time.Second); got != want {
		t.Errorf("measurement after the replug %+v, want %+v", got, want)
	}

	r.stop()
	if linkExists(noninLink) || linkExists(suntechLink) {
		t.Error("links left after stop")
	}
	log := r.stderr.String()
	for _, want := range [][]string{
		{`"msg":"vitalsim running"`, `"scenario":"hil"`, `"speed":60`},
		{`"msg":"scenario entry"`, `"entry":"at[4]"`, `"does":"unplug nonin"`},
		{`"msg":"next NIBP measurement will fail"`, `"code":"0x57 inflate timeout, leak or loose cuff"`},
		{`"msg":"vitalsim stopped"`},
	} {
		if !hasLog(log, want...) {
			t.Errorf("no log line with %q", want)
		}
	}
}
