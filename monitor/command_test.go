package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/wire"
)

// A redelivered command id is answered again with the same reply but applied
// once.
func TestDuplicateCommandIDAppliedOnce(t *testing.T) {
	r := sessionRig(t)
	mark := func(c *Command) { c.ID = "station-42"; c.Note = "dose 2 of 6" }
	first := r.cmd(wire.ActionMark, mark)
	second := r.cmd(wire.ActionMark, mark)
	if !replyOK(first) || !replyOK(second) {
		t.Fatalf("replies: %v / %v", first, second)
	}
	if n := len(r.e.sess.Marks); n != 1 {
		t.Fatalf("the mark was applied %d times", n)
	}
	for _, ev := range second {
		if _, ok := ev.(Audit); ok {
			t.Fatal("the redelivery was logged as a new action")
		}
	}
	// A refused command's id is remembered too: the same refusal again.
	bad := func(c *Command) { c.ID = "station-43"; c.Alarm = "a-1-99" }
	if e1, e2 := replyErr(r.cmd(wire.ActionAck, bad)), replyErr(r.cmd(wire.ActionAck, bad)); e1 != "alarm a-1-99 is not current" || e2 != e1 {
		t.Fatalf("refusals %q / %q", e1, e2)
	}
}

// Commands the chair must refuse, each with a reply saying why.
func TestCommandRefusals(t *testing.T) {
	r := sessionRig(t, func(c *Config) {
		c.Remote = []string{wire.ActionSessionStart, wire.ActionAck, wire.ActionMark, wire.ActionSessionEnd}
	})
	cases := []struct {
		name   string
		action string
		mod    func(*Command)
		want   string
	}{
		{"disallowed action", wire.ActionPauseAudio, nil, "action pause_audio is not allowed from the station on this chair ([commands] remote)"},
		{"retained", wire.ActionMark, func(c *Command) { c.Retained = true; c.Note = "x" }, "retained commands are refused: publish commands without retain"},
		{"too old", wire.ActionMark, func(c *Command) { c.T = wire.At(r.now.Add(-45 * time.Second)); c.Note = "x" }, "command is 45s old, more than max_age 30s"},
		{"from the future", wire.ActionMark, func(c *Command) { c.T = wire.At(r.now.Add(2 * time.Minute)); c.Note = "x" }, "command time is 2m in the future: check the station's clock"},
		{"unknown action", "reboot", nil, `field "action": "reboot" is not an action`},
		{"no author", wire.ActionMark, func(c *Command) { c.By = ""; c.Note = "x" }, `field "by" is empty`},
		{"unknown alarm", wire.ActionAck, func(c *Command) { c.Alarm = "a-7-7" }, "alarm a-7-7 is not current"},
		{"field of another action", wire.ActionAck, func(c *Command) { c.Alarm = "*"; c.Note = "hello" }, `field "note" is not used by action ack`},
		{"note too long", wire.ActionMark, func(c *Command) { c.Note = strings.Repeat("x", 201) }, `field "note" is 201 characters, more than 200`},
		{"control character", wire.ActionMark, func(c *Command) { c.Note = "a\x1bb" }, `field "note" contains a control character U+001B`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mods []func(*Command)
			if c.mod != nil {
				mods = append(mods, c.mod)
			}
			evs := r.cmd(c.action, mods...)
			if replyOK(evs) {
				t.Fatal("accepted")
			}
			if got := replyErr(evs); !strings.HasPrefix(got, c.want) {
				t.Fatalf("reply %q, want %q", got, c.want)
			}
			var audited bool
			for _, ev := range evs {
				if a, ok := ev.(Audit); ok && !a.OK && strings.Contains(a.Detail, "refused") {
					audited = true
				}
			}
			if !audited {
				t.Fatal("the refusal was not logged")
			}
		})
	}
	if len(r.e.sess.Marks) != 0 {
		t.Fatalf("a refused mark was applied: %v", r.e.sess.Marks)
	}
}

// The bedside button is always allowed, needs no id and gets no reply.
func TestLocalCommandAlwaysAllowed(t *testing.T) {
	r := sessionRig(t, func(c *Config) { c.Remote = []string{wire.ActionSessionStart, wire.ActionAck} })
	r.pulse = 125
	r.run(11 * time.Second)
	evs := r.e.Command(r.now, Command{Local: true, Command: wire.Command{V: 1, ID: "button-1", T: wire.At(t0), Action: wire.ActionPauseAudio, By: "bedside"}})
	r.record(evs)
	for _, ev := range evs {
		if _, ok := ev.(wire.Reply); ok {
			t.Fatal("a local command was answered over MQTT")
		}
	}
	if a, _ := r.lastAlarm("pulse_high"); a.Audio != wire.AudioPaused {
		t.Fatalf("audio = %s after the bedside pause", a.Audio)
	}
}

