package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// Bounds of what a scenario may say. Values outside them are refused as
// impossible: a patient cannot have them or not every emulated device can
// send them (a CMS50 reports no pulse above 254, a SunTech no pressure above
// 300 mm[Hg]).
func spo2Span() span  { return span{1, 100, "%"} }
func pulseSpan() span { return span{20, 250, "/min"} }
func sysSpan() span   { return span{40, 300, "mm[Hg]"} }
func diaSpan() span   { return span{20, 250, "mm[Hg]"} }
func meanSpan() span  { return span{20, 300, "mm[Hg]"} }

const (
	// maxTime bounds every time and duration: a session is hours long, and
	// the bound keeps t + over far from overflowing.
	maxTime = 24 * time.Hour
	// NIBP cycle bounds; the module's own limit is 180 s, and a longer
	// cycle is how a scenario makes the driver time out.
	minNIBPDuration     = time.Second
	maxNIBPDuration     = 10 * time.Minute
	defaultNIBPDuration = 30 * time.Second
	// maxGarbage bounds a garbage burst: a few seconds of line time.
	maxGarbage = 65536
)

// span is an allowed range of a value, for checks and messages.
type span struct {
	lo, hi float64
	unit   string
}

// node is a table being read with its raw decoded map beside it: tomlcheck
// reads and reports, the raw map says whether a key holds a table (a ramp)
// or a plain value before either is asked for.
type node struct {
	t *tomlcheck.Table
	m map[string]any
}

// has reports whether key is present.
func (n node) has(key string) bool { return n.t.Has(key) }

// isTable reports whether key holds a table.
func (n node) isTable(key string) bool {
	_, ok := n.m[key].(map[string]any)
	return ok
}

// sub reads key as a table (tomlcheck reports any other type).
func (n node) sub(key string) (node, bool) {
	t, present := n.t.Table(key)
	m, _ := n.m[key].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return node{t, m}, present
}

// list reads key as an array of tables, [[key]] or an inline array.
func (n node) list(key string) []node {
	tables := n.t.Tables(key)
	var maps []map[string]any
	switch a := n.m[key].(type) {
	case []map[string]any:
		maps = a
	case []any:
		for _, e := range a {
			if m, ok := e.(map[string]any); ok {
				maps = append(maps, m)
			}
		}
	}
	out := make([]node, 0, len(tables))
	for i := range min(len(tables), len(maps)) {
		out = append(out, node{tables[i], maps[i]})
	}
	return out
}

// level is a value change: a plain value (over == 0) or a ramp to `to` over
// `over`.
type level struct {
	to   float64
	over time.Duration
}

// String describes the change for a log: "85" or "to 85 over 2m0s".
func (lv level) String() string {
	if lv.over == 0 {
		return fmt.Sprintf("%g", lv.to)
	}
	return fmt.Sprintf("to %g over %v", lv.to, lv.over)
}

// readLevel reads key as a plain number or, when ramps is set, a ramp table
// {to, over}. ok is false when the key is absent or wrong (reported).
func readLevel(n node, key string, sp span, ramps bool) (lv level, ok bool) {
	if !n.has(key) {
		return lv, false
	}
	if n.isTable(key) {
		r, _ := n.sub(key)
		if !ramps {
			n.t.Problem(key, "must be a number; a ramp ({to, over}) belongs in an [[at]] entry")
			return lv, false
		}
		defer r.t.Done()
		to, okTo := readNumber(r, "to", sp, true)
		over, okOver := readDuration(r, "over", 1, maxTime, true)
		return level{to: to, over: over}, okTo && okOver
	}
	v, ok := readNumber(n, key, sp, false)
	return level{to: v}, ok
}

// readNumber reads a finite number within sp.
func readNumber(n node, key string, sp span, required bool) (float64, bool) {
	if !n.has(key) {
		if required {
			n.t.Problem(key, "is required")
		}
		return 0, false
	}
	v, ok := n.t.Number(key)
	switch {
	case !ok:
		return 0, false
	case math.IsNaN(v) || math.IsInf(v, 0):
		n.t.Problem(key, "must be a finite number, not %v", v)
		return 0, false
	case v < sp.lo || v > sp.hi:
		n.t.Problem(key, "%g is outside %g..%g %s", v, sp.lo, sp.hi, sp.unit)
		return 0, false
	}
	return v, true
}

// readDuration reads a duration string within lo..hi.
func readDuration(n node, key string, lo, hi time.Duration, required bool) (time.Duration, bool) {
	if !n.has(key) {
		if required {
			n.t.Problem(key, "is required")
		}
		return 0, false
	}
	d, ok := n.t.Duration(key)
	switch {
	case !ok:
		return 0, false
	case d == 0 && lo > 0:
		n.t.Problem(key, "must be longer than 0s")
		return 0, false
	case d < lo || d > hi:
		n.t.Problem(key, "%v is outside %v..%v", d, lo, hi)
		return 0, false
	}
	return d, true
}

// readChoice reads a string that must be one of names; it gives the index.
func readChoice(n node, key string, names ...string) (int, bool) {
	s, ok := n.t.String(key)
	if !ok {
		return 0, false
	}
	for i, name := range names {
		if s == name {
			return i, true
		}
	}
	n.t.Problem(key, "%q is not one of %q", s, names)
	return 0, false
}

// readDevice reads a device name.
func readDevice(n node, key string) (Device, bool) {
	i, ok := readChoice(n, key, Nonin.String(), CMS50.String(), SunTech.String())
	if !ok {
		return 0, false
	}
	return Devices()[i], true
}
