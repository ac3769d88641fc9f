package hl7

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// Minute is what one session's SpO2 and pulse records say over one minute:
// the median of each parameter's valid values, and how many there were.
type Minute struct {
	Session string
	Start   time.Time // the minute's start, UTC; the minute is [Start, Start+1m)
	SpO2    Median
	Pulse   Median
	// Last is the newest record's time: the message's time (MSH-7), so the
	// same records always make the same bytes.
	Last time.Time
	// ClockUnsynced is true when a record was timed by a chair clock that
	// was not synchronised: its minute may be wrong, and the message says so.
	ClockUnsynced bool
}

// Median is one parameter over a minute.
type Median struct {
	// Value is the median of the valid values, or null when there was none.
	// With an even count it is the lower of the two middle values, so it is
	// always a value the sensor sent, never an average it did not.
	Value   wire.Num
	Valid   int      // records with a valid value
	Records int      // records of this parameter in the minute
	Flags   []string // every flag seen on those records, sorted
}

// Valid reports whether a vitals record carries a value to use: a number
// (never a null turned into one), finite, and not flagged as coming from a
// probe that is off or a sensor that says its data is unusable.
func Valid(v wire.Vital) bool {
	if !v.Value.Valid || math.IsNaN(v.Value.V) || math.IsInf(v.Value.V, 0) {
		return false
	}
	for _, f := range v.Flags {
		if fl, ok := vitals.ParseFlag(f); ok && fl.Has(vitals.ProbeOffFlags) {
			return false
		}
	}
	return true
}

// MedianOf gives the lower median of values (a value from the list), or
// null for none. It does not change values.
func MedianOf(values []float64) wire.Num {
	if len(values) == 0 {
		return wire.Num{}
	}
	s := slices.Clone(values)
	slices.Sort(s)
	return wire.N(s[(len(s)-1)/2])
}

// Minutes groups vitals records (spo2 and pulse, any order, any sessions)
// into one Minute per session and UTC minute, sorted by time then session.
// A record seen twice (same stream and seq) counts once. Records that cannot
// be placed (no session, no time, another param) are left out and named in
// the error; the minutes of the others are returned all the same.
func Minutes(records []wire.Vital) ([]Minute, error) {
	type key struct {
		session string
		start   time.Time
	}
	type rkey struct {
		stream string
		seq    uint64
	}
	type acc struct {
		m      Minute
		values [2][]float64
		flags  [2]map[string]bool
	}
	byKey := map[key]*acc{}
	seen := map[rkey]bool{}
	var errs []error
	for _, v := range records {
		if v.Stream != "" || v.Seq != 0 {
			k := rkey{v.Stream, v.Seq}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		var p int
		switch v.Param {
		case "spo2":
			p = 0
		case "pulse":
			p = 1
		default:
			errs = append(errs, fmt.Errorf("record %s/%d: param %q is not spo2 or pulse", v.Stream, v.Seq, v.Param))
			continue
		}
		if v.Session == "" {
			errs = append(errs, fmt.Errorf("record %s/%d: no session", v.Stream, v.Seq))
			continue
		}
		if v.T.IsZero() {
			errs = append(errs, fmt.Errorf("record %s/%d: no time", v.Stream, v.Seq))
			continue
		}
		t := v.T.UTC()
		k := key{v.Session, t.Truncate(time.Minute)}
		a := byKey[k]
		if a == nil {
			a = &acc{m: Minute{Session: k.session, Start: k.start}}
			a.flags = [2]map[string]bool{{}, {}}
			byKey[k] = a
		}
		med := &a.m.SpO2
		if p == 1 {
			med = &a.m.Pulse
		}
		med.Records++
		for _, f := range v.Flags {
			a.flags[p][f] = true
		}
		if Valid(v) {
			med.Valid++
			a.values[p] = append(a.values[p], v.Value.V)
		}
		if t.After(a.m.Last) {
			a.m.Last = t
		}
		if !v.ClockSynced {
			a.m.ClockUnsynced = true
		}
	}
	out := make([]Minute, 0, len(byKey))
	for _, a := range byKey {
		a.m.SpO2.Value = MedianOf(a.values[0])
		a.m.Pulse.Value = MedianOf(a.values[1])
		a.m.SpO2.Flags = sortedKeys(a.flags[0])
		a.m.Pulse.Flags = sortedKeys(a.flags[1])
		out = append(out, a.m)
	}
	slices.SortFunc(out, func(x, y Minute) int {
		if c := x.Start.Compare(y.Start); c != 0 {
			return c
		}
		return strings.Compare(x.Session, y.Session)
	})
	return out, errors.Join(errs...)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