func TestAckAll(t *testing.T) {
	r := sessionRig(t)
	r.pulse, r.spo2 = 125, 90
	r.run(11 * time.Second)
	r.cmd(wire.ActionAck, func(c *Command) { c.Alarm = "*" })
	var states []string
	for _, ev := range r.evs {
		if l, ok := ev.(wire.Alarms); ok {
			states = states[:0]
			for _, a := range l.Alarms {
				states = append(states, a.Condition+" "+a.State+" "+a.Audio)
			}
		}
	}
	expect(t, states, "spo2_low acknowledged off", "pulse_high acknowledged off")
}

// A phase's own limits replace the global ones of that condition while it
// lasts; the alarm follows the new limits at the phase change.
func TestPhaseLimitOverride(t *testing.T) {
	var ps = shippedProtocol(t)
	ps.AutoStartAfter = 0
	ps.Phases[protocol.Infusion].Limits = []protocol.Limit{
		{Condition: protocol.Condition{Measure: protocol.Pulse, Direction: protocol.TooHigh}, Priority: protocol.Medium, Cmp: protocol.Above, Threshold: 130},
	}
	r := newRig(t, func(c *Config) { c.Protocol = ps })
	r.bpTook = time.Second
	r.startSession()
	m := r.mark()
	r.pulse = 125
	r.run(11 * time.Second)
	r.cmd(wire.ActionInfusionStart)
	r.run(2 * time.Second)
	r.pulse = 135
	r.run(time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:11 alarm start pulse_high medium active audio=on present=true "Pulse 125 > 120"`,
		`00:00:11 alarm end pulse_high medium cleared audio=off present=false "Pulse 125 > 120"`, // 125 is inside the infusion's 130
		`00:00:14 alarm start pulse_high medium active audio=on present=true "Pulse 135 > 130"`,  // no delay in the phase's limit
	)
}

// A `limits` command changes one limit for the rest of the session; one that
// contradicts the others is refused.
func TestSessionLimitCommand(t *testing.T) {
	r := sessionRig(t)
	limit := func(m map[string]any) func(*Command) { return func(c *Command) { c.Limit = m } }
	evs := r.cmd(wire.ActionLimits, limit(map[string]any{"condition": "spo2_low", "priority": "medium", "below": 90.0, "delay": "10s", "hysteresis": 1.0}))
	if !replyOK(evs) {
		t.Fatal(replyErr(evs))
	}
	m := r.mark()
	r.spo2 = 91
	r.run(15 * time.Second)
	expect(t, r.since(m, "alarm"))
	r.spo2 = 89
	r.run(11 * time.Second)
	expect(t, r.since(m, "alarm start"), `00:00:26 alarm start spo2_low medium active audio=on present=true "SpO2 89 < 90"`)

	got := replyErr(r.cmd(wire.ActionLimits, limit(map[string]any{"condition": "spo2_low", "priority": "high", "below": 95.0})))
	if got != "limit refused: spo2_low: the high limit (< 95) is less extreme than the medium limit (< 90)" {
		t.Fatalf("contradiction: %q", got)
	}
	got = replyErr(r.cmd(wire.ActionLimits, limit(map[string]any{"condition": "spo2_low", "priority": "high", "below": "88"})))
	if got != "command: limit.below: must be a number, not a string\ncommand: limit: needs exactly one of below, at_most, above or at_least (found 0)" {
		t.Fatalf("bad type: %q", got)
	}
	// The session's limit ends with the session.
	r.cmd(wire.ActionSessionEnd)
	r.startSession()
	if n := len(r.e.sess.Limits); n != 0 {
		t.Fatalf("the next session inherited %d limits", n)
	}
}

// External conditions are always on, even with no session.
func TestExternalConditionsInIdle(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.record(r.e.External(r.now, StoreFault, true, "store: write /var/lib/chairside/outbox.db: no space left on device"))
	r.run(time.Second)
	r.record(r.e.External(r.now, StoreFault, false, ""))
	expect(t, r.since(0, "alarm", "annunciation"),
		`00:00:00 alarm start store_fault high active audio=on present=true "store: write /var/lib/chairside/outbox.db: no space left on device"`,
		"00:00:00 annunciation lamp=high flash=true tone=high",
		`00:00:01 alarm end store_fault high cleared audio=off present=false "store: write /var/lib/chairside/outbox.db: no space left on device"`,
		"00:00:01 annunciation lamp=none flash=false tone=none",
	)
	if a, _ := r.lastAlarm("store_fault"); a.Session != "" || a.Kind != "technical" {
		t.Fatalf("store_fault payload %+v", a)
	}
}
