package monitor

import (
	"fmt"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/wire"
)

// alarmState is one of the four states of CONTRACT §3.
type alarmState uint8

const (
	stateActive       alarmState = iota + 1 // condition present, sounds unless paused
	stateAcknowledged                       // condition present, silent, reminds
	stateLatched                            // condition gone, sounds until acknowledged
	stateCleared                            // final
)

var stateNames = [...]string{"", "active", "acknowledged", "latched", "cleared"}

func (s alarmState) String() string { return stateNames[s] }

// alarm is one alarm from its start to its end. Conditions change it through
// set and end; reconcileAlarms publishes what changed.
type alarm struct {
	ID        string
	Condition string // as published
	Key       string // unique among current alarms: condition, or condition#sensor
	Kind      string
	Session   string // the session it belongs to; "" for an always-on alarm raised in idle
	Scoped    bool   // ends with the session
	Priority  protocol.Priority
	MaxPrio   protocol.Priority // the highest it reached, for the summary
	State     alarmState
	Present   bool              // the condition is present
	Latch     bool              // ends as latched, not cleared
	LatchPrio protocol.Priority // the highest latching level met since the last ack
	Level     protocol.Priority // the level the condition last reported
	Escalated bool
	Value     wire.Num
	Limit     wire.Num
	Message   string
	AckedBy   string
	Started   time.Time
	AckedAt   time.Time
	AckedPrio protocol.Priority // the priority acknowledged; only a rise above it sounds again
	Remind    time.Time         // next reminder while acknowledged
	MediumAt  time.Time         // since when unacknowledged at medium (escalation)

	pub      published // what subscribers last saw
	pubPhase string    // the phase of the last publication
}

// published is the part of an alarm whose change makes an "update".
type published struct {
	done     bool
	priority protocol.Priority
	state    alarmState
	present  bool
	audio    string
	message  string
}

// raise makes the condition key present at level prio, creating the alarm or
// updating the current one. latch says the level latches. The alarm's priority
// is the level, or higher if a latching level or escalation raised it. A
// rise above the priority that was acknowledged makes an acknowledged alarm
// sound again: the nurse acknowledged something less urgent.
func (e *Engine) raise(key, condition, kind string, scoped bool, level protocol.Priority, latch bool, value, limit wire.Num, msg string) *alarm {
	a := e.findKey(key)
	if a == nil {
		e.ids.Alarm++
		a = &alarm{
			ID: fmt.Sprintf("a-%d-%d", e.cfg.Boot, e.ids.Alarm), Condition: condition, Key: key, Kind: kind,
			Session: e.sess.ID, Scoped: scoped, State: stateActive, Started: e.now,
		}
		e.alarms = append(e.alarms, a)
	}
	if a.State == stateLatched {
		a.State = stateActive // the condition came back before anyone acknowledged
	}
	a.Level = level
	prio := level
	if a.Escalated {
		prio = max(prio, protocol.High)
	}
	// Acknowledged leaves only when the condition ends: a level that comes
	// back to the priority the nurse acknowledged stays silent; only a rise
	// above it sounds again.
	if a.State == stateAcknowledged && prio > max(a.Priority, a.AckedPrio) {
		a.State, a.AckedBy, a.AckedAt, a.AckedPrio = stateActive, "", time.Time{}, protocol.None
	}
	// While acknowledged the latch stays answered: the alarm ends with its
	// condition.
	if latch && level > a.LatchPrio && a.State != stateAcknowledged {
		a.LatchPrio = level
	}
	prio = max(prio, a.LatchPrio)
	if prio != a.Priority || !a.Present || a.Message == "" {
		a.Value, a.Limit, a.Message = value, limit, msg
	}
	if prio != a.Priority {
		a.MediumAt = time.Time{}
		if prio == protocol.Medium {
			a.MediumAt = e.now
		}
	}
	a.Priority = prio
	if prio > a.MaxPrio {
		a.MaxPrio = prio
	}
	a.Present = true
	a.Latch = a.LatchPrio > protocol.None
	e.changed = true
	e.markDirty(StateChanged)
	return a
}

