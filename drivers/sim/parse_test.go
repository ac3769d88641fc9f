package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

func TestParseFullFile(t *testing.T) {
	sc := parse(t, `name = "full"
description = "every key"
duration = "1h"
[start]
spo2 = 97.5
pulse = 70
perfusion = "marginal"
probe = "on"
bp = { systolic = 128, diastolic = 82, mean = 97, pulse = 74 }
nibp_duration = "40s"
nibp_silent = false

[[at]]
t = "12m30s"
spo2 = { to = 85, over = "2m" }
pulse = 110
bp = { systolic = { to = 160, over = "20m" }, diastolic = 95, mean = { to = 110, over = "1m" }, pulse = 100 }
probe = "off"
perfusion = "low"
artifact = "20s"
nibp_error = 0x57
nibp_silent = true
nibp_duration = "45s"
unplug = "nonin"
garbage = { device = "suntech", bytes = 200 }

[[at]]
t = "13m"
replug = "nonin"
`)
	if sc.Name != "full" || sc.Description != "every key" || sc.Duration != time.Hour || sc.File != "s.toml" {
		t.Errorf("header: %+v", sc)
	}
	if len(sc.Entries) != 2 || sc.Entries[0].Key() != "at[1]" || sc.Entries[0].T != 12*time.Minute+30*time.Second {
		t.Fatalf("entries: %+v", sc.Entries)
	}
	want := "spo2 to 85 over 2m0s; pulse 110; bp.systolic to 160 over 20m0s; bp.diastolic 95; bp.mean to 110 over 1m0s; " +
		"bp.pulse 100; probe off; perfusion low; artifact 20s; nibp_error 0x57; nibp_silent true; nibp_duration 45s; " +
		"unplug nonin; garbage 200 bytes on suntech"
	if got := sc.Entries[0].Summary; got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	s0 := sc.At(0)
	if s0.SpO2 != 97.5 || s0.Pulse != 70 || s0.Perfusion != PerfusionMarginal || s0.ProbeOff || s0.NIBPDuration != 40*time.Second ||
		s0.BP != (BP{128, 82, 97, 74}) || !s0.Plugged(Nonin) {
		t.Errorf("start state %+v", s0)
	}
	if sc.End() != time.Hour {
		t.Errorf("End %v", sc.End())
	}
}

func TestParseDefaults(t *testing.T) {
	sc := parse(t, header)
	s := sc.At(0)
	if s.Perfusion != PerfusionGood || s.ProbeOff || s.Artifact || s.NIBPSilent || s.NIBPDuration != 30*time.Second {
		t.Errorf("defaults %+v", s)
	}
	// Mean derived, NIBP pulse following the oximeter.
	if s.BP.Mean != 80+40.0/3 || s.BP.Pulse != 70 {
		t.Errorf("derived BP %+v", s.BP)
	}
	if m := s.Measurement(); m != (Measurement{120, 80, 93, 70}) {
		t.Errorf("measurement %+v", m)
	}
	for _, d := range Devices() {
		if !s.Plugged(d) {
			t.Errorf("%v unplugged", d)
		}
	}
	if sc.End() != 0 || len(sc.Events()) != 0 {
		t.Errorf("End %v events %v", sc.End(), sc.Events())
	}
}

// Each mistake is reported with the file and the key, all in one pass.
func TestParseReportsEveryMistakeByKey(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"empty", "", []string{
			"s.toml: name: is required",
			"s.toml: start: is required",
		}},
		{"syntax", "name = \"x\"\n[start\n", []string{"s.toml: line 3: expected '.' or ']' to end table name"}},
		{"start", `name = 3
bogus = 1
[start]
spo2 = 101
pulse = "fast"
perfusion = "great"
probe = "maybe"
nibp_duration = 30
nibp_silent = "no"
extra = true
bp = { systolic = 120, mean = nan, colour = "red" }
`, []string{
			"s.toml: name: must be a string, not an integer",
			"s.toml: start.spo2: 101 is outside 1..100 %",
			"s.toml: start.pulse: must be a number, not a string",
			`s.toml: start.perfusion: "great" is not one of ["good" "marginal" "low"]`,
			`s.toml: start.probe: "maybe" is not one of ["on" "off"]`,
			`s.toml: start.nibp_duration: must be a duration string such as "90s" or "5m", not an integer`,
			"s.toml: start.nibp_silent: must be true or false, not a string",
			"s.toml: start.bp.diastolic: is required",
			"s.toml: start.bp.mean: must be a finite number, not NaN",
			"s.toml: start.bp.colour: unknown key",
			"s.toml: start.extra: unknown key",
			"s.toml: bogus: unknown key",
		}},
		{"ramp in start", `name = "x"
[start]
spo2 = { to = 90, over = "1m" }
pulse = 70
bp = { systolic = 120, diastolic = 80 }
`, []string{"s.toml: start.spo2: must be a number; a ramp ({to, over}) belongs in an [[at]] entry"}},
		{"entries", header + `
[[at]]
t = "5 minutes"
spo2 = { to = 120, over = "2m" }
[[at]]
t = "10m"
pulse = { to = 90 }
bp = { systolic = { to = 130, over = "0s", by = 1 } }
[[at]]
t = "8m"
probe = "of"
artifact = "-5s"
[[at]]
t = "9m"
nibp_error = 0
nibp_silent = 1
unplug = "masimo"
garbage = { device = "nonin", bytes = 0 }
[[at]]
t = "9m"
[[at]]
spo2 = 90
[[at]]
t = "30h"
perfusion = "low"
replug = "cms50"
garbage = "lots"
bp = 120
`, []string{
			`s.toml: at[1].t: "5 minutes" is not a duration`,
			"s.toml: at[1].spo2.to: 120 is outside 1..100 %",
			"s.toml: at[2].pulse.over: is required",
			"s.toml: at[2].bp.systolic.over: must be longer than 0s",
			"s.toml: at[2].bp.systolic.by: unknown key",
			"s.toml: at[3].t: 8m0s is before the previous entry's 10m0s: entries must be in time order",
			`s.toml: at[3].probe: "of" is not one of ["on" "off"]`,
			`s.toml: at[3].artifact: "-5s" must not be negative`,
			"s.toml: at[4].t: 9m0s is before the previous entry's 10m0s",
			"s.toml: at[4].nibp_error: 0 is outside 1..255",
			"s.toml: at[4].nibp_silent: must be true or false, not an integer",
			`s.toml: at[4].unplug: "masimo" is not one of ["nonin" "cms50" "suntech"]`,
			"s.toml: at[4].garbage.bytes: 0 is outside 1..65536",
			"s.toml: at[5].t: 9m0s is before the previous entry's 10m0s",
			"s.toml: at[5]: sets nothing",
			"s.toml: at[6].t: is required",
			"s.toml: at[7].t: 30h0m0s is outside 0s..24h0m0s",
			"s.toml: at[7].replug: cms50 is not unplugged at this point",
			"s.toml: at[7].garbage: must be a table",
			"s.toml: at[7].bp: must be a table",
		}},
		{"cables", header + `
[[at]]
t = "1m"
unplug = "suntech"
[[at]]
t = "2m"
unplug = "suntech"
[[at]]
t = "3m"
garbage = { device = "suntech", bytes = 10, when = "now" }
[[at]]
t = "4m"
garbage = { bytes = 10 }
`, []string{
			"s.toml: at[2].unplug: suntech is already unplugged (by at[1])",
			"s.toml: warning: at[3].garbage.device: suntech is unplugged at this point: the bytes go nowhere",
			"s.toml: at[3].garbage.when: unknown key",
			"s.toml: at[4].garbage.device: is required",
		}},
		{"duration", `name = "x"
duration = "10m"
[start]
spo2 = 97
pulse = 70
bp = { systolic = 120, diastolic = 80 }
[[at]]
t = "11m"
spo2 = 96
`, []string{"s.toml: at[1].t: 11m0s is after the scenario's duration 10m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.text)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\n") + 1; n != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", n, len(tc.want), got)
			}
		})
	}
}

