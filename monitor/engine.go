package monitor

import (
	"errors"
	"fmt"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// Role says what a sensor measures.
type Role uint8

// Roles; a simulated sensor may have both.
const (
	RoleOximeter Role = 1 << iota
	RoleNIBP
)

// Sensor describes one configured sensor. Readings, results and counts name
// it by its index in Config.Sensors.
type Sensor struct {
	Source     string        // published as "source": the driver name
	Roles      Role          // what it measures
	StaleAfter time.Duration // no data this long in a session raises sensor_silent
	SameLimb   bool          // NIBP only: the cuff is on the oximeter's limb
	Flags      vitals.Flag   // added to every record from it (uncalibrated, simulated)
}

// Config is what an Engine needs to know.
type Config struct {
	Protocol      *protocol.Protocol
	Sensors       []Sensor
	Remote        []string      // actions the station may send (CONTRACT §2 [commands] remote)
	MaxCommandAge time.Duration // older commands are refused
	Boot          uint64        // count of daemon starts, part of alarm and request ids
	// Chair names the chair in its session ids, so that two chairs starting
	// a session in the same second (same boot count, same counter) never
	// share an id: records systems key a session's records by it.
	Chair string
}

// Fixed timings of the contract, not configurable.
const (
	probeOffDelay    = 10 * time.Second // spo2_probe_off
	poorSignalDelay  = 30 * time.Second // spo2_signal_poor
	garbledWindow    = 30               // seconds over which sensor_garbled counts
	garbledPercent   = 5                // more than this share of bad frames; it ends at half of it
	garbledMinFrames = 40               // fewer frames in the window judge nothing
	nibpRetryAfter   = 60 * time.Second // one automatic retry after a failure
	nibpOverdueDue   = 2 * time.Minute  // nibp_every + this without success: nibp_overdue
	nibpNoResult     = 210 * time.Second
	sameLimbHold     = 30 * time.Second // SpO2 alarms held after an inflation on the same limb
	freshness        = 3 * time.Second  // a reading older than this is "no data"
	rememberedCmds   = 1024             // ids answered within their max_age; more: busy
)

// Engine is the monitor's state machine. Create one with New (or Restore) and
// feed it from a single goroutine.
type Engine struct {
	cfg     Config
	proto   *protocol.Protocol
	oxi     int // index of the oximeter sensor, -1 if none
	nibpIdx int // index of the NIBP sensor, -1 if none

	nextDischarge    time.Time // when observation_complete's discharge check is judged again
	dischargeVerdict uint8     // its last verdict (failedCriteria), to update the alarm only when it changes
	remote           map[string]bool

	now    time.Time
	ticked time.Time // the last Tick's now (NextDeadline)
	out    []Event

	sess     session
	ids      counters
	latest   [vitals.NumParams]latestReading
	phys     []*physCondition
	tech     technical
	sensors  []sensorState
	nibp     nibpSchedule
	alarms   []*alarm
	pause    audioPause
	annunc   Annunciation
	cmds     commandMemory
	auto     autoStart
	nextVit  time.Time
	changed  bool // an alarm changed in this step: reconcile before returning
	dirty    Dirty
	holdSpO2 bool
}

// counters make ids unique within a boot.
type counters struct {
	Alarm   uint64
	Request uint64
	Session uint64
}

type latestReading struct {
	at    time.Time
	value int16
	flags vitals.Flag
}

// Dirty says how urgently the state should be saved.
type Dirty uint8

// Dirty levels: statistics only (save now and then), or session and alarm
// state that must survive a power cut (save now).
const (
	Clean Dirty = iota
	StatsChanged
	StateChanged
)

// New makes an engine in the idle phase. now is the time it starts.
func New(cfg Config, now time.Time) (*Engine, error) {
	if cfg.Protocol == nil {
		return nil, errors.New("monitor: no protocol")
	}
	e := &Engine{cfg: cfg, proto: cfg.Protocol, oxi: -1, nibpIdx: -1, remote: map[string]bool{}, now: now}
	for i, s := range cfg.Sensors {
		if s.Roles&RoleOximeter != 0 {
			if e.oxi >= 0 {
				return nil, fmt.Errorf("monitor: sensors %d and %d are both oximeters; configure one", e.oxi+1, i+1)
			}
			e.oxi = i
		}
		if s.Roles&RoleNIBP != 0 {
			if e.nibpIdx >= 0 {
				return nil, fmt.Errorf("monitor: sensors %d and %d both measure NIBP; configure one", e.nibpIdx+1, i+1)
			}
			e.nibpIdx = i
		}
	}
	for _, a := range cfg.Remote {
		if !wire.IsAction(a) {
			return nil, fmt.Errorf("monitor: remote action %q is not an action", a)
		}
		e.remote[a] = true
	}
	if e.cfg.MaxCommandAge <= 0 {
		e.cfg.MaxCommandAge = 30 * time.Second
	}
	e.sensors = newSensorStates(len(cfg.Sensors))
	e.out = make([]Event, 0, 16)
	e.auto.armed = true
	if e.nibpIdx >= 0 {
		e.nibp.sameLimb = cfg.Sensors[e.nibpIdx].SameLimb
	}
	e.buildRules()
	return e, nil
}

// begin starts handling one input at time now. Time never goes back: an
// earlier now (a clock step) is taken as the last time seen.
func (e *Engine) begin(now time.Time) {
	e.out = e.out[:0]
	if now.After(e.now) {
		e.now = now
	}
}

// finish runs what every input ends with: publish changed alarms and the
// annunciator state.
func (e *Engine) finish() []Event {
	if e.changed {
		e.reconcileAlarms()
		e.changed = false
	}
	e.updateAnnunciation()
	return e.out
}

func (e *Engine) emit(ev Event) { e.out = append(e.out, ev) }

func (e *Engine) markDirty(d Dirty) {
	if d > e.dirty {
		e.dirty = d
	}
}

// TakeDirty reports how urgently the state should be saved since the last
// call, and resets it. The daemon saves a Snapshot when it is not Clean.
func (e *Engine) TakeDirty() Dirty {
	d := e.dirty
	e.dirty = Clean
	return d
}

// Phase is the current session phase.
func (e *Engine) Phase() protocol.Phase { return e.sess.Phase }

// SessionID is the current session's id, "" when idle.
func (e *Engine) SessionID() string { return e.sess.ID }

// Reading handles one oximeter value.
func (e *Engine) Reading(now time.Time, r vitals.Reading) []Event {
	e.begin(now)
	if r.Sensor >= 0 && r.Sensor < len(e.sensors) {
		e.sensors[r.Sensor].lastData = e.now
	}
	if r.Sensor == e.oxi && r.Param < vitals.NumParams {
		e.latest[r.Param] = latestReading{at: e.now, value: r.Value, flags: r.Flags}
		if r.Param == vitals.SpO2 {
			e.oximeterStatus(r)
			e.autoStartReading(r)
		}
		if e.sess.Phase.InSession() {
			e.evaluateContinuous(r)
		}
	}
	return e.finish()
}

// Status handles a driver's running frame counts.
func (e *Engine) Status(now time.Time, s vitals.Status) []Event {
	e.begin(now)
	if s.Sensor >= 0 && s.Sensor < len(e.sensors) {
		e.sensorCounts(s)
	}
	return e.finish()
}

// Result handles the outcome of an NIBP measurement.
func (e *Engine) Result(now time.Time, r vitals.Result) []Event {
	e.begin(now)
	if r.Sensor >= 0 && r.Sensor < len(e.sensors) {
		e.sensors[r.Sensor].lastData = e.now
	}
	e.nibpResult(r)
	return e.finish()
}

// Tick advances time: vitals each second, condition delays, the NIBP schedule,
// phase reminders, escalation, reminders and the end of an audio pause. Call
// it at least every 100 ms, or when NextDeadline says.
func (e *Engine) Tick(now time.Time) []Event {
	e.begin(now)
	e.ticked = e.now
	e.autoStartTick()
	if e.sess.Phase.InSession() {
		e.publishVitals()
		e.tickContinuous()
		e.tickOximeter()
		e.tickSensors()
		e.tickNIBP()
		e.tickPhase()
	}
	e.tickAlarms()
	return e.finish()
}
