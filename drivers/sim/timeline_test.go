package sim

import (
	"math"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

const m = time.Minute

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRampsInterpolateAndHold(t *testing.T) {
	sc := parse(t, header+`
[[at]]
t = "10m"
spo2 = { to = 85, over = "2m" }
pulse = { to = 100, over = "10m" }
[[at]]
t = "11m"
pulse = 120            # a plain value cuts the pulse ramp short
[[at]]
t = "14m"
spo2 = { to = 95, over = "5m" }   # starts from where the field is: 85
`)
	for _, tc := range []struct {
		t           time.Duration
		spo2, pulse float64
	}{
		{0, 97, 70},
		{10 * m, 97, 70},
		{10*m + 30*time.Second, 94, 71.5},
		{11 * m, 91, 120},
		{12 * m, 85, 120},
		{13 * m, 85, 120},
		{14 * m, 85, 120},
		{16*m + 30*time.Second, 90, 120},
		{19 * m, 95, 120},
		{5 * time.Hour, 95, 120},
	} {
		s := sc.At(tc.t)
		if !near(s.SpO2, tc.spo2) || !near(s.Pulse, tc.pulse) || s.T != tc.t {
			t.Errorf("At(%v) = spo2 %v pulse %v, want %v %v", tc.t, s.SpO2, s.Pulse, tc.spo2, tc.pulse)
		}
	}
	if sc.End() != 20*m { // the pulse ramp was planned to end at 20m
		t.Errorf("End = %v", sc.End())
	}
	if s := sc.At(-time.Second); s.SpO2 != 97 || s.T != 0 {
		t.Errorf("At before the start: %+v", s)
	}
}

func TestRampFromMidRamp(t *testing.T) {
	sc := parse(t, header+`
[[at]]
t = "0s"
spo2 = { to = 87, over = "10m" }
[[at]]
t = "5m"
spo2 = { to = 100, over = "4m" }
`)
	for _, tc := range []struct {
		t    time.Duration
		want float64
	}{{5 * m, 92}, {7 * m, 96}, {9 * m, 100}, {20 * m, 100}} {
		if got := sc.At(tc.t).SpO2; !near(got, tc.want) {
			t.Errorf("At(%v).SpO2 = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// Entries at the same time apply in file order: the last value wins.
func TestEqualTimesApplyInFileOrder(t *testing.T) {
	sc := parse(t, header+`
[[at]]
t = "1m"
pulse = 80
probe = "off"
[[at]]
t = "1m"
pulse = 90
probe = "on"
`)
	if s := sc.At(m); s.Pulse != 90 || s.ProbeOff {
		t.Errorf("%+v", s)
	}
	if s := sc.At(m - 1); s.Pulse != 70 {
		t.Errorf("just before: %+v", s)
	}
}

func TestBPDerivedUntilSet(t *testing.T) {
	sc := parse(t, header+`
[[at]]
t = "1m"
pulse = 100
bp = { systolic = { to = 150, over = "3m" } }
[[at]]
t = "2m"
bp = { mean = { to = 110, over = "2m" }, pulse = { to = 60, over = "1m" } }
`)
	s := sc.At(90 * time.Second) // systolic 125, mean and pulse still derived
	if !near(s.BP.Systolic, 125) || !near(s.BP.Mean, 95) || s.BP.Pulse != 100 {
		t.Errorf("derived %+v", s.BP)
	}
	// The mean ramp starts from the derived value at 2m: 80 + 50/3.
	from := 80 + 50.0/3
	if s := sc.At(2 * m); !near(s.BP.Mean, from) || s.BP.Pulse != 100 {
		t.Errorf("at 2m %+v", s.BP)
	}
	if s := sc.At(3 * m); !near(s.BP.Mean, (from+110)/2) || !near(s.BP.Pulse, 60) {
		t.Errorf("at 3m %+v", s.BP)
	}
	if got := sc.At(10 * m).Measurement(); got != (Measurement{150, 80, 110, 60}) {
		t.Errorf("measurement %+v", got)
	}
}

func TestConditionsAndCables(t *testing.T) {
	sc := parse(t, header+`
[[at]]
t = "1m"
artifact = "20s"
perfusion = "low"
[[at]]
t = "1m10s"
artifact = "20s"       # overlapping bursts: artifact until 1m30s
[[at]]
t = "2m"
probe = "off"
unplug = "nonin"
nibp_silent = true
nibp_duration = "45s"
[[at]]
t = "3m"
probe = "on"
replug = "nonin"
unplug = "suntech"
perfusion = "marginal"
`)
	for _, tc := range []struct {
		t                      time.Duration
		artifact, probeOff     bool
		perf                   Perfusion
		nonin, suntech, silent bool
		nibp                   time.Duration
		flags                  vitals.Flag
		spo2Value, pulseValue  int16
	}{
		{0, false, false, PerfusionGood, true, true, false, 30 * time.Second, 0, 97, 70},
		{m, true, false, PerfusionLow, true, true, false, 30 * time.Second, vitals.Artifact | vitals.LowPerfusion, 97, 70},
		{m + 25*time.Second, true, false, PerfusionLow, true, true, false, 30 * time.Second, vitals.Artifact | vitals.LowPerfusion, 97, 70},
		{m + 30*time.Second, false, false, PerfusionLow, true, true, false, 30 * time.Second, vitals.LowPerfusion, 97, 70},
		{2 * m, false, true, PerfusionLow, false, true, true, 45 * time.Second, vitals.ProbeOff, vitals.NoValue, vitals.NoValue},
		{3 * m, false, false, PerfusionMarginal, true, false, true, 45 * time.Second, vitals.MarginalPerfusion, 97, 70},
	} {
		s := sc.At(tc.t)
		if s.Artifact != tc.artifact || s.ProbeOff != tc.probeOff || s.Perfusion != tc.perf || s.Plugged(Nonin) != tc.nonin ||
			s.Plugged(SunTech) != tc.suntech || !s.Plugged(CMS50) || s.NIBPSilent != tc.silent || s.NIBPDuration != tc.nibp {
			t.Errorf("At(%v) = %+v", tc.t, s)
		}
		spo2, pulse := s.Readings(4)
		want := vitals.Reading{Sensor: 4, Param: vitals.SpO2, Value: tc.spo2Value, Flags: tc.flags}
		if spo2 != want || pulse.Param != vitals.Pulse || pulse.Value != tc.pulseValue || pulse.Flags != tc.flags {
			t.Errorf("At(%v) readings %+v %+v, want %+v", tc.t, spo2, pulse, want)
		}
	}
}

func TestEventsAndCursor(t *testing.T) {
	sc := parse(t, header+`
[[at]]
t = "0s"
nibp_error = 0x57
[[at]]
t = "2m"
nibp_error = 0x01
[[at]]
t = "2m"
nibp_error = 0x02
garbage = { device = "cms50", bytes = 30 }
[[at]]
t = "3m"
unplug = "cms50"
[[at]]
t = "4m"
replug = "cms50"
spo2 = 90
`)
	evs := sc.Events()
	want := []Event{
		{At: 0, Entry: 1, Kind: NIBPError, Code: 0x57},
		{At: 2 * m, Entry: 2, Kind: NIBPError, Code: 0x01},
		{At: 2 * m, Entry: 3, Kind: NIBPError, Code: 0x02},
		{At: 2 * m, Entry: 3, Kind: Garbage, Device: CMS50, Bytes: 30},
		{At: 3 * m, Entry: 4, Kind: Unplug, Device: CMS50},
		{At: 4 * m, Entry: 5, Kind: Replug, Device: CMS50},
	}
	if len(evs) != len(want) {
		t.Fatalf("events %+v", evs)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, evs[i], want[i])
		}
	}
	c := sc.Cursor()
	steps := []struct {
		t    time.Duration
		want []int
	}{{0, []int{1}}, {0, nil}, {m, nil}, {2 * m, []int{2, 3}}, {time.Hour, []int{4, 5}}, {time.Hour, nil}, {0, nil}}
	for _, st := range steps {
		got := c.Advance(st.t)
		if len(got) != len(st.want) {
			t.Fatalf("Advance(%v) = %+v, want entries %v", st.t, got, st.want)
		}
		for i, e := range got {
			if e.Index != st.want[i] {
				t.Errorf("Advance(%v)[%d] = %s", st.t, i, e.Key())
			}
		}
	}
	if !c.Done() {
		t.Error("cursor not done")
	}
	if s := sc.Entries[4].Summary; s != "spo2 90; replug cms50" {
		t.Errorf("summary %q", s)
	}
	if got := (Event{Kind: NIBPError, Code: 0x57}).String(); got != "nibp_error 0x57" {
		t.Errorf("%s", got)
	}
}

func TestMeasurementKeepsOrderAfterRounding(t *testing.T) {
	s := State{BP: BP{Systolic: 100.4, Diastolic: 99.6, Mean: 130, Pulse: 70.5}}
	if got := s.Measurement(); got != (Measurement{100, 99, 100, 71}) {
		t.Errorf("%+v", got)
	}
	if got := round16(math.NaN()); got != 0 {
		t.Errorf("round16(NaN) = %d", got)
	}
}

func TestNames(t *testing.T) {
	for _, d := range Devices() {
		if got, ok := ParseDevice(d.String()); !ok || got != d {
			t.Errorf("ParseDevice(%s)", d)
		}
	}
	if _, ok := ParseDevice("masimo"); ok {
		t.Error("masimo parsed")
	}
	if Device(9).String() != "device(9)" || Perfusion(7).String() != "perfusion(7)" || (Event{}).String() != "event(0)" {
		t.Error("unknown names")
	}
}
