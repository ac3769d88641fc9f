package monitor

import (
	"fmt"
	"sort"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// level is one limit of a condition and whether it holds.
type level struct {
	limit   protocol.Limit
	pending time.Time // crossing since (the delay runs); zero when inside
	met     bool      // crossed for its delay, not yet recovered by the hysteresis
}

// physCondition is one physiological condition (spo2_low, ...) with its
// levels, most urgent first. One alarm per condition: its priority follows
// the most urgent level that holds.
type physCondition struct {
	cond   protocol.Condition
	name   string
	levels []level
	since  time.Time // present since, for minutes out of range
	value  float64   // the last value judged
	judged time.Time // when; zero if never
}

// buildRules sets up the conditions for the limits now in force (global,
// the phase's own, the session's), keeping the state of each level that
// survives, so a phase change does not restart a running delay or end a
// present alarm on its own.
func (e *Engine) buildRules() {
	limits := e.proto.LimitsFor(e.sess.Phase, e.sess.Limits)
	old := e.phys
	e.phys = nil
	for _, l := range limits {
		pc := e.physFor(l.Condition)
		if pc == nil {
			pc = &physCondition{cond: l.Condition, name: l.Condition.String()}
			if prev := findPhys(old, l.Condition); prev != nil {
				pc.since, pc.value, pc.judged = prev.since, prev.value, prev.judged
			}
			e.phys = append(e.phys, pc)
		}
		lv := level{limit: l}
		if prev := findPhys(old, l.Condition); prev != nil {
			for _, pl := range prev.levels {
				if pl.limit.Priority == l.Priority {
					lv.pending, lv.met = pl.pending, pl.met
				}
			}
		}
		pc.levels = append(pc.levels, lv)
	}
	for _, pc := range e.phys {
		sort.Slice(pc.levels, func(i, j int) bool { return pc.levels[i].limit.Priority > pc.levels[j].limit.Priority })
	}
	// A condition no longer watched ends.
	for _, prev := range old {
		if e.physFor(prev.cond) == nil {
			e.closeOutOfRange(prev)
			e.end(prev.name)
		}
	}
	// Judge the last value again under the new limits.
	for _, pc := range e.phys {
		if !pc.judged.IsZero() && e.sess.Phase.InSession() && (pc.cond.Measure.IsNIBP() || e.now.Sub(pc.judged) <= freshness) {
			e.judge(pc, pc.value)
		}
	}
}

func (e *Engine) physFor(c protocol.Condition) *physCondition {
	for _, pc := range e.phys {
		if pc.cond == c {
			return pc
		}
	}
	return nil
}

func findPhys(list []*physCondition, c protocol.Condition) *physCondition {
	for _, pc := range list {
		if pc.cond == c {
			return pc
		}
	}
	return nil
}

func measureOf(p vitals.Param) protocol.Measure {
	if p == vitals.SpO2 {
		return protocol.SpO2
	}
	return protocol.Pulse
}

// spo2Held reports whether SpO2 alarms are held: an NIBP cuff on the
// oximeter's arm is inflating, or deflated less than 30 s ago.
func (e *Engine) spo2Held() bool {
	return e.nibp.sameLimb && !e.nibp.HoldUntil.IsZero() && e.now.Before(e.nibp.HoldUntil)
}

// evaluateContinuous judges a new SpO2 or pulse reading against its
// conditions. A reading without a valid value freezes them: a probe falling
// off must not end (or start) a desaturation alarm; spo2_probe_off says why.
func (e *Engine) evaluateContinuous(r vitals.Reading) {
	m := measureOf(r.Param)
	held := m == protocol.SpO2 && e.spo2Held()
	for _, pc := range e.phys {
		if pc.cond.Measure != m {
			continue
		}
		if held || !r.Valid() {
			for i := range pc.levels {
				pc.levels[i].pending = time.Time{}
			}
			continue
		}
		v, ok := e.relative(pc.cond, float64(r.Value))
		if ok {
			e.judge(pc, v)
		}
	}
}

// relative turns a value into what the condition compares: itself, or its
// change from the baseline (not during the baseline phase, which makes it).
func (e *Engine) relative(c protocol.Condition, v float64) (float64, bool) {
	if !c.Relative() {
		return v, true
	}
	if e.sess.Phase == protocol.Baseline {
		return 0, false
	}
	base, ok := e.sess.baseline(c.Measure)
	if !ok {
		return 0, false
	}
	if c.Direction == protocol.Rise {
		return v - base, true
	}
	return base - v, true
}

// judge applies one value to a condition's levels, then to its alarm.
func (e *Engine) judge(pc *physCondition, v float64) {
	pc.value, pc.judged = v, e.now
	for i := range pc.levels {
		l := &pc.levels[i]
		switch {
		case l.met:
			if l.limit.Recovered(v) {
				l.met, l.pending = false, time.Time{}
			}
		case l.limit.Crossed(v):
			if l.pending.IsZero() {
				l.pending = e.now
			}
			if e.now.Sub(l.pending) >= l.limit.Delay {
				l.met = true
			}
		default:
			l.pending = time.Time{}
		}
	}
	// A more urgent level that holds has already filtered out a transient:
	// every less urgent level the value crosses holds too, so recovering from
	// "SpO2 86 < 88" while still under 92 steps down, not off and on again.
	for i := range pc.levels {
		if !pc.levels[i].met {
			continue
		}
		for j := i + 1; j < len(pc.levels); j++ {
			if l := &pc.levels[j]; !l.met && l.limit.Crossed(v) {
				l.met = true
			}
		}
		break
	}
	e.applyCondition(pc)
}

// tickContinuous completes condition delays when no new reading has come
// since the value crossed (readings arrive often, but a delay must not
// depend on it).
func (e *Engine) tickContinuous() {
	held := e.spo2Held()
	for _, pc := range e.phys {
		if pc.cond.Measure.IsNIBP() || pc.judged.IsZero() || e.now.Sub(pc.judged) > freshness {
			continue
		}
		if held && pc.cond.Measure == protocol.SpO2 {
			continue
		}
		changed := false
		for i := range pc.levels {
			l := &pc.levels[i]
			if !l.met && !l.pending.IsZero() && e.now.Sub(l.pending) >= l.limit.Delay {
				l.met, changed = true, true
			}
		}
		if changed {
			e.applyCondition(pc)
		}
	}
}

// applyCondition raises, updates or ends the condition's alarm to match its
// levels. It does nothing (and allocates nothing) when the level is unchanged.
func (e *Engine) applyCondition(pc *physCondition) {
	var top *level
	for i := range pc.levels {
		if pc.levels[i].met {
			top = &pc.levels[i]
			break
		}
	}
	a := e.findKey(pc.name)
	if top == nil {
		if a != nil && a.Present {
			e.closeOutOfRange(pc)
			e.end(pc.name)
		}
		return
	}
	if a != nil && a.Present && a.Level == top.limit.Priority {
		return
	}
	if pc.since.IsZero() {
		// Out of range since the value first crossed a level that now
		// holds, not since the alarm: the condition delay was time out of
		// range too (the summary's minutes_out_of_range).
		pc.since = e.now
		for i := range pc.levels {
			if l := &pc.levels[i]; l.met && !l.pending.IsZero() && l.pending.Before(pc.since) {
				pc.since = l.pending
			}
		}
	}
	e.raise(pc.name, pc.name, wire.KindPhysiological, true, top.limit.Priority, top.limit.Latch,
		wire.N(pc.value), wire.N(top.limit.Threshold), e.limitMessage(pc, top.limit))
}

// closeOutOfRange adds the time the condition was present to the summary.
func (e *Engine) closeOutOfRange(pc *physCondition) {
	if !pc.since.IsZero() {
		e.sess.addOutOfRange(pc.name, e.now.Sub(pc.since))
		pc.since = time.Time{}
	}
}

// limitMessage writes the value and the limit: "SpO2 86 < 88",
// "Systolic rise 45 ≥ 40 (baseline 120)".
func (e *Engine) limitMessage(pc *physCondition, l protocol.Limit) string {
	v := protocol.FormatNumber(pc.value)
	t := protocol.FormatNumber(l.Threshold)
	label := pc.cond.Measure.Label()
	if pc.cond.Relative() {
		base, _ := e.sess.baseline(pc.cond.Measure)
		return fmt.Sprintf("%s %s %s %s %s (baseline %s)", label, pc.cond.Direction, v, l.Cmp.Symbol(), t, protocol.FormatNumber(base))
	}
	return fmt.Sprintf("%s %s %s %s", label, v, l.Cmp.Symbol(), t)
}

// evaluateNIBP judges a successful cuff measurement against the NIBP
// conditions; each holds until a measurement comes back inside its limit.
func (e *Engine) evaluateNIBP(sys, dia, mean float64, meanOK bool) {
	for _, pc := range e.phys {
		var v float64
		switch pc.cond.Measure {
		case protocol.Systolic:
			v = sys
		case protocol.Diastolic:
			v = dia
		case protocol.Mean:
			if !meanOK {
				continue
			}
			v = mean
		default:
			continue
		}
		if rv, ok := e.relative(pc.cond, v); ok {
			e.judge(pc, rv)
		}
	}
}

// nibpAlarmNeedsRepeat reports whether a medium or high NIBP alarm is
// present, which brings the next measurement forward.
func (e *Engine) nibpAlarmNeedsRepeat() bool {
	for _, pc := range e.phys {
		if !pc.cond.Measure.IsNIBP() {
			continue
		}
		if a := e.findKey(pc.name); a != nil && a.Present && a.Priority >= protocol.Medium {
			return true
		}
	}
	return false
}