// end says the condition of key is gone: a non-latching alarm clears, a
// latching one latches until acknowledged, an acknowledged one clears.
func (e *Engine) end(key string) {
	a := e.findKey(key)
	if a == nil || !a.Present {
		return
	}
	a.Present = false
	switch {
	case a.State == stateAcknowledged || !a.Latch:
		a.State = stateCleared
	default:
		a.State = stateLatched
	}
	e.changed = true
	e.markDirty(StateChanged)
}

// clear ends an alarm whatever its state (session end).
func (e *Engine) clear(a *alarm) {
	a.Present, a.State = false, stateCleared
	e.changed = true
	e.markDirty(StateChanged)
}

func (e *Engine) findKey(key string) *alarm {
	for _, a := range e.alarms {
		if a.Key == key && a.State != stateCleared {
			return a
		}
	}
	return nil
}

func (e *Engine) findID(id string) *alarm {
	for _, a := range e.alarms {
		if a.ID == id && a.State != stateCleared {
			return a
		}
	}
	return nil
}

// acknowledge applies an ack: active → acknowledged (the sound stops and a
// reminder is scheduled), latched → cleared. It reports whether it changed
// anything.
func (e *Engine) acknowledge(a *alarm, by string) bool {
	switch a.State {
	case stateActive:
		a.State, a.AckedBy, a.AckedAt, a.AckedPrio = stateAcknowledged, by, e.now, a.Priority
		a.Remind = e.now.Add(e.proto.Alarm.AckReminder)
		a.Latch, a.LatchPrio = false, protocol.None // answered: it now ends with its condition
	case stateLatched:
		a.State, a.AckedBy, a.AckedAt = stateCleared, by, e.now
	default:
		return false
	}
	e.changed = true
	e.markDirty(StateChanged)
	return true
}

// audio says what a subscriber should hear from the alarm now.
func (e *Engine) audio(a *alarm) string {
	switch {
	case a.State == stateAcknowledged || a.State == stateCleared:
		return wire.AudioOff
	case e.pause.active(e.now) && a.Priority <= e.pause.Max:
		return wire.AudioPaused
	}
	return wire.AudioOn
}

// tickAlarms runs the alarm timers: escalation, reminders, the pause's end.
func (e *Engine) tickAlarms() {
	if !e.pause.Until.IsZero() && !e.pause.active(e.now) {
		e.pause = audioPause{}
		e.changed = true // audio goes back on: publish the updates
		e.markDirty(StateChanged)
	}
	esc := e.proto.Alarm.EscalateAfter
	for _, a := range e.alarms {
		if esc > 0 && a.Kind == wire.KindPhysiological && a.Priority == protocol.Medium &&
			(a.State == stateActive || a.State == stateLatched) && !a.MediumAt.IsZero() && e.now.Sub(a.MediumAt) >= esc {
			a.Priority, a.MaxPrio, a.Escalated = protocol.High, protocol.High, true
			a.Message = fmt.Sprintf("%s (unacknowledged %s: escalated)", a.Message, formatDuration(esc))
			a.MediumAt = time.Time{}
			e.changed = true
			e.markDirty(StateChanged)
		}
		if a.State == stateAcknowledged && !a.Remind.IsZero() && !e.now.Before(a.Remind) {
			e.emit(Reminder{Alarm: a.ID, Priority: a.Priority})
			a.Remind = nextAfter(a.Remind, e.now, e.proto.Alarm.AckReminder)
		}
	}
	if e.changed {
		e.reconcileAlarms()
		e.changed = false
	}
}