// Ramps and sets that would put diastolic at or above systolic, or a mean
// outside them, are refused at whatever moment it would happen.
func TestParseRefusesImpossibleBP(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"start", `name = "x"
[start]
spo2 = 97
pulse = 70
bp = { systolic = 100, diastolic = 100 }
`, "s.toml: start.bp: at 0s diastolic 100 would not be below systolic 100"},
		{"start mean", `name = "x"
[start]
spo2 = 97
pulse = 70
bp = { systolic = 120, diastolic = 80, mean = 130 }
`, "s.toml: start.bp: at 0s mean 130 would be outside diastolic 80 .. systolic 120"},
		{"ramps cross", header + `
[[at]]
t = "1m"
bp = { systolic = { to = 90, over = "10m" } }
[[at]]
t = "2m"
bp = { diastolic = { to = 110, over = "4m" } }
`, "s.toml: at[2].bp: at 6m0s diastolic 110 would not be below systolic 105"},
		{"cut short by a later set", header + `
[[at]]
t = "1m"
bp = { diastolic = { to = 160, over = "8m" } }
[[at]]
t = "5m"
bp = { diastolic = 70 }
`, "s.toml: at[1].bp: at 5m0s diastolic 120 would not be below systolic 120"},
		{"mean left behind", header + `
[[at]]
t = "1m"
bp = { mean = 90 }
[[at]]
t = "2m"
bp = { systolic = { to = 85, over = "1m" }, diastolic = 60 }
`, "s.toml: at[2].bp: at 3m0s mean 90 would be outside diastolic 60 .. systolic 85"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.text)
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	// Touching is not crossing: a ramp that stops 1 mm[Hg] short is fine.
	parse(t, header+`
[[at]]
t = "1m"
bp = { diastolic = { to = 119, over = "10m" } }
`)
}

func TestParseWarnings(t *testing.T) {
	var ps tomlcheck.Problems
	sc := Parse("s.toml", header+`
[[at]]
t = "1m"
nibp_error = 0x42
[[at]]
t = "2m"
unplug = "cms50"
[[at]]
t = "2m"
garbage = { device = "cms50", bytes = 10 }
`, &ps)
	if sc == nil || ps.Errors() != 0 {
		t.Fatalf("warnings must not fail the load: %v", ps.List)
	}
	want := []string{
		"s.toml: warning: at[1].nibp_error: 0x42 is not a code the module documents; the driver reports it as unknown",
		"s.toml: warning: at[3].garbage.device: cms50 is unplugged at this point: the bytes go nowhere",
	}
	if len(ps.List) != len(want) {
		t.Fatalf("got %v", ps.List)
	}
	for i, w := range want {
		if ps.List[i].String() != w {
			t.Errorf("got %q\nwant %q", ps.List[i].String(), w)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	var ps tomlcheck.Problems
	if Load("/nonexistent/s.toml", &ps) != nil || ps.Err().Error() != "/nonexistent/s.toml: cannot read: no such file or directory" {
		t.Fatalf("%v", ps.List)
	}
}

// Problems already in the list (another file's) do not fail this one.
func TestParseCountsOnlyItsOwnErrors(t *testing.T) {
	var ps tomlcheck.Problems
	ps.Add("other.toml", "x", "bad")
	if Parse("s.toml", header, &ps) == nil {
		t.Fatal("a good scenario failed because of an earlier problem")
	}
}
