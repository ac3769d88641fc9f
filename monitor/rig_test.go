package monitor

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/tomlcheck"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// t0 is when every test session's clock starts.
var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

const (
	oxi  = 0 // sensor index of the oximeter in the rig
	cuff = 1 // sensor index of the NIBP module
)

// shippedProtocol loads configs/ketamine-iv.toml, the contract's defaults.
func shippedProtocol(t testing.TB) *protocol.Protocol {
	t.Helper()
	var ps tomlcheck.Problems
	p := protocol.Load(filepath.Join("..", "configs", "ketamine-iv.toml"), &ps)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	return p
}

func rigConfig(p *protocol.Protocol) Config {
	return Config{
		Protocol: p,
		Sensors: []Sensor{
			{Source: "nonin", Roles: RoleOximeter, StaleAfter: 10 * time.Second},
			{Source: "suntech", Roles: RoleNIBP, StaleAfter: 30 * time.Second},
		},
		Remote:        wire.Actions(),
		MaxCommandAge: 30 * time.Second,
		Boot:          1,
	}
}

// rig drives an engine through a session on a fake clock, playing a patient
// (SpO2 and pulse each second), a NIBP module that answers each request with
// the next queued result, and drivers that report their frame counts.
type rig struct {
	t             testing.TB
	e             *Engine
	now           time.Time
	spo2          int16
	pulse         int16
	flags         vitals.Flag
	silent        bool // the oximeter sends nothing
	bp            []vitals.Result
	bpAuto        vitals.Result // answer when the queue is empty
	bpTook        time.Duration // how long a measurement takes
	frames        uint64
	garbledPerSec uint64 // bad frames per second from the oximeter
	goodPerSec    uint64 // good frames per second from the oximeter; 0 means 75
	garbled       uint64
	log           []string // the events, described, with the time since t0
	evs           []Event
	cmdN          int
	// running measurement
	pending string
	doneAt  time.Time
}

func newRig(t testing.TB, mod ...func(*Config)) *rig {
	t.Helper()
	cfg := rigConfig(shippedProtocol(t))
	for _, m := range mod {
		m(&cfg)
	}
	e, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, e: e, now: t0, spo2: 97, pulse: 72,
		bpAuto: vitals.Result{Sensor: cuff, Systolic: 120, Diastolic: 80, Mean: 93, Pulse: 72}, bpTook: 40 * time.Second}
}

func (r *rig) record(evs []Event) {
	for _, ev := range evs {
		r.evs = append(r.evs, ev)
		if s := describe(ev); s != "" {
			r.log = append(r.log, fmt.Sprintf("%s %s", clock(r.now.Sub(t0)), s))
		}
		if s, ok := ev.(NIBPStart); ok {
			r.pending, r.doneAt = s.Request, r.now.Add(r.bpTook)
		}
		if a, ok := ev.(NIBPAbort); ok && a.Request == r.pending {
			r.pending = ""
		}
	}
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
}

// describe gives an event as one short line; vitals are left out (tests that
// want them look at r.evs).
func describe(ev Event) string {
	switch v := ev.(type) {
	case wire.Alarm:
		by := ""
		if v.AckedBy != nil {
			by = " by " + *v.AckedBy
		}
		return fmt.Sprintf("alarm %s %s %s %s audio=%s present=%v %q%s", v.Phase, v.Condition, v.Priority, v.State, v.Audio, v.ConditionActive, v.Message, by)
	case wire.Session:
		return fmt.Sprintf("session %s", v.Phase)
	case wire.NIBP:
		if v.Error != "" {
			return fmt.Sprintf("nibp %s error %q", v.Request, v.Error)
		}
		return fmt.Sprintf("nibp %s %s/%s", v.Request, v.Systolic, v.Diastolic)
	case NIBPStart:
		return "nibp_start " + v.Request
	case NIBPAbort:
		return "nibp_abort " + v.Request
	case Reminder:
		return "reminder " + v.Alarm
	case wire.Reply:
		if v.OK {
			return "reply " + v.ID + " ok"
		}
		return fmt.Sprintf("reply %s refused: %s", v.ID, v.Error)
	case wire.Summary:
		return "summary " + v.ID
	case Annunciation:
		return fmt.Sprintf("annunciation lamp=%s flash=%v tone=%s", v.Lamp, v.Flashing, v.Tone)
	}
	return ""
}

