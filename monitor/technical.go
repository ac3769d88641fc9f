package monitor

import (
	"fmt"
	"strconv"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// Technical condition names (CONTRACT §3).
const (
	condProbeOff        = "spo2_probe_off"
	condSignalPoor      = "spo2_signal_poor"
	condSilent          = "sensor_silent"
	condGarbled         = "sensor_garbled"
	condNIBPFailed      = "nibp_failed"
	condNIBPOverdue     = "nibp_overdue"
	condInfusionTime    = "infusion_time_reached"
	condObservationDone = "observation_complete"
	condGate            = "baseline_bp_above_gate"
)

// External conditions: the daemon detects them and tells the engine, which
// owns their alarms like any other. They are always on, even when idle.
const (
	LinkDown         = "link_down"
	StoreFault       = "store_fault"
	AnnunciatorFault = "annunciator_fault"
	ClockUnsynced    = "clock_unsynced"
)

var externalPriority = map[string]protocol.Priority{
	LinkDown: protocol.Low, StoreFault: protocol.High, AnnunciatorFault: protocol.High, ClockUnsynced: protocol.Low,
}

// technical holds the timers of the oximeter's technical conditions.
type technical struct {
	probeOffSince time.Time
	poorSince     time.Time
}

// oximeterStatus follows the probe-off and poor-signal timers from each SpO2
// reading's flags.
func (e *Engine) oximeterStatus(r vitals.Reading) {
	probeOff := r.Flags.Has(vitals.ProbeOffFlags)
	// No value without a probe-off flag (searching, missing) counts as a poor
	// signal: a long search must not be silent.
	poor := !probeOff && (r.Flags.Has(vitals.PoorSignalFlags|vitals.Searching) || r.Value < 0)
	t := &e.tech
	switch {
	case probeOff && t.probeOffSince.IsZero():
		t.probeOffSince = e.now
	case !probeOff && !t.probeOffSince.IsZero():
		t.probeOffSince = time.Time{}
		e.end(condProbeOff)
	}
	switch {
	case poor && t.poorSince.IsZero():
		t.poorSince = e.now
	case !poor && !t.poorSince.IsZero():
		t.poorSince = time.Time{}
		e.end(condSignalPoor)
	}
	if e.sess.Phase.InSession() {
		e.tickOximeter()
	}
}

// tickOximeter raises the oximeter conditions whose time has come.
func (e *Engine) tickOximeter() {
	if e.spo2Held() {
		return
	}
	t := &e.tech
	if !t.probeOffSince.IsZero() && e.now.Sub(t.probeOffSince) >= probeOffDelay {
		e.raiseTechnical(condProbeOff, condProbeOff, protocol.Medium, func() string {
			return fmt.Sprintf("SpO2 probe off or sensor alarm for %s", formatDuration(probeOffDelay))
		})
	}
	if !t.poorSince.IsZero() && e.now.Sub(t.poorSince) >= poorSignalDelay {
		e.raiseTechnical(condSignalPoor, condSignalPoor, protocol.Low, func() string {
			return fmt.Sprintf("SpO2 signal poor (artifact, searching or low perfusion) for %s", formatDuration(poorSignalDelay))
		})
	}
}

// raiseTechnical raises a session technical condition unless it is already
// present at that priority (so a condition that lasts costs nothing).
func (e *Engine) raiseTechnical(key, condition string, prio protocol.Priority, msg func() string) {
	if a := e.findKey(key); a != nil && a.Present && a.Level == prio {
		return
	}
	e.raise(key, condition, wire.KindTechnical, true, prio, false, wire.Num{}, wire.Num{}, msg())
}

// sensorState is what the engine knows of one sensor's stream.
type sensorState struct {
	// lastData is the last validated data: a reading, a result, a Status
	// whose Valid grew. Not a frame that merely passed its checksum: random
	// bytes at a real line's rate pass one now and then, and must not hide
	// a sensor that sends nothing else.
	lastData     time.Time
	sessionStart time.Time // silence is timed from here at the earliest
	frames       uint64    // the driver's last cumulative counts
	garbled      uint64
	valid        uint64
	window       [garbledWindow]countBucket
	silentKey    string // alarm keys, made once: a tick allocates nothing
	garbledKey   string
}

func newSensorStates(n int) []sensorState {
	st := make([]sensorState, n)
	for i := range st {
		st[i].silentKey = condSilent + "#" + strconv.Itoa(i)
		st[i].garbledKey = condGarbled + "#" + strconv.Itoa(i)
	}
	return st
}

// countBucket holds one second's frame counts.
type countBucket struct {
	sec     int64
	frames  uint64
	garbled uint64
}

// sensorCounts takes a driver's cumulative counts and judges sensor_garbled
// over the last 30 seconds; only validated frames (Valid) count as data for
// sensor_silent.
func (e *Engine) sensorCounts(s vitals.Status) {
	st := &e.sensors[s.Sensor]
	df, dg, dv := s.Frames-st.frames, s.Garbled-st.garbled, s.Valid-st.valid
	if s.Frames < st.frames || s.Garbled < st.garbled || s.Valid < st.valid { // the driver restarted its counts
		df, dg, dv = s.Frames, s.Garbled, s.Valid
	}
	st.frames, st.garbled, st.valid = s.Frames, s.Garbled, s.Valid
	if dv > 0 {
		st.lastData = e.now
	}
	sec := e.now.Unix()
	b := &st.window[sec%garbledWindow]
	if b.sec != sec {
		*b = countBucket{sec: sec}
	}
	b.frames += df
	b.garbled += dg
	if e.sess.Phase.InSession() {
		e.judgeGarbled(s.Sensor)
	}
}

func (e *Engine) judgeGarbled(i int) {
	st := &e.sensors[i]
	var frames, garbled uint64
	sec := e.now.Unix()
	for _, b := range st.window {
		if sec-b.sec < garbledWindow {
			frames += b.frames
			garbled += b.garbled
		}
	}
	key := st.garbledKey
	total := frames + garbled
	// Over garbledPercent it starts; once raised it holds down to half of
	// it (hysteresis), so a line hovering near the threshold does not start
	// and end the alarm every few seconds.
	scale := uint64(100)
	if e.present(key) {
		scale = 200
	}
	// Too few frames judge no share (a sensor just back from a silent
	// spell, a module polled every few seconds): no alarm.
	if total >= garbledMinFrames && garbled*scale > garbledPercent*total {
		e.raiseTechnical(key, condGarbled, protocol.Low, func() string {
			return fmt.Sprintf("%s: %d of %d frames garbled in the last %ds", e.cfg.Sensors[i].Source, garbled, total, garbledWindow)
		})
	} else {
		e.end(key)
	}
}

// tickSensors times each sensor's silence (the engine, not the driver, does
// this: a stuck driver cannot report its own silence) and re-judges the
// garbled-frame window as it slides.
func (e *Engine) tickSensors() {
	for i, s := range e.cfg.Sensors {
		st := &e.sensors[i]
		key := st.silentKey
		if s.StaleAfter > 0 {
			ref := st.lastData
			if st.sessionStart.After(ref) {
				ref = st.sessionStart
			}
			if e.now.Sub(ref) >= s.StaleAfter {
				e.raiseTechnical(key, condSilent, protocol.Medium, func() string {
					return fmt.Sprintf("%s sent no valid data for %s", s.Source, formatDuration(e.now.Sub(ref)))
				})
			} else {
				e.end(key)
			}
		}
		e.judgeGarbled(i)
	}
}

// External sets an always-on technical condition the daemon detects
// (LinkDown, StoreFault, AnnunciatorFault, ClockUnsynced), with a message
// saying what is wrong.
func (e *Engine) External(now time.Time, condition string, present bool, message string) []Event {
	e.begin(now)
	prio, ok := externalPriority[condition]
	if ok {
		if present {
			if a := e.findKey(condition); a == nil || !a.Present || a.Message != message {
				e.raise(condition, condition, wire.KindTechnical, false, prio, false, wire.Num{}, wire.Num{}, message)
			}
		} else {
			e.end(condition)
		}
	}
	return e.finish()
}
