package sim

import (
	"errors"
	"os"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// Load reads and checks a scenario file, adding every problem to ps. It
// returns nil when the file has any error (warnings do not count).
func Load(path string, ps *tomlcheck.Problems) *Scenario {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		ps.Add(path, "", "cannot read: %v", err)
		return nil
	}
	return Parse(path, string(data), ps)
}

// Parse checks scenario text; file names it in problems. It returns nil when
// the text has any error (warnings do not count).
func Parse(file, text string, ps *tomlcheck.Problems) *Scenario {
	errs := ps.Errors()
	if tomlcheck.Parse(file, text, ps) == nil {
		return nil
	}
	// The same text again, as plain maps: tomlcheck reads and reports, the
	// raw maps say whether a key is a ramp table before it is read.
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		ps.Add(file, "", "%v", err)
		return nil
	}
	b := &builder{file: file, ps: ps}
	sc := b.read(node{tomlcheck.FromMap(file, "", raw, ps), raw})
	if ps.Errors() > errs {
		return nil
	}
	return sc
}

// builder reads a scenario's tables into its timeline, entry by entry.
type builder struct {
	file string
	ps   *tomlcheck.Problems
	sc   Scenario
	tl   *timeline

	lastT      time.Duration // of the latest timed entry
	disordered bool          // an entry came before its predecessor: no timeline checks
	plugged    [numDevices + 1]bool
	plugKey    [numDevices + 1]string // the entry that last pulled each cable, for messages
}

func (b *builder) read(root node) *Scenario {
	b.sc.File = b.file
	b.tl = &b.sc.tl
	if s, ok := root.t.String("name"); ok && s != "" {
		b.sc.Name = s
	} else if ok || !root.has("name") {
		root.t.Problem("name", "is required (it names the scenario in logs)")
	}
	b.sc.Description, _ = root.t.String("description")
	b.sc.Duration, _ = readDuration(root, "duration", 1, maxTime, false)
	start, present := root.sub("start")
	if !present && !root.has("start") {
		root.t.Problem("start", "is required: the state at t = 0 ([start] with spo2, pulse and bp)")
	}
	b.readStart(start, present)
	for _, n := range root.list("at") {
		b.readEntry(n)
	}
	root.t.Done()
	if !b.disordered {
		b.checkBP()
	}
	return &b.sc
}

// readStart reads [start]: the first value of every field, at t = 0. When
// the table is absent (reported once by the caller) only the defaults are
// set, without a problem for each key it lacks.
func (b *builder) readStart(n node, present bool) {
	defer n.t.Done()
	tl := b.tl
	for _, f := range []struct {
		key string
		sp  span
		tr  *track
	}{{"spo2", spo2Span(), &tl.spo2}, {"pulse", pulseSpan(), &tl.pulse}} {
		if !n.has(f.key) && present {
			n.t.Problem(f.key, "is required")
		}
		if lv, ok := readLevel(n, f.key, f.sp, false); ok {
			f.tr.change(0, lv, lv.to, 0)
		}
	}
	perf := PerfusionGood
	if i, ok := readChoice(n, "perfusion", perfusionNames()...); ok {
		perf = Perfusion(i)
	}
	tl.perfusion = steps[Perfusion]{{0, perf}}
	off := false
	if i, ok := readChoice(n, "probe", "on", "off"); ok {
		off = i == 1
	}
	tl.probeOff = steps[bool]{{0, off}}
	dur := defaultNIBPDuration
	if d, ok := readDuration(n, "nibp_duration", minNIBPDuration, maxNIBPDuration, false); ok {
		dur = d
	}
	tl.nibpDur = steps[time.Duration]{{0, dur}}
	silent, _ := n.t.Bool("nibp_silent")
	tl.nibpSilent = steps[bool]{{0, silent}}
	tl.unplugged = steps[uint8]{{0, 0}}
	for _, d := range Devices() {
		b.plugged[d] = true
	}

	if !n.has("bp") {
		if present {
			n.t.Problem("bp", "is required: { systolic = ..., diastolic = ... } for the NIBP measurements")
		}
		return
	}
	bp, isTable := n.sub("bp")
	if !isTable {
		return // tomlcheck said why
	}
	defer bp.t.Done()
	for _, f := range []struct {
		key      string
		sp       span
		tr       *track
		required bool
	}{{"systolic", sysSpan(), &tl.sys, true}, {"diastolic", diaSpan(), &tl.dia, true},
		{"mean", meanSpan(), &tl.mean, false}, {"pulse", pulseSpan(), &tl.bpPulse, false}} {
		if !f.required && !bp.has(f.key) {
			continue
		}
		if !bp.has(f.key) {
			bp.t.Problem(f.key, "is required")
			continue
		}
		if lv, ok := readLevel(bp, f.key, f.sp, false); ok {
			f.tr.change(0, lv, lv.to, 0)
		}
	}
}
