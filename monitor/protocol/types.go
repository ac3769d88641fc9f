// Package protocol is the clinic's monitoring protocol: session phases, the NIBP
// schedule, the pre-infusion gate, discharge criteria and alarm limits, loaded
// from the protocol TOML file (CONTRACT §3) and checked strictly.
//
// The clinic's medical lead owns these numbers. The package only makes sure the
// file says something coherent: every key known, every value of the right kind
// and range, and no limits that contradict each other.
package protocol

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Phase is a session phase.
type Phase uint8

// The phases in order. Ended is transient: a session that ends publishes it and
// goes back to Idle.
const (
	Idle Phase = iota
	Baseline
	Infusion
	Observation
	Ended
	NumPhases
)

var phaseNames = [NumPhases]string{"idle", "baseline", "infusion", "observation", "ended"}

func (p Phase) String() string {
	if p < NumPhases {
		return phaseNames[p]
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// ParsePhase gives the phase of a contract name.
func ParsePhase(s string) (Phase, bool) {
	for i, n := range phaseNames {
		if n == s {
			return Phase(i), true
		}
	}
	return 0, false
}

// Priority is an alarm priority, ordered: a larger value is more urgent.
type Priority uint8

// Priorities per IEC 60601-1-8. None is no alarm.
const (
	None Priority = iota
	Low
	Medium
	High
)

var priorityNames = [...]string{"none", "low", "medium", "high"}

func (p Priority) String() string {
	if int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

// ParsePriority parses "low", "medium" or "high".
func ParsePriority(s string) (Priority, bool) {
	for i := Low; i <= High; i++ {
		if priorityNames[i] == s {
			return i, true
		}
	}
	return None, false
}

// Measure is the quantity a physiological limit watches.
type Measure uint8

// Measures. SpO2 and pulse come from the oximeter every second; the NIBP ones
// from each cuff measurement.
const (
	SpO2 Measure = iota
	Pulse
	Systolic
	Diastolic
	Mean
	NumMeasures
)

var measureNames = [NumMeasures]string{"spo2", "pulse", "nibp_systolic", "nibp_diastolic", "nibp_mean"}
var measureLabels = [NumMeasures]string{"SpO2", "Pulse", "Systolic", "Diastolic", "Mean BP"}
var measureRange = [NumMeasures][2]float64{{0, 100}, {0, 300}, {0, 300}, {0, 300}, {0, 300}}

func (m Measure) String() string { return measureNames[m] }

// Label is the short human name used in alarm messages.
func (m Measure) Label() string { return measureLabels[m] }

// IsNIBP reports whether the measure comes from the cuff (evaluated once per
// measurement, not continuously).
func (m Measure) IsNIBP() bool { return m >= Systolic }

// Direction says which way out of range a condition looks.
type Direction uint8

// Low and High compare the value; Rise and Fall compare its change from the
// session's baseline (current - baseline, baseline - current).
const (
	TooLow Direction = iota
	TooHigh
	Rise
	Fall
)

var directionNames = [...]string{"low", "high", "rise", "fall"}

func (d Direction) String() string { return directionNames[d] }

// Condition is a physiological alarm condition, named measure_direction,
// e.g. "spo2_low" or "nibp_systolic_rise".
type Condition struct {
	Measure   Measure
	Direction Direction
}

func (c Condition) String() string { return c.Measure.String() + "_" + c.Direction.String() }

// Relative reports whether the condition compares against the baseline.
func (c Condition) Relative() bool { return c.Direction == Rise || c.Direction == Fall }

// ParseCondition parses a physiological condition name.
func ParseCondition(s string) (Condition, bool) {
	for m := Measure(0); m < NumMeasures; m++ {
		rest, ok := strings.CutPrefix(s, measureNames[m]+"_")
		if !ok {
			continue
		}
		for d, n := range directionNames {
			if rest == n {
				return Condition{Measure: m, Direction: Direction(d)}, true
			}
		}
	}
	return Condition{}, false
}

// Comparison is how a limit compares a value with its threshold.
type Comparison uint8

// Below and Above are strict; AtMost and AtLeast include the threshold.
const (
	Below Comparison = iota
	AtMost
	Above
	AtLeast
)

var comparisonKeys = [...]string{"below", "at_most", "above", "at_least"}
var comparisonSymbols = [...]string{"<", "≤", ">", "≥"}

func (c Comparison) String() string { return comparisonKeys[c] }

// Symbol is the comparison's sign for messages ("<", "≥").
func (c Comparison) Symbol() string { return comparisonSymbols[c] }

// lower reports whether the comparison catches values under the threshold.
func (c Comparison) lower() bool { return c == Below || c == AtMost }

// Limit is one [[limit]] table: a condition at one priority.
type Limit struct {
	Condition  Condition
	Priority   Priority
	Cmp        Comparison
	Threshold  float64
	Delay      time.Duration // the condition must hold this long (continuous measures only)
	Hysteresis float64       // how far back inside the threshold the value must come to end the condition
	Latch      bool          // the alarm stays, latched, until acknowledged
}

// Crossed reports whether v is outside the limit.
func (l Limit) Crossed(v float64) bool {
	switch l.Cmp {
	case Below:
		return v < l.Threshold
	case AtMost:
		return v <= l.Threshold
	case Above:
		return v > l.Threshold
	default:
		return v >= l.Threshold
	}
}

// Recovered reports whether v has come back inside the limit by at least the
// hysteresis, which ends a present condition. Between Crossed and Recovered
// lies the band where a present condition stays and an absent one stays away,
// so a value wobbling on the threshold does not make an alarm storm.
func (l Limit) Recovered(v float64) bool {
	switch l.Cmp {
	case Below:
		return v >= l.Threshold+l.Hysteresis
	case AtMost:
		return v > l.Threshold+l.Hysteresis
	case Above:
		return v <= l.Threshold-l.Hysteresis
	default:
		return v < l.Threshold-l.Hysteresis
	}
}

// Describe gives the limit as people read it: "< 88", "≥ 40 above baseline".
func (l Limit) Describe() string {
	s := l.Cmp.Symbol() + " " + FormatNumber(l.Threshold)
	switch l.Condition.Direction {
	case Rise:
		s += " rise"
	case Fall:
		s += " fall"
	}
	return s
}

func (l Limit) String() string {
	return fmt.Sprintf("%s/%s %s %s", l.Condition, l.Priority, l.Cmp, FormatNumber(l.Threshold))
}

// FormatNumber prints a threshold or value without a needless ".0".
func FormatNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// PhaseSpec is the part of the protocol one phase uses.
type PhaseSpec struct {
	Duration             time.Duration // infusion and observation: when the reminder comes
	NIBPEvery            time.Duration // the measurement interval; the first at the phase's start
	RepeatNIBPAfterAlarm time.Duration // a quicker re-measure after a medium or high NIBP alarm
	Limits               []Limit       // replace the global limits of the same condition in this phase
}

// Gate is the pre-infusion blood-pressure check on the baseline. A zero
// threshold disables that half.
type Gate struct {
	SystolicAtLeast  float64
	DiastolicAtLeast float64
}

// Discharge holds the criteria observation_complete reports on.
type Discharge struct {
	SystolicWithin float64 // mm[Hg] of the baseline
	PulseWithin    float64 // /min of the baseline
	SpO2AtLeast    float64
}

// AlarmTiming holds the alarm system's timing.
type AlarmTiming struct {
	AckReminder   time.Duration // an acknowledged alarm whose condition lasts sounds again this often
	AudioPause    time.Duration // how long pause_audio silences (at most 120 s)
	EscalateAfter time.Duration // an unacknowledged medium physiological alarm becomes high; 0 never
}

// Protocol is a whole, checked protocol file.
type Protocol struct {
	Name           string
	File           string        // where it was loaded from
	AutoStartAfter time.Duration // 0: never start by itself
	MinNIBPGap     time.Duration
	Phases         [NumPhases]PhaseSpec // indexed by Phase; Idle and Ended are empty
	Gate           Gate
	Discharge      Discharge
	Alarm          AlarmTiming
	Limits         []Limit // global limits
}

// LimitsFor gives the limits in force in a phase: the global ones, with every
// condition that the phase lists replaced by the phase's own, then every
// (condition, priority) in session replaced or added (a `limits` command).
func (p *Protocol) LimitsFor(phase Phase, session []Limit) []Limit {
	var phaseLimits []Limit
	if phase < NumPhases {
		phaseLimits = p.Phases[phase].Limits
	}
	out := make([]Limit, 0, len(p.Limits)+len(phaseLimits)+len(session))
	for _, l := range p.Limits {
		if !hasCondition(phaseLimits, l.Condition) {
			out = append(out, l)
		}
	}
	out = append(out, phaseLimits...)
	for _, s := range session {
		replaced := false
		for i := range out {
			if out[i].Condition == s.Condition && out[i].Priority == s.Priority {
				out[i] = s
				replaced = true
			}
		}
		if !replaced {
			out = append(out, s)
		}
	}
	return out
}

func hasCondition(ls []Limit, c Condition) bool {
	for _, l := range ls {
		if l.Condition == c {
			return true
		}
	}
	return false
}

// InSession reports whether the phase is part of a running session.
func (p Phase) InSession() bool { return p >= Baseline && p <= Observation }
