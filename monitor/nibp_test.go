package monitor

import (
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// failedTwice is what the first two failures in a row of a session's
// measurements give: nibp_failed low, the one retry, then medium.
var failedTwice = []string{
	"00:00:00 nibp_start n-1-1",
	`00:00:40 nibp n-1-1 error "0x57 inflate timeout, leak or loose cuff"`,
	`00:00:40 alarm start nibp_failed low active audio=on present=true "NIBP failed: 0x57 inflate timeout, leak or loose cuff"`,
	"00:01:40 nibp_start n-1-2", // the automatic retry
	`00:02:20 nibp n-1-2 error "0x02 erratic signal"`,
	`00:02:20 alarm update nibp_failed medium active audio=on present=true "NIBP failed: 0x02 erratic signal (2 in a row)"`,
}

// A failure raises nibp_failed (low) with the module's code and retries once
// after 60 s; a second failure in a row makes it medium; a success ends it.
func TestNIBPFailingTwice(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.bp = []vitals.Result{{Failure: "0x57 inflate timeout, leak or loose cuff"}, {Failure: "0x02 erratic signal"}}
	r.startSession()
	r.run(8 * time.Minute)
	expect(t, r.since(0, "nibp", "alarm"),
		append(failedTwice,
			"00:06:40 nibp_start n-1-3", // back on the schedule: 5m after the last start
			// no success since the session started: nibp_every 5m + 2m
			`00:07:00 alarm start nibp_overdue medium active audio=on present=true "no NIBP measurement for 7m (every 5m)"`,
			"00:07:20 nibp n-1-3 120/80",
			`00:07:20 alarm end nibp_failed medium cleared audio=off present=false "NIBP failed: 0x02 erratic signal (2 in a row)"`,
			`00:07:20 alarm end nibp_overdue medium cleared audio=off present=false "no NIBP measurement for 7m (every 5m)"`,
		)...)
	// The failed measurements were published with null pressures.
	for _, ev := range r.evs {
		if n, ok := ev.(wire.NIBP); ok && n.Error != "" && (n.Systolic.Valid || n.Diastolic.Valid) {
			t.Fatalf("failed measurement has pressures: %+v", n)
		}
	}
}

// A third failure in a row, back on the schedule after the one retry, keeps
// the alarm at medium but says what failed this time and how many in a row.
func TestNIBPThirdFailureSaysSo(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.bp = []vitals.Result{{Failure: "0x57 inflate timeout, leak or loose cuff"}, {Failure: "0x02 erratic signal"}, {Failure: "0x55 pneumatic blockage"}}
	r.startSession()
	r.run(8 * time.Minute)
	expect(t, r.since(0, "nibp", "alarm"),
		append(failedTwice,
			"00:06:40 nibp_start n-1-3", // no second retry: back on the schedule
			`00:07:00 alarm start nibp_overdue medium active audio=on present=true "no NIBP measurement for 7m (every 5m)"`,
			`00:07:20 nibp n-1-3 error "0x55 pneumatic blockage"`,
			`00:07:20 alarm update nibp_failed medium active audio=on present=true "NIBP failed: 0x55 pneumatic blockage (3 in a row)"`,
		)...)
}

// A module that never answers: the engine aborts after its own time limit,
// counts it as a failure, and nibp_overdue follows nibp_every + 2 min after
// the last success (here the session start).
func TestNIBPNoAnswerAndOverdue(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.bpTook = time.Hour
	r.startSession()
	r.run(8*time.Minute + 30*time.Second)
	expect(t, r.since(0, "nibp", "alarm start"),
		"00:00:00 nibp_start n-1-1",
		"00:03:30 nibp_abort n-1-1",
		`00:03:30 nibp n-1-1 error "timeout: no result from the NIBP module after 3m30s"`,
		`00:03:30 alarm start nibp_failed low active audio=on present=true "NIBP failed: timeout: no result from the NIBP module after 3m30s"`,
		"00:04:30 nibp_start n-1-2",
		`00:07:00 alarm start nibp_overdue medium active audio=on present=true "no NIBP measurement for 7m (every 5m)"`,
		"00:08:00 nibp_abort n-1-2",
		`00:08:00 nibp n-1-2 error "timeout: no result from the NIBP module after 3m30s"`,
		`00:08:00 alarm update nibp_failed medium active audio=on present=true "NIBP failed: timeout: no result from the NIBP module after 3m30s (2 in a row)"`,
	)
}

// nibp_now measures at once, but never closer than min_nibp_gap to the last
// inflation, and is refused while one runs.
func TestNIBPNowRespectsGap(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.bpTook = 20 * time.Second
	r.startSession()
	r.run(5 * time.Second)
	if got := replyErr(r.cmd(wire.ActionNIBPNow)); got != "measurement n-1-1 is running" {
		t.Fatalf("nibp_now while measuring: %q", got)
	}
	r.run(20 * time.Second) // result at 00:00:20
	m := r.mark()
	if evs := r.cmd(wire.ActionNIBPNow); !replyOK(evs) {
		t.Fatal(replyErr(evs))
	}
	r.run(10 * time.Second)
	expect(t, r.since(m, "nibp_start"), "00:00:30 nibp_start n-1-2") // 30 s after the start at 00:00:00
}

// With the cuff on the oximeter's arm, SpO2 alarms are held while it
// inflates and 30 s after; a desaturation that lasts beyond sounds.
func TestSameLimbHoldsSpO2Alarms(t *testing.T) {
	same := func(c *Config) {
		c.Protocol.AutoStartAfter = 0
		c.Sensors[cuff].SameLimb = true
	}
	r := newRig(t, same)
	r.startSession() // cuff inflates 00:00:00 .. 00:00:40, hold until 00:01:10
	r.run(5 * time.Second)
	r.spo2, r.flags = 85, 0
	r.run(50 * time.Second)
	r.spo2 = 97
	r.run(time.Minute)
	expect(t, r.since(0, "alarm"))

	r2 := newRig(t, same)
	r2.startSession()
	r2.run(5 * time.Second)
	r2.spo2 = 85
	r2.run(80 * time.Second)
	// the cuff started at the first tick (00:00:00.25) and answered 40 s later:
	// held until 00:01:10.25, then the high limit's 5 s delay
	expect(t, r2.since(0, "alarm start"), `00:01:16 alarm start spo2_low high active audio=on present=true "SpO2 85 < 88"`)

	// Without the same-limb setting the same dip alarms during inflation.
	r3 := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r3.startSession()
	r3.run(5 * time.Second)
	r3.spo2 = 85
	r3.run(15 * time.Second)
	expect(t, r3.since(0, "alarm start"), `00:00:11 alarm start spo2_low high active audio=on present=true "SpO2 85 < 88"`)
}

// A result for a request the engine did not make is ignored.
func TestNIBPResultForUnknownRequestIgnored(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.startSession()
	before := len(r.evs)
	r.record(r.e.Result(r.now, vitals.Result{Sensor: cuff, Request: "n-9-9", Systolic: 200, Diastolic: 120}))
	for _, ev := range r.evs[before:] {
		if _, ok := ev.(wire.NIBP); ok {
			t.Fatal("published a result for an unknown request")
		}
	}
}
