package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/chairside/chairside/drivers/suntech"
)

// entryReader reads one [[at]] entry. Every key is checked even when t is
// bad; only a good t lets the entry's changes into the timeline.
type entryReader struct {
	b     *builder
	n     node
	e     Entry
	timed bool     // t is good: changes go into the timeline
	sum   []string // what the entry does, for Entry.Summary
}

func (b *builder) readEntry(n node) {
	r := &entryReader{b: b, n: n, e: Entry{Index: len(b.sc.Entries) + 1}}
	r.readTime()
	if len(n.m) == 0 || len(n.m) == 1 && n.has("t") {
		n.t.Problem("", "sets nothing: add spo2, pulse, bp, probe, perfusion, artifact, nibp_error, nibp_silent, nibp_duration, unplug, replug or garbage")
	}
	r.readLevels()
	r.readConditions()
	r.readNIBP()
	r.readCables()
	n.t.Done()
	r.e.Summary = strings.Join(r.sum, "; ")
	b.sc.Entries = append(b.sc.Entries, r.e)
}

// readTime reads t and checks the entry's place in time.
func (r *entryReader) readTime() {
	b, n := r.b, r.n
	t, ok := readDuration(n, "t", 0, maxTime, true)
	if !ok {
		return
	}
	r.e.T, r.timed = t, true
	switch {
	case t < b.lastT:
		n.t.Problem("t", "%v is before the previous entry's %v: entries must be in time order", t, b.lastT)
		b.disordered = true
	case b.sc.Duration > 0 && t > b.sc.Duration:
		n.t.Problem("t", "%v is after the scenario's duration %v", t, b.sc.Duration)
	}
	b.lastT = max(b.lastT, t)
	b.tl.end = max(b.tl.end, t)
}

// readLevels reads spo2, pulse and bp: plain values or ramps.
func (r *entryReader) readLevels() {
	tl := r.b.tl
	for _, f := range []struct {
		key string
		sp  span
		tr  *track
	}{{"spo2", spo2Span(), &tl.spo2}, {"pulse", pulseSpan(), &tl.pulse}} {
		if lv, ok := readLevel(r.n, f.key, f.sp, true); ok {
			from, _ := f.tr.at(r.e.T)
			r.change(f.key, f.tr, lv, from)
		}
	}
	if !r.n.has("bp") {
		return
	}
	bp, isTable := r.n.sub("bp")
	if !isTable {
		return // tomlcheck said why
	}
	defer bp.t.Done()
	if len(bp.m) == 0 {
		bp.t.Problem("", "sets nothing: add systolic, diastolic, mean or pulse")
	}
	for _, f := range []struct {
		key  string
		sp   span
		tr   *track
		pick func(BP) float64
	}{
		{"systolic", sysSpan(), &tl.sys, func(b BP) float64 { return b.Systolic }},
		{"diastolic", diaSpan(), &tl.dia, func(b BP) float64 { return b.Diastolic }},
		{"mean", meanSpan(), &tl.mean, func(b BP) float64 { return b.Mean }},
		{"pulse", pulseSpan(), &tl.bpPulse, func(b BP) float64 { return b.Pulse }},
	} {
		if lv, ok := readLevel(bp, f.key, f.sp, true); ok {
			// The resolved value, so that a ramp of a derived mean or
			// pulse starts where the derived value is.
			pulse, _ := tl.pulse.at(r.e.T)
			r.change("bp."+f.key, f.tr, lv, f.pick(tl.bpAt(r.e.T, pulse)))
		}
	}
}

// change applies a value change to a track when the entry is timed.
func (r *entryReader) change(name string, tr *track, lv level, from float64) {
	r.sum = append(r.sum, name+" "+lv.String())
	if r.timed {
		tr.change(r.e.T, lv, from, r.e.Index)
		r.b.tl.end = max(r.b.tl.end, r.e.T+lv.over)
	}
}

