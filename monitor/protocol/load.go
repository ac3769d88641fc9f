package protocol

import (
	"fmt"
	"math"
	"time"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// Defaults are the shipped values of CONTRACT §3, used for keys a file leaves out.
func Defaults() Protocol {
	p := Protocol{
		AutoStartAfter: 30 * time.Second,
		MinNIBPGap:     30 * time.Second,
		Gate:           Gate{SystolicAtLeast: 140, DiastolicAtLeast: 90},
		Discharge:      Discharge{SystolicWithin: 20, PulseWithin: 20, SpO2AtLeast: 94},
		Alarm:          AlarmTiming{AckReminder: 3 * time.Minute, AudioPause: 120 * time.Second, EscalateAfter: 2 * time.Minute},
	}
	p.Phases[Baseline] = PhaseSpec{NIBPEvery: 5 * time.Minute, RepeatNIBPAfterAlarm: 2 * time.Minute}
	p.Phases[Infusion] = PhaseSpec{Duration: 40 * time.Minute, NIBPEvery: 5 * time.Minute, RepeatNIBPAfterAlarm: 2 * time.Minute}
	p.Phases[Observation] = PhaseSpec{Duration: 60 * time.Minute, NIBPEvery: 15 * time.Minute, RepeatNIBPAfterAlarm: 2 * time.Minute}
	return p
}

// MaxAudioPause is the longest pause the contract allows: no silent "off".
const MaxAudioPause = 120 * time.Second

// Load reads and checks a protocol file, adding every problem to ps. It
// returns nil when the file could not be read or parsed; otherwise a protocol
// that is only safe to use when ps has no errors.
func Load(path string, ps *tomlcheck.Problems) *Protocol {
	t := tomlcheck.Load(path, ps)
	if t == nil {
		return nil
	}
	return read(t)
}

// Parse checks protocol text; file names it in problems.
func Parse(file, text string, ps *tomlcheck.Problems) *Protocol {
	t := tomlcheck.Parse(file, text, ps)
	if t == nil {
		return nil
	}
	return read(t)
}

// maxPhaseDuration bounds a phase's planned length: a chair session lasts
// hours, and a typo such as "2562047h" would otherwise never reach its
// infusion_time_reached or observation_complete.
const maxPhaseDuration = 12 * time.Hour

func read(t *tomlcheck.Table) *Protocol {
	p := Defaults()
	p.File = t.File()
	if s, ok := t.String("name"); ok || !t.Has("name") {
		p.Name = s
		if s == "" {
			t.Problem("name", "is required (it is published with every session)")
		}
	}
	readDuration(t, "auto_start_after", &p.AutoStartAfter)
	readDuration(t, "min_nibp_gap", &p.MinNIBPGap)
	if p.MinNIBPGap < 10*time.Second {
		t.Problem("min_nibp_gap", "is %v; a cuff needs at least 10s between inflations", p.MinNIBPGap)
	}
	var repeatDefault *time.Duration
	if d, ok := t.Duration("repeat_nibp_after_alarm"); ok {
		repeatDefault = &d
	}

	phases, _ := t.Table("phase")
	repeatSet := [NumPhases]bool{}
	for _, ph := range []Phase{Baseline, Infusion, Observation} {
		pt, _ := phases.Table(ph.String())
		spec := &p.Phases[ph]
		if ph != Baseline {
			readDuration(pt, "duration", &spec.Duration)
			if spec.Duration <= 0 || spec.Duration > maxPhaseDuration {
				pt.Problem("duration", "is %v; it must be longer than 0s and at most %v", spec.Duration, maxPhaseDuration)
			}
		}
		readDuration(pt, "nibp_every", &spec.NIBPEvery)
		if spec.NIBPEvery < p.MinNIBPGap {
			pt.Problem("nibp_every", "is %v, shorter than min_nibp_gap %v", spec.NIBPEvery, p.MinNIBPGap)
		}
		if d, ok := pt.Duration("repeat_nibp_after_alarm"); ok {
			spec.RepeatNIBPAfterAlarm = d
			repeatSet[ph] = true
			if repeatDefault == nil {
				// CONTRACT §3 writes this key in [phase.observation] yet says it holds
				// "in every phase": the first phase that sets it sets it for the
				// phases that don't (a top-level key, if given, wins).
				repeatDefault = &d
			}
		}
		spec.Limits = readLimits(pt, "limit")
		pt.Done()
	}
	for _, ph := range []Phase{Baseline, Infusion, Observation} {
		spec := &p.Phases[ph]
		if !repeatSet[ph] && repeatDefault != nil {
			spec.RepeatNIBPAfterAlarm = *repeatDefault
		}
		if spec.RepeatNIBPAfterAlarm < p.MinNIBPGap {
			phases.Problem(ph.String()+".repeat_nibp_after_alarm", "is %v, shorter than min_nibp_gap %v", spec.RepeatNIBPAfterAlarm, p.MinNIBPGap)
		}
	}
	for _, k := range phases.Keys() {
		if ph, ok := ParsePhase(k); !ok || ph == Idle || ph == Ended {
			phases.Problem(k, "unknown phase (the phases with settings are baseline, infusion and observation)")
			phases.Table(k) // mark read: reported once, here
		}
	}
	phases.Done()

	gate, _ := t.Table("gate")
	readNumber(gate, "systolic_at_least", &p.Gate.SystolicAtLeast, 0, 300)
	readNumber(gate, "diastolic_at_least", &p.Gate.DiastolicAtLeast, 0, 300)
	gate.Done()

	dis, _ := t.Table("discharge")
	readNumber(dis, "systolic_within", &p.Discharge.SystolicWithin, 0, 300)
	readNumber(dis, "pulse_within", &p.Discharge.PulseWithin, 0, 300)
	readNumber(dis, "spo2_at_least", &p.Discharge.SpO2AtLeast, 0, 100)
	dis.Done()

	al, _ := t.Table("alarm")
	readDuration(al, "ack_reminder", &p.Alarm.AckReminder)
	if p.Alarm.AckReminder <= 0 {
		al.Problem("ack_reminder", "must be longer than 0s: an acknowledged alarm must remind")
	}
	readDuration(al, "audio_pause", &p.Alarm.AudioPause)
	if p.Alarm.AudioPause <= 0 || p.Alarm.AudioPause > MaxAudioPause {
		al.Problem("audio_pause", "is %v; it must be more than 0s and at most %v", p.Alarm.AudioPause, MaxAudioPause)
	}
	readDuration(al, "escalate_after", &p.Alarm.EscalateAfter)
	al.Done()

	p.Limits = readLimits(t, "limit")
	if len(p.Limits) == 0 {
		t.Warn("limit", "no [[limit]] tables: only technical alarms will sound")
	}
	t.Done()

	said := checkConsistent(t, "limit", p.Limits, nil)
	for _, ph := range []Phase{Baseline, Infusion, Observation} {
		checkConsistent(phases, ph.String()+".limit", p.LimitsFor(ph, nil), said)
	}
	return &p
}

func readDuration(t *tomlcheck.Table, key string, dst *time.Duration) {
	if d, ok := t.Duration(key); ok {
		*dst = d
	}
}

func readNumber(t *tomlcheck.Table, key string, dst *float64, min, max float64) {
	v, ok := t.Number(key)
	if !ok {
		return
	}
	if !(v >= min && v <= max) { // also refuses nan
		t.Problem(key, "%s is outside %s..%s", FormatNumber(v), FormatNumber(min), FormatNumber(max))
		return
	}
	*dst = v
}

func readLimits(t *tomlcheck.Table, key string) []Limit {
	var out []Limit
	for _, lt := range t.Tables(key) {
		if l, ok := readLimit(lt); ok {
			out = append(out, l)
		}
	}
	return out
}

// readLimit reads one [[limit]] table, checking it on its own.
func readLimit(t *tomlcheck.Table) (Limit, bool) {
	var l Limit
	good := true
	name, _ := t.String("condition")
	c, ok := ParseCondition(name)
	if !ok {
		t.Problem("condition", "%q is not a known condition (spo2_, pulse_, nibp_systolic_, nibp_diastolic_ or nibp_mean_ followed by low, high, rise or fall)", name)
		good = false
	}
	l.Condition = c
	pr, _ := t.String("priority")
	if l.Priority, ok = ParsePriority(pr); !ok {
		t.Problem("priority", "%q must be high, medium or low", pr)
		good = false
	}
	set := 0
	for cmp, key := range comparisonKeys {
		if v, ok := t.Number(key); ok {
			set++
			l.Cmp, l.Threshold = Comparison(cmp), v
		}
	}
	if set != 1 {
		t.Problem("", "needs exactly one of below, at_most, above or at_least (found %d)", set)
		good = false
	}
	l.Delay, _ = t.Duration("delay")
	if h, ok := t.Number("hysteresis"); ok {
		l.Hysteresis = h
	}
	l.Latch, _ = t.Bool("latch")
	t.Done()
	if !good {
		return l, false
	}
	if err := l.Check(); err != nil {
		t.Problem("", "%s (%s): %v", l.Condition, l.Priority, err)
		return l, false
	}
	if l.Condition.Measure.IsNIBP() && l.Delay > 0 {
		t.Warn("delay", "has no effect: NIBP conditions are judged once per measurement")
	}
	return l, true
}

// Check tests one limit on its own: direction against comparison, range,
// hysteresis. The `limits` command uses it too.
func (l Limit) Check() error {
	c := l.Condition
	if l.Priority < Low || l.Priority > High {
		return fmt.Errorf("priority must be high, medium or low")
	}
	wantLower := c.Direction == TooLow
	if l.Cmp.lower() != wantLower {
		if wantLower {
			return fmt.Errorf("needs below or at_most, not %s", l.Cmp)
		}
		return fmt.Errorf("needs above or at_least, not %s", l.Cmp)
	}
	if math.IsNaN(l.Threshold) || math.IsInf(l.Threshold, 0) || math.IsNaN(l.Hysteresis) || math.IsInf(l.Hysteresis, 0) {
		return fmt.Errorf("limit and hysteresis must be finite numbers")
	}
	r := measureRange[c.Measure]
	lo, hi := r[0], r[1]
	if c.Relative() {
		lo = 0 // a rise or fall is a positive amount
	}
	if l.Threshold < lo || l.Threshold > hi {
		return fmt.Errorf("%s %s is outside %s..%s", l.Cmp, FormatNumber(l.Threshold), FormatNumber(lo), FormatNumber(hi))
	}
	if l.Hysteresis < 0 || l.Hysteresis > hi/4 {
		return fmt.Errorf("hysteresis %s must be between 0 and %s", FormatNumber(l.Hysteresis), FormatNumber(hi/4))
	}
	if l.Delay < 0 || l.Delay > 5*time.Minute {
		return fmt.Errorf("delay %v must be between 0s and 5m", l.Delay)
	}
	return nil
}

// checkConsistent reports limits that contradict each other: the same
// condition and priority twice, or a more urgent priority whose threshold is
// less extreme than a less urgent one's (a high spo2_low above the medium).
// A phase's set holds the global limits it does not replace: what the global
// set already reported (said) is not reported again for every phase.
func checkConsistent(t *tomlcheck.Table, key string, ls []Limit, said map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, msg := range Contradictions(ls) {
		out[msg] = true
		if !said[msg] {
			t.Problem(key, "%s", msg)
		}
	}
	return out
}

// Contradictions lists, as messages, the pairs of limits in ls that contradict
// each other. An empty result means the set is coherent.
func Contradictions(ls []Limit) []string {
	var out []string
	for i, a := range ls {
		for _, b := range ls[i+1:] {
			if msg, ok := overlap(a, b); ok {
				out = append(out, msg)
				continue
			}
			if a.Condition != b.Condition {
				continue
			}
			if a.Priority == b.Priority {
				out = append(out, fmt.Sprintf("%s at priority %s is given twice", a.Condition, a.Priority))
				continue
			}
			hi, lo := a, b
			if lo.Priority > hi.Priority {
				hi, lo = lo, hi
			}
			// The more urgent limit must sit further out than the less urgent one.
			lowSide := hi.Cmp.lower()
			if (lowSide && hi.Threshold > lo.Threshold) || (!lowSide && hi.Threshold < lo.Threshold) {
				out = append(out, fmt.Sprintf("%s: the %s limit (%s) is less extreme than the %s limit (%s)",
					hi.Condition, hi.Priority, hi.Describe(), lo.Priority, lo.Describe()))
			}
		}
	}
	return out
}

// overlap reports a "too low" and a "too high" limit of the same measure
// that some value crosses both (pulse_high above 30 beside pulse_low below
// 50): a patient would be in two alarms at once and never inside the limits.
func overlap(a, b Limit) (string, bool) {
	if a.Condition.Measure != b.Condition.Measure || a.Condition.Relative() || b.Condition.Relative() ||
		a.Condition.Direction == b.Condition.Direction {
		return "", false
	}
	low, high := a, b
	if low.Condition.Direction != TooLow {
		low, high = b, a
	}
	if high.Threshold > low.Threshold || (high.Threshold == low.Threshold && (high.Cmp == Above || low.Cmp == Below)) {
		return "", false
	}
	return fmt.Sprintf("%s %s (%s) and %s %s (%s) overlap: a value can be too low and too high at once",
		low.Condition, low.Describe(), low.Priority, high.Condition, high.Describe(), high.Priority), true
}

// ParseLimit reads one limit given as a decoded object (the `limits`
// command's "limit"), with the same checks as a [[limit]] table.
func ParseLimit(m map[string]any) (Limit, error) {
	var ps tomlcheck.Problems
	l, ok := readLimit(tomlcheck.FromMap("command", "limit", m, &ps))
	if err := ps.Err(); err != nil {
		return l, err
	}
	if !ok {
		return l, fmt.Errorf("limit is not valid")
	}
	return l, nil
}
