package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/gpio"
	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// shippedEngine is an engine configured from configs/chairside.toml.
func shippedEngine(t *testing.T, now time.Time) *monitor.Engine {
	t.Helper()
	cfg, problems := config.Load(filepath.Join("..", "..", "configs", "chairside.toml"))
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	e, err := monitor.New(cfg.Engine(1), now)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The bedside button through the engine: a long press pauses the sounding
// alarm's audio and a short press acknowledges it, both by "bedside" and in
// the alarm log (Audit), with no reply to anyone.
func TestButtonCommandsReachTheEngine(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	e := shippedEngine(t, now)
	e.Command(now, monitor.Command{Local: true, Command: wire.Command{V: wire.Version, ID: "s", T: wire.At(now),
		Action: wire.ActionSessionStart, By: "bedside"}})
	// SpO2 80 until a high alarm sounds.
	var alarm *wire.Alarm
	for i := 0; i < 120 && alarm == nil; i++ {
		now = now.Add(time.Second)
		// The engine reuses its event slice: copy each step's.
		var evs []monitor.Event
		evs = append(evs, e.Reading(now, vitals.Reading{Sensor: 0, Param: vitals.SpO2, Value: 80})...)
		evs = append(evs, e.Reading(now, vitals.Reading{Sensor: 0, Param: vitals.Pulse, Value: 70})...)
		evs = append(evs, e.Tick(now)...)
		for _, ev := range evs {
			if a, ok := ev.(wire.Alarm); ok && a.Condition == "spo2_low" && a.Phase == wire.PhaseStart {
				alarm = &a
			}
		}
	}
	if alarm == nil || alarm.Audio != wire.AudioOn {
		t.Fatalf("no sounding spo2_low alarm: %+v", alarm)
	}

	check := func(p gpio.Press, what string, ok func(wire.Alarm) bool, tone protocol.Priority) {
		t.Helper()
		now = now.Add(time.Second)
		evs := e.Command(now, buttonCommand(p, now))
		var changed, audited bool
		for _, ev := range evs {
			switch v := ev.(type) {
			case wire.Alarm:
				changed = changed || (v.ID == alarm.ID && ok(v))
			case monitor.Audit:
				audited = audited || (v.By == "bedside" && v.OK)
			case wire.Reply:
				t.Errorf("%s press: a reply %+v (the button gets none)", p, v)
			case monitor.Annunciation:
				if v.Tone != tone {
					t.Errorf("%s press: tone %v, want %v", p, v.Tone, tone)
				}
			}
		}
		if !changed || !audited {
			t.Fatalf("%s press: %s %v, in the alarm log by bedside %v; events %+v", p, what, changed, audited, evs)
		}
	}
	check(gpio.LongPress, "audio paused", func(a wire.Alarm) bool {
		return a.Audio == wire.AudioPaused && a.State == "active"
	}, protocol.None)
	check(gpio.ShortPress, "acknowledged by bedside", func(a wire.Alarm) bool {
		return a.State == "acknowledged" && a.AckedBy != nil && *a.AckedBy == "bedside"
	}, protocol.None)
}

func TestButtonCommandIsValid(t *testing.T) {
	now := time.Now()
	for _, p := range []gpio.Press{gpio.ShortPress, gpio.LongPress} {
		c := buttonCommand(p, now)
		if err := c.Check(); err != nil || !c.Local || c.By != "bedside" {
			t.Fatalf("%v: %+v: %v", p, c, err)
		}
	}
	if a := buttonCommand(gpio.ShortPress, now); a.Action != wire.ActionAck || a.Alarm != "*" {
		t.Fatalf("short press = %s %q, want ack *", a.Action, a.Alarm)
	}
	if a := buttonCommand(gpio.LongPress, now); a.Action != wire.ActionPauseAudio {
		t.Fatalf("long press = %s, want pause_audio", a.Action)
	}
}
