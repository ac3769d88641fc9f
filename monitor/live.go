package monitor

import (
	"time"

	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// Live is what the engine knows now, for `chairside status`: a copy that
// shares nothing with the engine, so it can be handed to another goroutine.
// Unlike Snapshot it holds the latest readings and each sensor's last data,
// and nothing needed to restore.
type Live struct {
	At           time.Time // the engine's time when it was taken
	Session      string    // "" when idle
	Encounter    string
	Phase        string
	Started      time.Time // the session's start; zero when idle
	PhaseStarted time.Time
	Alarms       wire.Alarms // the current alarms, as the retained alarms message
	Readings     []LiveReading
	Sensors      []LiveSensor
	NIBP         LiveNIBP
}

// LiveReading is the oximeter's latest reading of one parameter. Value is
// valid only when the reading carried a usable value (vitals.Reading.Valid);
// At is zero when none came since the daemon started.
type LiveReading struct {
	Param string
	Unit  string
	Value wire.Num
	Flags []string
	At    time.Time
}

// LiveSensor is one configured sensor: when it last gave validated data
// (zero: never since the daemon started) and its driver's frame counts.
type LiveSensor struct {
	Source   string
	Oximeter bool
	NIBP     bool
	LastData time.Time
	Frames   uint64
	Garbled  uint64
	Valid    uint64
}

// LiveNIBP is the blood-pressure schedule.
type LiveNIBP struct {
	Next        time.Time // the next measurement is due; zero when none is planned
	InFlight    bool      // a measurement is running
	Started     time.Time // when the running (or last) one started
	LastSuccess time.Time // the last good measurement, or the session's start
	Failures    int       // failures in a row
}

// Live captures what the engine knows now. It allocates: call it when it
// is asked for, or a few times a second, not on every reading.
func (e *Engine) Live() Live {
	l := Live{
		At: e.now, Session: e.sess.ID, Encounter: e.sess.Encounter, Phase: e.sess.Phase.String(),
		Started: e.sess.Started, PhaseStarted: e.sess.PhaseStarted, Alarms: e.alarmList(),
		Readings: make([]LiveReading, 0, vitals.NumParams), Sensors: make([]LiveSensor, len(e.sensors)),
		NIBP: LiveNIBP{Next: e.nibp.Next, InFlight: e.nibp.InFlight != "", Started: e.nibp.Started,
			LastSuccess: e.nibp.LastSuccess, Failures: e.nibp.Failures},
	}
	if e.oxi >= 0 {
		for p := vitals.Param(0); p < vitals.NumParams; p++ {
			r := e.latest[p]
			lr := LiveReading{Param: p.String(), Unit: p.Unit(), At: r.at, Flags: []string{}}
			if !r.at.IsZero() {
				if (vitals.Reading{Value: r.value, Flags: r.flags}).Valid() {
					lr.Value = wire.N(float64(r.value))
				}
				lr.Flags = (r.flags | e.cfg.Sensors[e.oxi].Flags).Names()
			}
			l.Readings = append(l.Readings, lr)
		}
	}
	for i, s := range e.sensors {
		c := e.cfg.Sensors[i]
		l.Sensors[i] = LiveSensor{Source: c.Source, Oximeter: c.Roles&RoleOximeter != 0, NIBP: c.Roles&RoleNIBP != 0,
			LastData: s.lastData, Frames: s.frames, Garbled: s.garbled, Valid: s.valid}
	}
	return l
}
