package monitor

import (
	"fmt"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// session is everything about the running session that must survive a power
// cut. Its fields are exported for the snapshot.
type session struct {
	ID             string
	Encounter      string
	Phase          protocol.Phase
	Started        time.Time
	PhaseStarted   time.Time
	PhaseSpan      [protocol.NumPhases][2]time.Time // start and end of each phase
	GateOverrideBy string
	Baseline       wire.Baseline
	Limits         []protocol.Limit // set by `limits` commands, this session only
	Marks          []wire.Mark
	Reminded       [protocol.NumPhases]bool // infusion_time_reached / observation_complete raised

	BaseSpO2, SessSpO2   histogram // per-second values: baseline phase and whole session
	BasePulse, SessPulse histogram
	NIBPCount            int
	SystolicMax          wire.Num
	DiastolicMax         wire.Num
	AlarmCounts          map[string]int
	OutOfRange           map[string]time.Duration
}

// maxMarks bounds the marks kept in a session (and its summary).
const maxMarks = 200

func (s *session) countAlarm(key string) {
	if s.AlarmCounts == nil {
		s.AlarmCounts = map[string]int{}
	}
	s.AlarmCounts[key]++
}

func (s *session) addOutOfRange(cond string, d time.Duration) {
	if s.OutOfRange == nil {
		s.OutOfRange = map[string]time.Duration{}
	}
	s.OutOfRange[cond] += d
}

// baseline gives the session's baseline for a measure, if known.
func (s *session) baseline(m protocol.Measure) (float64, bool) {
	var n wire.Num
	switch m {
	case protocol.SpO2:
		n = s.Baseline.SpO2
	case protocol.Pulse:
		n = s.Baseline.Pulse
	case protocol.Systolic:
		n = s.Baseline.Systolic
	case protocol.Diastolic:
		n = s.Baseline.Diastolic
	}
	return n.V, n.Valid
}

// startSession begins a session in the baseline phase.
func (e *Engine) startSession(encounter, by string) {
	e.ids.Session++
	e.sess = session{
		ID:        e.sessionID(),
		Encounter: encounter,
		Started:   e.now,
	}
	e.auto = autoStart{}
	for i := range e.sensors {
		e.sensors[i].sessionStart = e.now
	}
	e.tech = technical{}
	e.nibp.startSession(e.now)
	e.nextVit = e.now
	if by == "auto" { // a command is logged by the command handler
		e.emit(Audit{T: e.now, By: by, Action: wire.ActionSessionStart, Detail: e.sess.ID + " (valid SpO2 for auto_start_after)", OK: true})
	}
	e.enterPhase(protocol.Baseline)
}

// enterPhase moves the session to phase p and publishes it.
func (e *Engine) enterPhase(p protocol.Phase) {
	old := e.sess.Phase
	if old.InSession() {
		e.sess.PhaseSpan[old][1] = e.now
	}
	e.sess.Phase, e.sess.PhaseStarted = p, e.now
	if p < protocol.NumPhases {
		e.sess.PhaseSpan[p][0] = e.now
	}
	switch p {
	case protocol.Infusion:
		e.fixBaseline()
		e.end(condGate) // the gate was for the decision to start; it is taken
		e.end(condInfusionTime)
	case protocol.Observation:
		e.end(condInfusionTime)
	}
	if p.InSession() {
		e.nibp.enterPhase(e.now, e.proto.Phases[p].NIBPEvery)
		e.buildRules()
	}
	e.markDirty(StateChanged)
	e.publishSession()
}

// fixBaseline sets the baseline SpO2 and pulse to the medians of the
// baseline phase, when the infusion starts.
func (e *Engine) fixBaseline() {
	e.sess.Baseline.SpO2 = e.sess.BaseSpO2.median()
	e.sess.Baseline.Pulse = e.sess.BasePulse.median()
}

// endSession ends the session: aborts a measurement, clears the session's
// alarms, publishes ended and the summary, and goes back to idle.
func (e *Engine) endSession() {
	if req := e.nibp.abort(); req != "" {
		e.emit(NIBPAbort{Sensor: e.nibpIdx, Request: req, Reason: "session ended"})
	}
	for _, pc := range e.phys {
		e.closeOutOfRange(pc)
	}
	for _, a := range e.alarms {
		if a.Scoped {
			e.clear(a)
		}
	}
	e.reconcileAlarms() // counts the cleared alarms into the summary
	e.changed = false
	e.enterPhase(protocol.Ended)
	e.emit(e.summary())
	e.sess = session{Phase: protocol.Idle, PhaseStarted: e.now}
	e.tech = technical{}
	e.nibp.stop()
	e.auto = autoStart{armed: false} // the probe must come off before a new session starts by itself
	e.buildRules()
	e.markDirty(StateChanged)
	e.publishSession()
}

// tickPhase raises the phase reminders when their time comes.
func (e *Engine) tickPhase() {
	e.rejudgeDischarge()
	p := e.sess.Phase
	spec := e.proto.Phases[p]
	if spec.Duration <= 0 || e.sess.Reminded[p] || e.now.Sub(e.sess.PhaseStarted) < spec.Duration {
		return
	}
	e.sess.Reminded[p] = true
	switch p {
	case protocol.Infusion:
		e.raise(condInfusionTime, condInfusionTime, wire.KindTechnical, true, protocol.Low, false, wire.Num{}, wire.Num{},
			fmt.Sprintf("infusion has run %s: end it when the dose is given", formatDuration(spec.Duration)))
	case protocol.Observation:
		d := e.dischargeCheck()
		msg := dischargeMessage(spec, d)
		e.dischargeVerdict = failedCriteria(d)
		e.nextDischarge = e.now.Add(time.Second)
		e.raise(condObservationDone, condObservationDone, wire.KindTechnical, true, protocol.Low, false, wire.Num{}, wire.Num{}, msg)
	}
}

func joinUnmet(u []string) string {
	out := ""
	for i, s := range u {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// dischargeCheck compares the latest values with the baseline and the
// protocol's discharge criteria. A criterion that cannot be judged is not met.
func (e *Engine) dischargeCheck() wire.Discharge {
	d := wire.Discharge{T: wire.At(e.now), Met: true, Unmet: []string{}}
	add := func(c wire.Criterion, why string) {
		c.Met = why == ""
		d.Criteria = append(d.Criteria, c)
		if !c.Met {
			d.Met = false
			d.Unmet = append(d.Unmet, why)
		}
	}
	c := e.proto.Discharge
	spo2 := wire.Criterion{Name: "spo2", Rule: "at_least", Limit: wire.N(c.SpO2AtLeast)}
	if v, ok := e.fresh(vitals.SpO2); !ok {
		add(spo2, "no current SpO2")
	} else if spo2.Value = wire.N(float64(v)); float64(v) < c.SpO2AtLeast {
		add(spo2, fmt.Sprintf("SpO2 %d < %s", v, protocol.FormatNumber(c.SpO2AtLeast)))
	} else {
		add(spo2, "")
	}
	pulse := wire.Criterion{Name: "pulse", Rule: "within", Limit: wire.N(c.PulseWithin)}
	b, haveBase := e.sess.baseline(protocol.Pulse)
	if haveBase {
		pulse.Baseline = wire.N(b)
	}
	if v, ok := e.fresh(vitals.Pulse); !ok {
		add(pulse, "no current pulse")
	} else if pulse.Value = wire.N(float64(v)); !haveBase {
		add(pulse, fmt.Sprintf("no baseline pulse to compare pulse %d with", v))
	} else if abs(float64(v)-b) > c.PulseWithin {
		add(pulse, fmt.Sprintf("pulse %d is %s from baseline %s (within %s)", v, protocol.FormatNumber(abs(float64(v)-b)), protocol.FormatNumber(b), protocol.FormatNumber(c.PulseWithin)))
	} else {
		add(pulse, "")
	}
	sys := wire.Criterion{Name: "systolic", Rule: "within", Limit: wire.N(c.SystolicWithin), Value: e.nibp.Last}
	b, haveBase = e.sess.baseline(protocol.Systolic)
	if haveBase {
		sys.Baseline = wire.N(b)
	}
	switch {
	case !e.nibp.Last.Valid:
		add(sys, "no NIBP measured")
	case !haveBase:
		add(sys, fmt.Sprintf("no baseline systolic to compare systolic %s with", protocol.FormatNumber(e.nibp.Last.V)))
	case abs(e.nibp.Last.V-b) > c.SystolicWithin:
		add(sys, fmt.Sprintf("systolic %s is %s from baseline %s (within %s)", protocol.FormatNumber(e.nibp.Last.V), protocol.FormatNumber(abs(e.nibp.Last.V-b)), protocol.FormatNumber(b), protocol.FormatNumber(c.SystolicWithin)))
	default:
		add(sys, "")
	}
	return d
}

// dischargeMessage is observation_complete's text for a check.
func dischargeMessage(spec protocol.PhaseSpec, d wire.Discharge) string {
	if d.Met {
		return fmt.Sprintf("observation %s complete: discharge criteria met", formatDuration(spec.Duration))
	}
	return fmt.Sprintf("observation %s complete: discharge criteria not met: %s", formatDuration(spec.Duration), joinUnmet(d.Unmet))
}

// rejudgeDischarge judges the discharge criteria again, once a second after
// observation completed and until the session ends, and updates
// observation_complete's message when the answer changed: a patient who
// recovers ten minutes later is shown as ready, not as the hour's verdict.
func (e *Engine) rejudgeDischarge() {
	if e.sess.Phase != protocol.Observation || !e.sess.Reminded[protocol.Observation] || e.now.Before(e.nextDischarge) {
		return
	}
	e.nextDischarge = nextAfter(e.nextDischarge, e.now, time.Second)
	a := e.findKey(condObservationDone)
	if a == nil || !a.Present {
		return
	}
	// The message holds live values: it is written again only when the
	// verdict changes (which criteria fail), not at every wobble of a pulse,
	// which would publish an alarm update a second.
	d := e.dischargeCheck()
	if v := failedCriteria(d); v != e.dischargeVerdict {
		e.dischargeVerdict = v
		a.Message = dischargeMessage(e.proto.Phases[protocol.Observation], d)
		e.changed = true
	}
}

// failedCriteria is a discharge check's verdict: one bit per criterion that
// is not met, in Criteria's order.
func failedCriteria(d wire.Discharge) uint8 {
	var v uint8
	for i, c := range d.Criteria {
		if !c.Met {
			v |= 1 << i
		}
	}
	return v
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// fresh gives the latest valid value of a parameter, if recent.
func (e *Engine) fresh(p vitals.Param) (int16, bool) {
	l := e.latest[p]
	if l.at.IsZero() || e.now.Sub(l.at) > freshness || l.value < 0 || l.flags.Has(vitals.ProbeOffFlags) {
		return 0, false
	}
	return l.value, true
}

// publishVitals publishes SpO2 and pulse once a second during a session, with
// null and flags when there is no valid value: silence never means "no value".
func (e *Engine) publishVitals() {
	if e.now.Before(e.nextVit) {
		return
	}
	e.nextVit = nextAfter(e.nextVit, e.now, time.Second)
	var source string
	var sflags vitals.Flag
	if e.oxi >= 0 {
		source, sflags = e.cfg.Sensors[e.oxi].Source, e.cfg.Sensors[e.oxi].Flags
	}
	for p := vitals.Param(0); p < vitals.NumParams; p++ {
		l := e.latest[p]
		v := wire.Vital{Record: wire.Record{V: wire.Version}, T: wire.At(e.now), Session: e.sess.ID,
			Param: p.String(), Unit: p.Unit(), Source: source}
		flags := sflags
		if l.at.IsZero() || e.now.Sub(l.at) > freshness {
			flags |= vitals.NoData
		} else {
			v.T = wire.At(l.at)
			flags |= l.flags
			if value, ok := e.fresh(p); ok {
				v.Value = wire.N(float64(value))
				e.accumulate(p, value)
			}
		}
		v.Flags = flags.Names()
		e.emit(v)
	}
	e.markDirty(StatsChanged)
}

// accumulate adds one second's value to the session statistics.
func (e *Engine) accumulate(p vitals.Param, v int16) {
	baseline := e.sess.Phase == protocol.Baseline
	switch p {
	case vitals.SpO2:
		e.sess.SessSpO2.add(v)
		if baseline {
			e.sess.BaseSpO2.add(v)
		}
	case vitals.Pulse:
		e.sess.SessPulse.add(v)
		if baseline {
			e.sess.BasePulse.add(v)
		}
	}
}

// publishSession publishes the retained session state.
func (e *Engine) publishSession() {
	s := wire.Session{
		Record: wire.Record{V: wire.Version}, T: wire.At(e.now), ID: e.sess.ID, Encounter: e.sess.Encounter,
		Phase: e.sess.Phase.String(), PhaseStarted: wire.At(e.sess.PhaseStarted), Started: wire.At(e.sess.Started),
		Protocol: e.proto.Name, Baseline: e.sess.Baseline,
	}
	if e.sess.Phase.InSession() && e.nibpIdx >= 0 {
		s.NextNIBP = wire.At(e.nibp.Next)
	}
	if d := e.proto.Phases[e.sess.Phase].Duration; d > 0 && e.sess.Phase.InSession() {
		planned := isoDuration(d)
		s.PhasePlanned = &planned
	}
	if e.sess.GateOverrideBy != "" {
		by := e.sess.GateOverrideBy
		s.GateOverrideBy = &by
	}
	e.emit(s)
}

// summary builds the session/summary record.
func (e *Engine) summary() wire.Summary {
	s := &e.sess
	sum := wire.Summary{
		Record: wire.Record{V: wire.Version}, T: wire.At(e.now), ID: s.ID, Encounter: s.Encounter,
		Protocol: e.proto.Name, Started: wire.At(s.Started), Phases: map[string]string{},
		SpO2:   wire.Stat{Min: s.SessSpO2.min(), Max: s.SessSpO2.max(), Median: s.SessSpO2.median()},
		Pulse:  wire.Stat{Min: s.SessPulse.min(), Max: s.SessPulse.max(), Median: s.SessPulse.median()},
		NIBP:   wire.NIBPStat{SystolicMax: s.SystolicMax, DiastolicMax: s.DiastolicMax, Count: s.NIBPCount},
		Alarms: map[string]int{}, MinutesOutOfRange: map[string]float64{}, Marks: s.Marks,
	}
	if sum.Marks == nil {
		sum.Marks = []wire.Mark{}
	}
	for _, p := range []protocol.Phase{protocol.Baseline, protocol.Infusion, protocol.Observation} {
		span := s.PhaseSpan[p]
		if !span[0].IsZero() && !span[1].IsZero() {
			sum.Phases[p.String()] = isoDuration(span[1].Sub(span[0]))
		}
	}
	for k, v := range s.AlarmCounts {
		sum.Alarms[k] = v
	}
	for k, d := range s.OutOfRange {
		sum.MinutesOutOfRange[k] = float64(d.Round(time.Second)/time.Second) / 60
	}
	if s.GateOverrideBy != "" {
		by := s.GateOverrideBy
		sum.GateOverrideBy = &by
	}
	if !s.PhaseSpan[protocol.Observation][0].IsZero() {
		d := e.dischargeCheck()
		sum.Discharge = &d
	}
	return sum
}

// isoDuration writes an ISO 8601 duration to the second: "PT41M", "PT1H0M5S".
func isoDuration(d time.Duration) string {
	h, m, sec := hms(d)
	out := "PT"
	if h > 0 {
		out += fmt.Sprintf("%dH", h)
	}
	if m > 0 || (h > 0 && sec > 0) {
		out += fmt.Sprintf("%dM", m)
	}
	if sec > 0 || (h == 0 && m == 0) {
		out += fmt.Sprintf("%dS", sec)
	}
	return out
}

// autoStart watches for valid SpO2 while idle.
type autoStart struct {
	armed      bool      // false after a session ends, until the probe is off
	validSince time.Time // start of the current run of valid SpO2
	lastValid  time.Time
}

func (e *Engine) autoStartReading(r vitals.Reading) {
	if e.sess.Phase != protocol.Idle {
		return
	}
	if !r.Valid() {
		e.auto.validSince = time.Time{}
		e.auto.armed = true
		return
	}
	if e.auto.validSince.IsZero() || e.now.Sub(e.auto.lastValid) > freshness {
		e.auto.validSince = e.now
	}
	e.auto.lastValid = e.now
	e.autoStartTick()
}

func (e *Engine) autoStartTick() {
	wait := e.proto.AutoStartAfter
	if e.sess.Phase != protocol.Idle || wait <= 0 || !e.auto.armed || e.auto.validSince.IsZero() {
		return
	}
	if e.now.Sub(e.auto.lastValid) > freshness {
		e.auto.validSince = time.Time{} // the stream stopped
		e.auto.armed = true
		return
	}
	if e.now.Sub(e.auto.validSince) >= wait {
		e.startSession("", "auto")
	}
}

// sessionID is s-<chair>-<UTC start>-<boot>-<n>: unique across the clinic's
// chairs (the chair), across restarts (boot) and within one (n). Without a
// chair (tests of the engine alone) it is s-<UTC start>-<boot>-<n>.
func (e *Engine) sessionID() string {
	at := e.now.UTC().Format("20060102T150405Z")
	if e.cfg.Chair == "" {
		return fmt.Sprintf("s-%s-%d-%d", at, e.cfg.Boot, e.ids.Session)
	}
	return fmt.Sprintf("s-%s-%s-%d-%d", e.cfg.Chair, at, e.cfg.Boot, e.ids.Session)
}