// reconcileAlarms publishes every alarm whose visible state changed (start,
// update, end), then the retained list once, and forgets cleared alarms.
func (e *Engine) reconcileAlarms() {
	any := false
	kept := e.alarms[:0]
	for _, a := range e.alarms {
		now := published{done: true, priority: a.Priority, state: a.State, present: a.Present, audio: e.audio(a), message: a.Message}
		if now != a.pub {
			phase := wire.PhaseUpdate
			switch {
			case !a.pub.done:
				phase = wire.PhaseStart
			case a.State == stateCleared:
				phase = wire.PhaseEnd
			}
			if !a.pub.done && a.State == stateCleared {
				phase = wire.PhaseEnd // started and ended within one step: still say both
				e.emit(e.alarmPayload(a, wire.PhaseStart))
			}
			e.emit(e.alarmPayload(a, phase))
			a.pub, a.pubPhase = now, phase
			any = true
		}
		if a.State == stateCleared {
			e.closeAlarm(a)
			continue
		}
		kept = append(kept, a)
	}
	for i := len(kept); i < len(e.alarms); i++ {
		e.alarms[i] = nil
	}
	e.alarms = kept
	if any {
		e.emit(e.alarmList())
	}
}

// closeAlarm counts a finished alarm into the session summary.
func (e *Engine) closeAlarm(a *alarm) {
	if a.Session != "" && a.Session == e.sess.ID {
		e.sess.countAlarm(a.Condition + "/" + a.MaxPrio.String())
	}
}

func (e *Engine) alarmPayload(a *alarm, phase string) wire.Alarm {
	p := wire.Alarm{
		Record: wire.Record{V: wire.Version}, T: wire.At(e.now), Session: a.Session,
		ID: a.ID, Condition: a.Condition, Kind: a.Kind, Priority: a.Priority.String(),
		Phase: phase, State: a.State.String(), ConditionActive: a.Present,
		Value: a.Value, Limit: a.Limit, Message: a.Message, Audio: e.audio(a), Started: wire.At(a.Started),
	}
	if a.AckedBy != "" {
		by := a.AckedBy
		p.AckedBy = &by
	}
	return p
}

func (e *Engine) alarmList() wire.Alarms {
	l := wire.Alarms{V: wire.Version, T: wire.At(e.now), Alarms: make([]wire.Alarm, 0, len(e.alarms))}
	if e.pause.active(e.now) {
		l.AudioPausedUntil = wire.At(e.pause.Until)
	}
	for _, a := range e.alarms {
		l.Alarms = append(l.Alarms, e.alarmPayload(a, a.pubPhase))
	}
	return l
}

// updateAnnunciation sends the lamp and buzzer state when it changes.
func (e *Engine) updateAnnunciation() {
	var want Annunciation
	for _, a := range e.alarms {
		if a.Priority > want.Lamp {
			want.Lamp = a.Priority
		}
		if e.audio(a) == wire.AudioOn && a.Priority > want.Tone {
			want.Tone = a.Priority
		}
	}
	want.Flashing = want.Lamp >= protocol.Medium
	if want != e.annunc {
		e.annunc = want
		e.emit(want)
	}
}

// audioPause is a running pause_audio.
type audioPause struct {
	Until time.Time
	Max   protocol.Priority // the highest priority paused; anything higher breaks through
}

func (p audioPause) active(now time.Time) bool { return !p.Until.IsZero() && now.Before(p.Until) }

// formatDuration prints a duration the way nurses read it: "2m", "90s", "1h5m".
func formatDuration(d time.Duration) string {
	h, m, s := hms(d)
	out := ""
	if h > 0 {
		out += fmt.Sprintf("%dh", h)
	}
	if m > 0 {
		out += fmt.Sprintf("%dm", m)
	}
	if s > 0 || out == "" {
		out += fmt.Sprintf("%ds", s)
	}
	return out
}

// nextAfter gives the first of from, from+every, from+2·every, ... that is
// after now, without stepping through a long gap one interval at a time.
func nextAfter(from, now time.Time, every time.Duration) time.Time {
	if every <= 0 {
		return now.Add(time.Second)
	}
	if from.After(now) {
		return from
	}
	n := now.Sub(from)/every + 1
	return from.Add(n * every)
}

// hms splits a duration, rounded to the second, into hours, minutes, seconds.
func hms(d time.Duration) (h, m, s int) {
	d = d.Round(time.Second)
	return int(d / time.Hour), int(d % time.Hour / time.Minute), int(d % time.Minute / time.Second)
}
