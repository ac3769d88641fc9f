package monitor

import (
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// twin runs two engines on the same inputs at the same times: ref ticks
// every TickEvery as the engine's contract always allowed, lazy only when
// NextDeadline says something is due. Every step's events must be the same:
// a tick skipped by lazy would have changed nothing.
type twin struct {
	t         *testing.T
	ref, lazy *Engine
	now       time.Time
	refEvs    []Event // this step's events
	lazyEvs   []Event
	refTicks  int
	lazyTicks int
	cmdN      int
	nibp      string // running request
	nibpDone  time.Time
	seen      map[string]int // events by kind, to see what a scenario covered
	lastDL    time.Time
}

func newTwin(t *testing.T, cfg Config) *twin {
	t.Helper()
	ref, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	lazy, _ := New(cfg, t0)
	return &twin{t: t, ref: ref, lazy: lazy, now: t0}
}

// both gives one input to both engines.
func (w *twin) both(f func(e *Engine) []Event) {
	w.refEvs = append(w.refEvs, f(w.ref)...)
	w.lazyEvs = append(w.lazyEvs, f(w.lazy)...)
}

// step ends a TickEvery step: ticks, then compares.
func (w *twin) step() {
	w.t.Helper()
	w.refEvs = append(w.refEvs, w.ref.Tick(w.now)...)
	w.refTicks++
	w.lastDL = w.lazy.NextDeadline()
	if !w.now.Before(w.lastDL) {
		w.lazyEvs = append(w.lazyEvs, w.lazy.Tick(w.now)...)
		w.lazyTicks++
	}
	if !reflect.DeepEqual(w.refEvs, w.lazyEvs) {
		w.t.Fatalf("at %s (lazy's deadline %s, its now %s) the engines diverge:\n  ticking every %v:\n    %s\n  ticking at NextDeadline:\n    %s",
			w.now.Sub(t0), w.lastDL.Sub(t0), w.lazy.now.Sub(t0), TickEvery, describeAll(w.refEvs), describeAll(w.lazyEvs))
	}
	for _, ev := range w.refEvs {
		if s, ok := ev.(NIBPStart); ok {
			w.nibp, w.nibpDone = s.Request, w.now.Add(30*time.Second+time.Duration(len(s.Request)*7%10)*TickEvery)
		}
		if a, ok := ev.(NIBPAbort); ok && a.Request == w.nibp {
			w.nibp = ""
		}
	}
	for _, ev := range w.refEvs {
		if w.seen == nil {
			w.seen = map[string]int{}
		}
		switch v := ev.(type) {
		case wire.Alarm:
			w.seen["alarm "+v.Condition+" "+v.Phase]++
			if strings.Contains(v.Message, "escalated") {
				w.seen["escalated"]++
			}
		case Reminder:
			w.seen["reminder"]++
		case wire.Session:
			w.seen["session "+v.Phase]++
		case NIBPStart:
			w.seen["nibp start"]++
		case NIBPAbort:
			w.seen["nibp abort"]++
		}
	}
	w.refEvs, w.lazyEvs = w.refEvs[:0], w.lazyEvs[:0]
	w.now = w.now.Add(TickEvery)
}

func describeAll(evs []Event) string {
	var out []string
	for _, ev := range evs {
		s := describe(ev)
		if s == "" {
			s = fmt.Sprintf("%T %+v", ev, ev)
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n    ")
}

func (w *twin) cmd(action string, mod func(*Command)) {
	w.cmdN++
	c := Command{Command: wire.Command{V: 1, ID: fmt.Sprintf("c%d", w.cmdN), T: wire.At(w.now), Action: action, By: "nurse@station"}}
	if mod != nil {
		mod(&c)
	}
	w.both(func(e *Engine) []Event { return e.Command(w.now, c) })
}

// patient plays a session with random excursions: desaturations, pulse
// swings, probe off, poor signal, silences, garbled frames, NIBP results
// good, bad and high, and a nurse who acknowledges, pauses the audio and
// moves the phases on.
func (w *twin) patient(rng *rand.Rand, d time.Duration) {
	spo2, pulse := int16(97), int16(72)
	var flags vitals.Flag
	var silentUntil time.Time
	var frames, garbled uint64
	garbling := 0
	end := w.now.Add(d)
	for sec := 0; w.now.Before(end); sec++ {
		// A new second: maybe change the patient.
		switch r := rng.Intn(100); {
		case r < 4:
			spo2 = int16(80 + rng.Intn(12)) // a desaturation
		case r < 10:
			spo2 = int16(93 + rng.Intn(6))
		case r < 13:
			pulse = int16(35 + rng.Intn(20))
		case r < 16:
			pulse = int16(115 + rng.Intn(35))
		case r < 22:
			pulse = int16(60 + rng.Intn(30))
		case r < 24:
			flags = vitals.ProbeOff
		case r < 26:
			flags = vitals.Artifact
		case r < 32:
			flags = 0
		case r < 33:
			silentUntil = w.now.Add(time.Duration(5+rng.Intn(30)) * time.Second)
		case r < 34:
			garbling = 5 + rng.Intn(20)
		}
		var cmds []func()
		if rng.Intn(200) == 0 {
			cmds = append(cmds, func() { w.cmd(wire.ActionAck, func(c *Command) { c.Alarm = "*" }) })
		}
		if rng.Intn(400) == 0 {
			cmds = append(cmds, func() { w.cmd(wire.ActionPauseAudio, nil) })
		}
		if rng.Intn(600) == 0 {
			cmds = append(cmds, func() { w.cmd(wire.ActionNIBPNow, nil) })
		}
		if rng.Intn(300) == 0 {
			cmds = append(cmds, func() { w.cmd(wire.ActionInfusionStart, func(c *Command) { c.Override = true }) })
		}
		if rng.Intn(4000) == 0 {
			cmds = append(cmds, func() { w.cmd(wire.ActionInfusionEnd, nil) })
		}
		// The second's ten steps: values at a random step, counts at
		// another, commands at a third, so that what they time is off the
		// vitals' second.
		at, counts, cmdAt := rng.Intn(10), rng.Intn(10), rng.Intn(10)
		for i := 0; i < 10; i++ {
			if i == cmdAt {
				for _, c := range cmds {
					c()
				}
			}
			if i == at && !w.now.Before(silentUntil) {
				r1 := vitals.Reading{Sensor: oxi, Param: vitals.SpO2, Value: spo2, Flags: flags}
				r2 := vitals.Reading{Sensor: oxi, Param: vitals.Pulse, Value: pulse, Flags: flags}
				if flags.Has(vitals.ProbeOff) {
					r1.Value, r2.Value = vitals.NoValue, vitals.NoValue
				}
				w.both(func(e *Engine) []Event { return e.Reading(w.now, r1) })
				w.both(func(e *Engine) []Event { return e.Reading(w.now, r2) })
			}
			if i == counts {
				if w.now.Before(silentUntil) {
					frames += 0
				} else {
					frames += 75
				}
				if garbling > 0 {
					garbling--
					garbled += uint64(10 + rng.Intn(60))
				}
				s1 := vitals.Status{Sensor: oxi, Frames: frames, Garbled: garbled}
				s2 := vitals.Status{Sensor: cuff, Frames: uint64(sec), Valid: uint64(sec)}
				w.both(func(e *Engine) []Event { return e.Status(w.now, s1) })
				w.both(func(e *Engine) []Event { return e.Status(w.now, s2) })
			}
			if w.nibp != "" && !w.now.Before(w.nibpDone) {
				res := vitals.Result{Sensor: cuff, Request: w.nibp, Systolic: int16(100 + rng.Intn(80)), Diastolic: int16(60 + rng.Intn(40)), Mean: 90, Pulse: pulse}
				switch rng.Intn(6) {
				case 0:
					res = vitals.Result{Sensor: cuff, Request: w.nibp, Failure: "cuff leak"}
				case 1:
					w.nibpDone = w.now.Add(5 * time.Minute) // never answers: the engine times it out
				}
				if w.now.Before(w.nibpDone) {
					w.step()
					continue
				}
				w.nibp = ""
				w.both(func(e *Engine) []Event { return e.Result(w.now, res) })
			}
			w.step()
		}
	}
}

// TestNextDeadline: whatever happens in a session, ticking only at the
// engine's NextDeadline gives exactly the events of ticking every TickEvery,
// with far fewer ticks.
func TestNextDeadline(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"shipped", func(*Config) {}},
		{"same limb", func(c *Config) { c.Sensors[cuff].SameLimb = true }},
		{"no auto start", func(c *Config) { c.Protocol.AutoStartAfter = 0 }},
	} {
		for seed := int64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/%d", c.name, seed), func(t *testing.T) {
				cfg := rigConfig(shippedProtocol(t))
				c.mod(&cfg)
				w := newTwin(t, cfg)
				rng := rand.New(rand.NewSource(seed))
				// Idle with valid values: auto start (if on), else by command.
				w.patient(rand.New(rand.NewSource(0)), 45*time.Second)
				if !w.ref.Phase().InSession() {
					w.cmd(wire.ActionSessionStart, nil)
				}
				w.patient(rng, 2*time.Hour)
				w.cmd(wire.ActionSessionEnd, nil)
				w.patient(rng, time.Minute)
				if w.lazyTicks*4 > w.refTicks {
					t.Errorf("lazy engine ticked %d times of %d: NextDeadline is too eager", w.lazyTicks, w.refTicks)
				}
				t.Logf("%d of %d ticks; events %v", w.lazyTicks, w.refTicks, w.seen)
			})
		}
	}
}
