package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// A power cut mid-infusion: the engine restored from its saved snapshot
// resumes the same session and phase, keeps its alarms (republished as
// updates), aborts the measurement that was running, remembers command ids,
// and raises the infusion reminder on the original schedule.
func TestRestoreMidInfusion(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.startSession()
	r.run(2 * time.Minute)
	r.cmd(wire.ActionInfusionStart, func(c *Command) { c.ID = "go-1" })
	r.run(13*time.Minute + 5*time.Second) // a measurement runs from 00:15:00
	r.spo2 = 85
	r.run(6 * time.Second) // a latching high alarm
	r.spo2 = 97
	r.run(2 * time.Second) // now latched
	sessionID := r.e.SessionID()

	saved, err := r.e.Snapshot().Encode()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := DecodeSnapshot(saved)
	if err != nil {
		t.Fatal(err)
	}
	// The chair comes back 20 s later with boot 2.
	cfg := rigConfig(shippedProtocol(t))
	cfg.Protocol.AutoStartAfter = 0
	cfg.Boot = 2
	r.now = r.now.Add(20 * time.Second)
	e, evs, err := Restore(cfg, snap, r.now)
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	m := r.mark()
	r.pending = ""
	r.record(evs)
	expect(t, r.since(m, "session", "alarm", "nibp", "annunciation"),
		"00:15:33 nibp_abort n-1-4",
		"00:15:33 session infusion",
		`00:15:33 alarm update spo2_low high latched audio=on present=false "SpO2 85 < 88"`,
		"00:15:33 annunciation lamp=high flash=true tone=high",
	)
	if e.SessionID() != sessionID || e.Phase() != protocol.Infusion {
		t.Fatalf("resumed %q %s, want %q infusion", e.SessionID(), e.Phase(), sessionID)
	}
	// The redelivered infusion_start is answered but not applied again.
	if evs := r.cmd(wire.ActionInfusionStart, func(c *Command) { c.ID = "go-1" }); !replyOK(evs) || e.Phase() != protocol.Infusion {
		t.Fatalf("redelivery after restart: %v", evs)
	}
	m = r.mark()
	r.run(40 * time.Minute)
	got := r.since(m, "nibp_start", "infusion_time_reached")
	// The retried measurement has this boot's id; the reminder keeps the
	// infusion's real start (00:02:00) + 40m.
	if len(got) < 2 || got[0] != "00:15:33 nibp_start n-2-5" {
		t.Fatalf("after restore: %v", got)
	}
	var reminder string
	for _, l := range got {
		if strings.Contains(l, "infusion_time_reached") {
			reminder = l
		}
	}
	if !strings.HasPrefix(reminder, "00:42:00 alarm start infusion_time_reached") {
		t.Fatalf("reminder: %q", reminder)
	}
	if a, _ := r.lastAlarm("infusion_time_reached"); !strings.HasPrefix(a.ID, "a-2-") {
		t.Fatalf("new alarm id %s does not carry boot 2", a.ID)
	}
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	cfg := rigConfig(shippedProtocol(t))
	if _, err := DecodeSnapshot([]byte(`{"version":9}`)); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("version: %v", err)
	}
	if _, err := DecodeSnapshot([]byte(`{"version":1,`)); err == nil {
		t.Fatal("a truncated snapshot decoded")
	}
	if _, _, err := Restore(cfg, Snapshot{Version: 1, Session: session{Phase: protocol.Infusion}}, t0); err == nil {
		t.Fatal("restored a session phase without a session id")
	}
	if _, _, err := Restore(cfg, Snapshot{Version: 1, Session: session{Phase: 42}}, t0); err == nil {
		t.Fatal("restored an unknown phase")
	}
}

// A fresh engine's snapshot restores to an idle engine.
func TestRestoreIdle(t *testing.T) {
	cfg := rigConfig(shippedProtocol(t))
	e, _ := New(cfg, t0)
	e2, _, err := Restore(cfg, e.Snapshot(), t0.Add(time.Minute))
	if err != nil || e2.Phase() != protocol.Idle {
		t.Fatalf("restore idle: %v %s", err, e2.Phase())
	}
}

// FuzzRestore: a damaged snapshot (a torn write, a bad disk) is refused with
// an error or restores an engine that runs; it never panics.
func FuzzRestore(f *testing.F) {
	r := newRig(f, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.startSession()
	r.spo2 = 85
	r.run(20 * time.Second)
	good, err := r.e.Snapshot().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"session":{"Phase":2,"ID":"s"}}`))
	cfg := rigConfig(shippedProtocol(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		snap, err := DecodeSnapshot(b)
		if err != nil {
			return
		}
		e, _, err := Restore(cfg, snap, t0.Add(time.Hour))
		if err != nil {
			return
		}
		now := t0.Add(time.Hour)
		for i := 0; i < 20; i++ {
			now = now.Add(500 * time.Millisecond)
			e.Reading(now, vitals.Reading{Sensor: oxi, Param: vitals.SpO2, Value: 90})
			e.Tick(now)
		}
		e.Command(now, Command{Command: wire.Command{V: 1, ID: "x", T: wire.At(now), Action: wire.ActionAck, By: "f", Alarm: "*"}})
		e.Command(now, Command{Command: wire.Command{V: 1, ID: "y", T: wire.At(now), Action: wire.ActionSessionEnd, By: "f"}})
	})
}

// A fault the daemon observes from outside the engine (here the
// annunciator) that was present before a restart is not restored as
// present: the restart judges it again, so a fault fixed meanwhile (kind =
// "none" now) ends instead of reminding for ever. One that is still there
// is raised again by the daemon as a new alarm.
func TestRestoreEndsExternalConditionsForReJudging(t *testing.T) {
	cfg := rigConfig(shippedProtocol(t))
	e, _ := New(cfg, t0)
	e.External(t0, AnnunciatorFault, true, "annunciator: gpio: pin \"GPIO18\" not found")
	e.External(t0, ClockUnsynced, true, "clock not synced")
	e2, evs, err := Restore(cfg, e.Snapshot(), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ended := map[string]bool{}
	for _, ev := range evs {
		if a, ok := ev.(wire.Alarm); ok && a.Phase == wire.PhaseEnd {
			ended[a.Condition] = true
		}
	}
	if !ended[AnnunciatorFault] || !ended[ClockUnsynced] {
		t.Fatalf("restore did not end the external conditions: ended %v", ended)
	}
	for _, ev := range e2.External(t0.Add(time.Minute), ClockUnsynced, true, "clock not synced") {
		if a, ok := ev.(wire.Alarm); ok && a.Condition == ClockUnsynced && a.Phase != wire.PhaseStart {
			t.Fatalf("a condition still present after the restart is not a new alarm: %+v", a)
		}
	}
	if n := len(e2.Snapshot().Alarms); n != 1 {
		t.Fatalf("after the restart %d alarms are current, want only the clock's again", n)
	}
}
