package monitor

import (
	"fmt"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// nibpSchedule decides when the cuff inflates. Exported fields are saved in
// the snapshot.
type nibpSchedule struct {
	Next        time.Time // the next measurement is due; zero when none is planned
	InFlight    string    // request id of the running measurement
	Started     time.Time // when the running (or last) measurement started
	LastSuccess time.Time // when the last good measurement came, or the session started
	Failures    int       // failures in a row
	HoldUntil   time.Time // SpO2 alarms held until (same limb)
	Last        wire.Num  // the last good systolic
	sameLimb    bool
}

func (n *nibpSchedule) startSession(now time.Time) {
	*n = nibpSchedule{LastSuccess: now, sameLimb: n.sameLimb}
}

// enterPhase plans the first measurement of a phase: at once in the
// baseline, otherwise one interval of the new phase after the last start (at
// once if that is past).
func (n *nibpSchedule) enterPhase(now time.Time, every time.Duration) {
	if n.InFlight != "" {
		return // planned when its result comes
	}
	if n.Started.IsZero() {
		n.Next = now
		return
	}
	n.Next = n.Started.Add(every)
	if n.Next.Before(now) {
		n.Next = now
	}
}

// abort forgets the running measurement and returns its id ("" if none).
func (n *nibpSchedule) abort() string {
	req := n.InFlight
	n.InFlight = ""
	n.HoldUntil = time.Time{}
	return req
}

func (n *nibpSchedule) stop() {
	n.abort()
	n.Next = time.Time{}
}

// tickNIBP starts a due measurement (never closer than min_nibp_gap to the
// last), times out one that never answers, and raises nibp_overdue.
func (e *Engine) tickNIBP() {
	if e.nibpIdx < 0 {
		return
	}
	n := &e.nibp
	if n.InFlight != "" && e.now.Sub(n.Started) >= nibpNoResult {
		req := n.InFlight
		e.emit(NIBPAbort{Sensor: e.nibpIdx, Request: req, Reason: "no result"})
		e.nibpResult(vitals.Result{Sensor: e.nibpIdx, Request: req,
			Failure: fmt.Sprintf("timeout: no result from the NIBP module after %s", formatDuration(nibpNoResult))})
	}
	if n.InFlight == "" && !n.Next.IsZero() && !e.now.Before(n.Next) &&
		(n.Started.IsZero() || e.now.Sub(n.Started) >= e.proto.MinNIBPGap) {
		e.ids.Request++
		req := fmt.Sprintf("n-%d-%d", e.cfg.Boot, e.ids.Request)
		n.InFlight, n.Started, n.Next = req, e.now, time.Time{}
		if n.sameLimb {
			n.HoldUntil = e.now.Add(nibpNoResult + sameLimbHold) // until the result, then 30 s more
		}
		e.emit(NIBPStart{Sensor: e.nibpIdx, Request: req})
		e.markDirty(StateChanged)
	}
	every := e.proto.Phases[e.sess.Phase].NIBPEvery
	if every > 0 && e.now.Sub(n.LastSuccess) >= every+nibpOverdueDue {
		e.raiseTechnical(condNIBPOverdue, condNIBPOverdue, protocol.Medium, func() string {
			return fmt.Sprintf("no NIBP measurement for %s (every %s)", formatDuration(e.now.Sub(n.LastSuccess)), formatDuration(every))
		})
	}
}

// nibpResult takes a measurement's outcome: publishes it, judges the NIBP
// conditions, feeds the baseline and the gate, and plans the next one.
func (e *Engine) nibpResult(r vitals.Result) {
	n := &e.nibp
	if r.Request == "" || r.Request != n.InFlight || !e.sess.Phase.InSession() {
		e.emit(Audit{T: e.now, By: "nibp", Action: "result_ignored", Detail: fmt.Sprintf("result for %q: no such measurement running", r.Request)})
		return
	}
	n.InFlight = ""
	if n.sameLimb {
		n.HoldUntil = e.now.Add(sameLimbHold)
	}
	every := e.proto.Phases[e.sess.Phase].NIBPEvery
	rec := wire.NIBP{Record: wire.Record{V: wire.Version}, T: wire.At(e.now), Session: e.sess.ID, Param: "nibp",
		Unit: "mm[Hg]", Source: e.cfg.Sensors[e.nibpIdx].Source, Request: r.Request, Flags: e.cfg.Sensors[e.nibpIdx].Flags.Names()}
	e.markDirty(StateChanged)
	if r.Failed() || r.Systolic <= 0 || r.Diastolic <= 0 {
		rec.Error = r.Failure
		if rec.Error == "" {
			rec.Error = fmt.Sprintf("implausible result %d/%d", r.Systolic, r.Diastolic)
		}
		e.emit(rec)
		n.Failures++
		prio, nth := protocol.Low, ""
		if n.Failures >= 2 {
			prio, nth = protocol.Medium, fmt.Sprintf(" (%d in a row)", n.Failures)
		}
		if n.Failures == 1 {
			n.Next = e.now.Add(nibpRetryAfter) // one automatic retry
		} else {
			n.Next = n.Started.Add(every)
		}
		// Each failure is news: its message replaces the last one's, also
		// when the priority stays (a third failure in a row is still medium),
		// which raise by itself keeps.
		msg := fmt.Sprintf("NIBP failed: %s%s", rec.Error, nth)
		e.raise(condNIBPFailed, condNIBPFailed, wire.KindTechnical, true, prio, false, wire.Num{}, wire.Num{}, msg).Message = msg
		e.publishSession()
		return
	}
	sys, dia := float64(r.Systolic), float64(r.Diastolic)
	rec.Systolic, rec.Diastolic = wire.N(sys), wire.N(dia)
	if r.Mean > 0 {
		rec.Mean = wire.N(float64(r.Mean))
	}
	if r.Pulse > 0 {
		rec.Pulse = wire.N(float64(r.Pulse))
	}
	e.emit(rec)
	n.Failures, n.LastSuccess, n.Last = 0, e.now, wire.N(sys)
	e.end(condNIBPFailed)
	e.end(condNIBPOverdue)
	s := &e.sess
	s.NIBPCount++
	if !s.SystolicMax.Valid || sys > s.SystolicMax.V {
		s.SystolicMax = wire.N(sys)
	}
	if !s.DiastolicMax.Valid || dia > s.DiastolicMax.V {
		s.DiastolicMax = wire.N(dia)
	}
	// The baseline BP is the baseline phase's last measurement, or the
	// infusion's first when the baseline had none.
	firstOfInfusion := s.Phase == protocol.Infusion && !s.Baseline.Systolic.Valid
	if s.Phase == protocol.Baseline || firstOfInfusion {
		s.Baseline.Systolic, s.Baseline.Diastolic = wire.N(sys), wire.N(dia)
	}
	if s.Phase == protocol.Baseline || firstOfInfusion {
		// The infusion's first measurement stands in for a baseline that
		// was missing (started with an override): it is judged against the
		// gate too, so the team learns that the gate would have held.
		e.judgeGate(sys, dia)
	}
	e.evaluateNIBP(sys, dia, float64(r.Mean), r.Mean > 0)
	n.Next = n.Started.Add(every)
	if e.nibpAlarmNeedsRepeat() {
		if rep := e.now.Add(e.proto.Phases[s.Phase].RepeatNIBPAfterAlarm); rep.Before(n.Next) {
			n.Next = rep
		}
	}
	e.publishSession()
}

// judgeGate raises baseline_bp_above_gate when the baseline reaches the
// gate, and ends it when a later baseline measurement is under it.
func (e *Engine) judgeGate(sys, dia float64) {
	g := e.proto.Gate
	sysOver := g.SystolicAtLeast > 0 && sys >= g.SystolicAtLeast
	diaOver := g.DiastolicAtLeast > 0 && dia >= g.DiastolicAtLeast
	if !sysOver && !diaOver {
		e.end(condGate)
		return
	}
	value, limit := sys, g.SystolicAtLeast // the half that reached the gate
	if !sysOver {
		value, limit = dia, g.DiastolicAtLeast
	}
	then := "infusion_start needs an override"
	if e.sess.Phase == protocol.Infusion {
		then = fmt.Sprintf("the infusion was started without a baseline (override by %s)", e.sess.GateOverrideBy)
	}
	e.raise(condGate, condGate, wire.KindTechnical, true, protocol.Low, false, wire.N(value), wire.N(limit),
		fmt.Sprintf("baseline BP %s/%s is at or above the gate %s/%s: %s",
			protocol.FormatNumber(sys), protocol.FormatNumber(dia), protocol.FormatNumber(g.SystolicAtLeast), protocol.FormatNumber(g.DiastolicAtLeast), then))
}

// noBaselineBP says why the session has no baseline blood pressure.
func (e *Engine) noBaselineBP() string {
	n := &e.nibp
	switch {
	case e.nibpIdx < 0:
		return "no NIBP module is configured"
	case n.InFlight != "":
		return fmt.Sprintf("measurement %s is still running", n.InFlight)
	case e.findKey(condNIBPFailed) != nil:
		return "the baseline measurement failed"
	default:
		return "none measured yet"
	}
}

// nibpNow asks for a measurement as soon as min_nibp_gap allows.
func (e *Engine) nibpNow() error {
	n := &e.nibp
	switch {
	case e.nibpIdx < 0:
		return fmt.Errorf("no NIBP sensor is configured")
	case n.InFlight != "":
		return fmt.Errorf("measurement %s is running", n.InFlight)
	}
	n.Next = e.now
	if !n.Started.IsZero() && e.now.Sub(n.Started) < e.proto.MinNIBPGap {
		n.Next = n.Started.Add(e.proto.MinNIBPGap)
	}
	e.markDirty(StateChanged)
	e.publishSession()
	return nil
}