// run advances the clock by d in steps of 250 ms: the patient's values each
// second, frame counts each second, ticks each step, NIBP answers when due.
func (r *rig) run(d time.Duration) {
	end := r.now.Add(d)
	for r.now.Before(end) {
		r.now = r.now.Add(250 * time.Millisecond)
		if r.now.Sub(t0)%time.Second == 0 {
			if !r.silent {
				r.record(r.e.Reading(r.now, vitals.Reading{Sensor: oxi, Param: vitals.SpO2, Value: r.spo2, Flags: r.flags}))
				r.record(r.e.Reading(r.now, vitals.Reading{Sensor: oxi, Param: vitals.Pulse, Value: r.pulse, Flags: r.flags}))
				if r.goodPerSec > 0 {
					r.frames += r.goodPerSec
				} else {
					r.frames += 75
				}
				r.garbled += r.garbledPerSec
				r.record(r.e.Status(r.now, vitals.Status{Sensor: oxi, Frames: r.frames, Garbled: r.garbled}))
			}
			n := uint64(r.now.Sub(t0) / time.Second) // the module's answers to polls
			r.record(r.e.Status(r.now, vitals.Status{Sensor: cuff, Frames: n, Valid: n}))
		}
		if r.pending != "" && !r.now.Before(r.doneAt) {
			res := r.bpAuto
			if len(r.bp) > 0 {
				res, r.bp = r.bp[0], r.bp[1:]
			}
			res.Sensor, res.Request = cuff, r.pending
			r.pending = ""
			r.record(r.e.Result(r.now, res))
		}
		r.record(r.e.Tick(r.now))
	}
}

// cmd sends a command from the station now.
func (r *rig) cmd(action string, mod ...func(*Command)) []Event {
	r.cmdN++
	c := Command{Command: wire.Command{V: 1, ID: fmt.Sprintf("c%d", r.cmdN), T: wire.At(r.now), Action: action, By: "nurse@station"}}
	for _, m := range mod {
		m(&c)
	}
	evs := r.e.Command(r.now, c)
	out := append([]Event(nil), evs...)
	r.record(evs)
	return out
}

// mark returns the log length, to look at what came after.
func (r *rig) mark() int { return len(r.log) }

// since returns the log lines after mark that contain any of the filters.
func (r *rig) since(mark int, filters ...string) []string {
	var out []string
	for _, l := range r.log[mark:] {
		for _, f := range filters {
			if strings.Contains(l, f) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// expect compares log lines exactly and prints both lists on a mismatch.
func expect(t testing.TB, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n  got:\n    %s\n  want:\n    %s", strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
}

// startSession starts a session by command and runs the first NIBP.
func (r *rig) startSession() {
	r.t.Helper()
	if evs := r.cmd(wire.ActionSessionStart); !replyOK(evs) {
		r.t.Fatalf("session_start refused: %v", evs)
	}
}

func replyOK(evs []Event) bool {
	for _, ev := range evs {
		if rep, ok := ev.(wire.Reply); ok {
			return rep.OK
		}
	}
	return false
}

func replyErr(evs []Event) string {
	for _, ev := range evs {
		if rep, ok := ev.(wire.Reply); ok {
			return rep.Error
		}
	}
	return "(no reply)"
}

// lastAlarm finds the last published payload of a condition.
func (r *rig) lastAlarm(cond string) (wire.Alarm, bool) {
	for i := len(r.evs) - 1; i >= 0; i-- {
		if a, ok := r.evs[i].(wire.Alarm); ok && a.Condition == cond {
			return a, true
		}
	}
	return wire.Alarm{}, false
}

func (r *rig) currentAlarmID(cond string) string {
	r.t.Helper()
	a, ok := r.lastAlarm(cond)
	if !ok || a.Phase == wire.PhaseEnd {
		r.t.Fatalf("no current %s alarm", cond)
	}
	return a.ID
}