// readConditions reads probe, perfusion and artifact.
func (r *entryReader) readConditions() {
	tl, n, t := r.b.tl, r.n, r.e.T
	if i, ok := readChoice(n, "probe", "on", "off"); ok {
		r.sum = append(r.sum, "probe "+[]string{"on", "off"}[i])
		if r.timed {
			tl.probeOff = append(tl.probeOff, step[bool]{t, i == 1})
		}
	}
	if i, ok := readChoice(n, "perfusion", perfusionNames()...); ok {
		r.sum = append(r.sum, "perfusion "+perfusionNames()[i])
		if r.timed {
			tl.perfusion = append(tl.perfusion, step[Perfusion]{t, Perfusion(i)})
		}
	}
	if d, ok := readDuration(n, "artifact", 1, maxTime, false); ok {
		r.sum = append(r.sum, fmt.Sprintf("artifact %v", d))
		if r.timed {
			tl.artifacts = append(tl.artifacts, window{t, t + d})
			tl.end = max(tl.end, t+d)
		}
	}
}

// readNIBP reads nibp_error, nibp_silent and nibp_duration.
func (r *entryReader) readNIBP() {
	tl, n, t := r.b.tl, r.n, r.e.T
	if n.has("nibp_error") {
		if c, ok := n.t.Int("nibp_error"); ok {
			switch {
			case c < 1 || c > 255:
				n.t.Problem("nibp_error", "%d is outside 1..255 (0 would mean success)", c)
			default:
				// 0xFF has no name: every unnamed code shares its Name.
				if suntech.ErrorCode(c).Name() == suntech.ErrorCode(0xFF).Name() {
					n.t.Warn("nibp_error", "0x%02X is not a code the module documents; the driver reports it as unknown", c)
				}
				r.event(Event{Kind: NIBPError, Code: uint8(c)})
			}
		}
	}
	if v, ok := n.t.Bool("nibp_silent"); ok {
		r.sum = append(r.sum, fmt.Sprintf("nibp_silent %v", v))
		if r.timed {
			tl.nibpSilent = append(tl.nibpSilent, step[bool]{t, v})
		}
	}
	if d, ok := readDuration(n, "nibp_duration", minNIBPDuration, maxNIBPDuration, false); ok {
		r.sum = append(r.sum, fmt.Sprintf("nibp_duration %v", d))
		if r.timed {
			tl.nibpDur = append(tl.nibpDur, step[time.Duration]{t, d})
		}
	}
}

// readCables reads unplug, replug and garbage, following each cable's state
// in file order so that pulling a cable twice is caught.
func (r *entryReader) readCables() {
	b, n := r.b, r.n
	if n.has("unplug") {
		if d, ok := readDevice(n, "unplug"); ok {
			if !b.plugged[d] {
				n.t.Problem("unplug", "%s is already unplugged (by %s)", d, b.plugKey[d])
			}
			b.plugged[d], b.plugKey[d] = false, r.e.Key()
			r.event(Event{Kind: Unplug, Device: d})
		}
	}
	if n.has("replug") {
		if d, ok := readDevice(n, "replug"); ok {
			if b.plugged[d] {
				n.t.Problem("replug", "%s is not unplugged at this point", d)
			}
			b.plugged[d] = true
			r.event(Event{Kind: Replug, Device: d})
		}
	}
	if n.has("unplug") || n.has("replug") {
		var mask uint8
		for _, d := range Devices() {
			if !b.plugged[d] {
				mask |= 1 << d
			}
		}
		if r.timed {
			b.tl.unplugged = append(b.tl.unplugged, step[uint8]{r.e.T, mask})
		}
	}
	if n.has("garbage") {
		r.readGarbage()
	}
}

// readGarbage reads garbage = {device, bytes}.
func (r *entryReader) readGarbage() {
	g, isTable := r.n.sub("garbage")
	if !isTable {
		return // tomlcheck said why
	}
	defer g.t.Done()
	d, okDev := readDevice(g, "device")
	if !g.has("device") {
		g.t.Problem("device", "is required (nonin, cms50 or suntech)")
	}
	size, okSize := g.t.Int("bytes")
	switch {
	case !g.has("bytes"):
		g.t.Problem("bytes", "is required")
	case okSize && (size < 1 || size > maxGarbage):
		g.t.Problem("bytes", "%d is outside 1..%d", size, maxGarbage)
		okSize = false
	}
	if !okDev || !okSize {
		return
	}
	if !r.b.plugged[d] {
		g.t.Warn("device", "%s is unplugged at this point: the bytes go nowhere", d)
	}
	r.event(Event{Kind: Garbage, Device: d, Bytes: int(size)})
}

// event adds a one-shot event to the entry.
func (r *entryReader) event(e Event) {
	e.At, e.Entry = r.e.T, r.e.Index
	r.e.Events = append(r.e.Events, e)
	r.sum = append(r.sum, e.String())
}
