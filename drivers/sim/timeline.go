package sim

import (
	"sort"
	"time"
)

// seg is one piece of a numeric track: v0 at from, moving linearly to v1 at
// end, then holding. A plain value is a seg with end == from.
type seg struct {
	from, end time.Duration
	v0, v1    float64
	entry     int // the [[at]] entry that made it; 0 for [start]
}

// value is the seg's value at t >= from.
func (s seg) value(t time.Duration) float64 {
	if t >= s.end || s.end == s.from {
		return s.v1
	}
	f := float64(t-s.from) / float64(s.end-s.from)
	return s.v0 + (s.v1-s.v0)*f
}

// track is a numeric field's course: its segs in order of from (loading
// rejects entries out of time order). Before the first seg the field is
// unset, which only BP mean and pulse may be (they are then derived).
type track []seg

// find gives the index of the seg in force at t, or -1: the last seg that
// starts at or before t (strictly before t when left is set, which gives the
// value just before t, where a new value may jump in).
func (tr track) find(t time.Duration, left bool) int {
	return sort.Search(len(tr), func(i int) bool {
		if left {
			return tr[i].from >= t
		}
		return tr[i].from > t
	}) - 1
}

// at gives the value at t; ok is false while the field is unset.
func (tr track) at(t time.Duration) (v float64, ok bool) {
	i := tr.find(t, false)
	if i < 0 {
		return 0, false
	}
	return tr[i].value(t), true
}

// change appends a plain value (over == 0) or a ramp from the value from.
func (tr *track) change(t time.Duration, lv level, from float64, entry int) {
	if lv.over == 0 {
		from = lv.to
	}
	*tr = append(*tr, seg{from: t, end: t + lv.over, v0: from, v1: lv.to, entry: entry})
}

// step is a discrete field's value from a time on.
type step[T any] struct {
	at time.Duration
	v  T
}

// steps is a discrete field's course, in time order; its first step is at 0
// (the [start] value).
type steps[T any] []step[T]

// at gives the value at t: that of the last step at or before t.
func (s steps[T]) at(t time.Duration) T {
	i := sort.Search(len(s), func(i int) bool { return s[i].at > t }) - 1
	if i < 0 {
		var zero T
		return zero
	}
	return s[i].v
}

// window is an artifact burst, [from, to).
type window struct{ from, to time.Duration }

// timeline is a scenario's evaluated form: one course per field.
type timeline struct {
	spo2, pulse, sys, dia, mean, bpPulse track

	perfusion  steps[Perfusion]
	probeOff   steps[bool]
	nibpDur    steps[time.Duration]
	nibpSilent steps[bool]
	unplugged  steps[uint8]
	artifacts  []window

	end time.Duration // the last entry's time, ramp end or burst end
}

// at evaluates every field at t.
func (tl *timeline) at(t time.Duration) State {
	s := State{
		T:            t,
		Perfusion:    tl.perfusion.at(t),
		ProbeOff:     tl.probeOff.at(t),
		NIBPDuration: tl.nibpDur.at(t),
		NIBPSilent:   tl.nibpSilent.at(t),
		unplugged:    tl.unplugged.at(t),
	}
	s.SpO2, _ = tl.spo2.at(t)
	s.Pulse, _ = tl.pulse.at(t)
	s.BP = tl.bpAt(t, s.Pulse)
	for _, w := range tl.artifacts {
		if w.from <= t && t < w.to {
			s.Artifact = true
			break
		}
	}
	return s
}

// bpAt resolves the blood pressure at t; pulse is the oximeter's pulse then,
// which the NIBP pulse follows while the scenario does not set it.
func (tl *timeline) bpAt(t time.Duration, pulse float64) BP {
	b := BP{Pulse: pulse}
	b.Systolic, _ = tl.sys.at(t)
	b.Diastolic, _ = tl.dia.at(t)
	var ok bool
	if b.Mean, ok = tl.mean.at(t); !ok {
		b.Mean = derivedMean(b.Systolic, b.Diastolic)
	}
	if v, ok := tl.bpPulse.at(t); ok {
		b.Pulse = v
	}
	return b
}
