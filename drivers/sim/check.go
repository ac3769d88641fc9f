package sim

import (
	"fmt"
	"slices"
	"time"
)

// eps absorbs float rounding in the interpolation of valid endpoints.
const eps = 1e-9

// valueAt is like track.at but also gives the entry in force, and with left
// set the value just before t (a new value may jump in at t).
func (tr track) valueAt(t time.Duration, left bool) (v float64, entry int, ok bool) {
	i := tr.find(t, left)
	if i < 0 {
		return 0, 0, false
	}
	return tr[i].value(t), tr[i].entry, true
}

// checkBP reports any moment at which diastolic is not below systolic or a
// given mean is not between them. Each field is piecewise linear, so their
// differences are too: checking the values at, and just before, every start
// and end of a seg checks every moment. A problem is charged to the latest
// entry in force at that moment, once per entry.
func (b *builder) checkBP() {
	tl := b.tl
	if len(tl.sys) == 0 || len(tl.dia) == 0 {
		return // [start].bp is missing or wrong: already reported
	}
	var points []time.Duration
	for _, tr := range []track{tl.sys, tl.dia, tl.mean} {
		for _, s := range tr {
			points = append(points, s.from, s.end)
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)
	reported := map[int]bool{}
	for _, p := range points {
		for _, left := range []bool{true, false} {
			sys, sysE, _ := tl.sys.valueAt(p, left)
			dia, diaE, _ := tl.dia.valueAt(p, left)
			mean, meanE, meanSet := tl.mean.valueAt(p, left)
			if left && p == 0 {
				continue // nothing comes before t = 0
			}
			entry := max(sysE, diaE)
			if meanSet {
				entry = max(entry, meanE)
			}
			var msg string
			switch {
			case dia > sys-1+eps:
				msg = fmt.Sprintf("at %v diastolic %.4g would not be below systolic %.4g", p, dia, sys)
			case meanSet && (mean < dia-eps || mean > sys+eps):
				msg = fmt.Sprintf("at %v mean %.4g would be outside diastolic %.4g .. systolic %.4g", p, mean, dia, sys)
			}
			if msg == "" || reported[entry] {
				continue
			}
			reported[entry] = true
			key := "start.bp"
			if entry > 0 {
				key = fmt.Sprintf("at[%d].bp", entry)
			}
			b.ps.Add(b.file, key, "%s", msg)
		}
	}
}
