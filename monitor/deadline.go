package monitor

import (
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/wire"
)

// NextDeadline is the earliest time at which Tick may have something to do,
// given the engine's state after its last step: the next vitals second, a
// condition delay or technical delay ending, a sensor going silent, the NIBP
// schedule, a phase reminder, an escalation, an acknowledged alarm's
// reminder, the end of an audio pause. A Tick before it changes nothing, so
// a loop may sleep until it (RunLoop does, at most MaxTickEvery) instead of
// ticking every TickEvery. It errs early, never late: a time at or before
// the engine's now means "tick now". It mirrors the tick functions (Tick's
// parts, in order) and must be kept in step with them; TestNextDeadline runs
// sessions both ways and compares every event.
func (e *Engine) NextDeadline() time.Time {
	d := deadline{now: e.now}
	e.autoStartDeadline(&d)
	if e.sess.Phase.InSession() {
		d.at(e.nextVit) // publishVitals
		e.continuousDeadline(&d)
		e.oximeterDeadline(&d)
		e.sensorsDeadline(&d)
		e.nibpDeadline(&d)
		if spec := e.proto.Phases[e.sess.Phase]; spec.Duration > 0 && !e.sess.Reminded[e.sess.Phase] { // tickPhase
			d.at(e.sess.PhaseStarted.Add(spec.Duration))
		}
		if e.sess.Phase == protocol.Observation && e.sess.Reminded[protocol.Observation] { // rejudgeDischarge
			d.at(e.nextDischarge)
		}
	}
	e.alarmsDeadline(&d)
	return d.next
}

// deadline collects the earliest of the candidate times.
type deadline struct {
	now  time.Time
	next time.Time // zero: none yet
}

func (d *deadline) at(t time.Time) {
	if d.next.IsZero() || t.Before(d.next) {
		d.next = t
	}
}

// after is for a condition checked with '>' rather than '>=': t is the
// first instant it holds at.
func (d *deadline) after(t time.Time) { d.at(t.Add(1)) }

// dueNow asks for a tick at once.
func (d *deadline) dueNow() { d.at(d.now) }

// raiseAt is a timed raiseTechnical: due at t, and already done once the
// alarm is present at that priority.
func (e *Engine) raiseAt(d *deadline, t time.Time, key string, prio protocol.Priority) {
	if t.After(d.now) {
		d.at(t)
	} else if a := e.findKey(key); a == nil || !a.Present || a.Level != prio {
		d.dueNow()
	}
}

// present reports whether the alarm of key is present (Tick's e.end would
// end it).
func (e *Engine) present(key string) bool {
	a := e.findKey(key)
	return a != nil && a.Present
}

func (e *Engine) autoStartDeadline(d *deadline) {
	wait := e.proto.AutoStartAfter
	if e.sess.Phase != protocol.Idle || wait <= 0 || !e.auto.armed || e.auto.validSince.IsZero() {
		return
	}
	d.after(e.auto.lastValid.Add(freshness)) // the stream stopped
	d.at(e.auto.validSince.Add(wait))
}

// continuousDeadline: tickContinuous completes condition delays.
func (e *Engine) continuousDeadline(d *deadline) {
	held := e.spo2Held()
	if e.nibp.sameLimb && e.nibp.HoldUntil.After(e.now) {
		d.at(e.nibp.HoldUntil) // SpO2 conditions and oximeter alarms resume
	}
	for _, pc := range e.phys {
		if pc.cond.Measure.IsNIBP() || pc.judged.IsZero() || e.now.Sub(pc.judged) > freshness {
			continue
		}
		if held && pc.cond.Measure == protocol.SpO2 {
			continue
		}
		for i := range pc.levels {
			l := &pc.levels[i]
			if l.met || l.pending.IsZero() {
				continue
			}
			// Only while the last value is fresh; after that the delay
			// waits for a new reading (an input, which the loop handles).
			if t := l.pending.Add(l.limit.Delay); t.Sub(pc.judged) <= freshness {
				d.at(t)
			}
		}
	}
}

// oximeterDeadline: tickOximeter's probe-off and poor-signal delays.
func (e *Engine) oximeterDeadline(d *deadline) {
	if e.spo2Held() {
		return // continuousDeadline has the hold's end
	}
	t := &e.tech
	if !t.probeOffSince.IsZero() {
		e.raiseAt(d, t.probeOffSince.Add(probeOffDelay), condProbeOff, protocol.Medium)
	}
	if !t.poorSince.IsZero() {
		e.raiseAt(d, t.poorSince.Add(poorSignalDelay), condSignalPoor, protocol.Low)
	}
}

// sensorsDeadline: tickSensors' silence and the sliding garbled window.
func (e *Engine) sensorsDeadline(d *deadline) {
	for i, s := range e.cfg.Sensors {
		st := &e.sensors[i]
		if s.StaleAfter > 0 {
			ref := st.lastData
			if st.sessionStart.After(ref) {
				ref = st.sessionStart
			}
			if t := ref.Add(s.StaleAfter); t.After(e.now) {
				if e.present(st.silentKey) {
					d.dueNow() // data came back: the tick ends it
				} else {
					d.at(t)
				}
			} else {
				e.raiseAt(d, t, st.silentKey, protocol.Medium)
			}
		}
		// judgeGarbled depends on the clock's second only, so a tick in
		// the second after the last tick's; nothing can change while the
		// window holds no garbled frame and no alarm.
		busy := e.present(st.garbledKey)
		sec := e.now.Unix()
		for _, b := range st.window {
			if sec-b.sec < garbledWindow && b.garbled > 0 {
				busy = true
			}
		}
		if busy {
			d.at(time.Unix(e.ticked.Unix()+1, 0))
		}
	}
}

// nibpDeadline: tickNIBP's time-out, next start and overdue alarm.
func (e *Engine) nibpDeadline(d *deadline) {
	if e.nibpIdx < 0 {
		return
	}
	n := &e.nibp
	if n.InFlight != "" {
		d.at(n.Started.Add(nibpNoResult))
	} else if !n.Next.IsZero() {
		t := n.Next
		if !n.Started.IsZero() {
			if g := n.Started.Add(e.proto.MinNIBPGap); g.After(t) {
				t = g
			}
		}
		d.at(t)
	}
	if every := e.proto.Phases[e.sess.Phase].NIBPEvery; every > 0 {
		e.raiseAt(d, n.LastSuccess.Add(every+nibpOverdueDue), condNIBPOverdue, protocol.Medium)
	}
}

// alarmsDeadline: tickAlarms' pause end, escalations and reminders.
func (e *Engine) alarmsDeadline(d *deadline) {
	if !e.pause.Until.IsZero() {
		d.at(e.pause.Until) // at or before now: it ends at the next tick
	}
	esc := e.proto.Alarm.EscalateAfter
	for _, a := range e.alarms {
		if esc > 0 && a.Kind == wire.KindPhysiological && a.Priority == protocol.Medium &&
			(a.State == stateActive || a.State == stateLatched) && !a.MediumAt.IsZero() {
			d.at(a.MediumAt.Add(esc))
		}
		if a.State == stateAcknowledged && !a.Remind.IsZero() {
			d.at(a.Remind)
		}
	}
}
