package protocol

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

func TestShippedProtocolLoadsWithContractValues(t *testing.T) {
	var ps tomlcheck.Problems
	p := Load(filepath.Join("..", "..", "configs", "ketamine-iv.toml"), &ps)
	if len(ps.List) != 0 {
		t.Fatalf("shipped protocol has problems:\n%v", (&tomlcheck.Error{List: ps.List}).Error())
	}
	if p.Name != "ketamine-iv" || p.AutoStartAfter != 30*time.Second || p.MinNIBPGap != 30*time.Second {
		t.Errorf("header = %q %v %v", p.Name, p.AutoStartAfter, p.MinNIBPGap)
	}
	if got := p.Phases[Infusion]; got.Duration != 40*time.Minute || got.NIBPEvery != 5*time.Minute {
		t.Errorf("infusion = %+v", got)
	}
	if got := p.Phases[Observation]; got.Duration != time.Hour || got.NIBPEvery != 15*time.Minute {
		t.Errorf("observation = %+v", got)
	}
	for _, ph := range []Phase{Baseline, Infusion, Observation} {
		if p.Phases[ph].RepeatNIBPAfterAlarm != 2*time.Minute {
			t.Errorf("%s repeat = %v, want 2m in every phase", ph, p.Phases[ph].RepeatNIBPAfterAlarm)
		}
	}
	if len(p.Limits) != 13 {
		t.Fatalf("limits = %d, want 13", len(p.Limits))
	}
	want := Limit{Condition: Condition{SpO2, TooLow}, Priority: High, Cmp: Below, Threshold: 88, Delay: 5 * time.Second, Hysteresis: 1, Latch: true}
	if p.Limits[1] != want {
		t.Errorf("limit 2 = %+v, want %+v", p.Limits[1], want)
	}
	rise := p.Limits[12]
	if rise.Condition != (Condition{Systolic, Rise}) || rise.Cmp != AtLeast || rise.Threshold != 40 {
		t.Errorf("rise limit = %+v", rise)
	}
	if p.Gate != (Gate{140, 90}) || p.Discharge != (Discharge{20, 20, 94}) {
		t.Errorf("gate %+v discharge %+v", p.Gate, p.Discharge)
	}
	if p.Alarm != (AlarmTiming{3 * time.Minute, 120 * time.Second, 2 * time.Minute}) {
		t.Errorf("alarm %+v", p.Alarm)
	}
}

// Each bad file must give a problem naming the key and saying what is wrong.
func TestProtocolProblemsNameTheKey(t *testing.T) {
	base := "name = \"p\"\n"
	cases := []struct {
		name, text string
		want       []string // each must appear in one problem line
	}{
		{"unknown key", base + "auto_strat_after = \"30s\"\n", []string{"x.toml: auto_strat_after: unknown key"}},
		{"bare number duration", base + "min_nibp_gap = 30\n", []string{"min_nibp_gap: must be a duration string"}},
		{"bad duration text", base + "[phase.infusion]\nduration = \"40 minutes\"\n", []string{"phase.infusion.duration: \"40 minutes\" is not a duration"}},
		{"negative duration", base + "[alarm]\nack_reminder = \"-3m\"\n", []string{"alarm.ack_reminder: \"-3m\" must not be negative"}},
		{"pause too long", base + "[alarm]\naudio_pause = \"10m\"\n", []string{"alarm.audio_pause: is 10m0s; it must be more than 0s and at most 2m0s"}},
		{"wrong type", base + "[gate]\nsystolic_at_least = \"140\"\n", []string{"gate.systolic_at_least: must be a number, not a string"}},
		{"missing name", "min_nibp_gap = \"30s\"\n", []string{"name: is required"}},
		{"unknown phase", base + "[phase.recovery]\nnibp_every = \"5m\"\n", []string{"phase.recovery: unknown phase"}},
		{"unknown key in phase", base + "[phase.baseline]\nduration = \"5m\"\n", []string{"phase.baseline.duration: unknown key"}},
		{"nibp faster than gap", base + "[phase.infusion]\nnibp_every = \"10s\"\n", []string{"phase.infusion.nibp_every: is 10s, shorter than min_nibp_gap 30s"}},
		{"unknown condition", base + "[[limit]]\ncondition = \"spo2_lo\"\npriority = \"high\"\nbelow = 88\n", []string{"limit[1].condition: \"spo2_lo\" is not a known condition"}},
		{"bad priority", base + "[[limit]]\ncondition = \"spo2_low\"\npriority = \"urgent\"\nbelow = 88\n", []string{"limit[1].priority: \"urgent\" must be high, medium or low"}},
		{"two comparisons", base + "[[limit]]\ncondition = \"spo2_low\"\npriority = \"high\"\nbelow = 88\nat_most = 87\n", []string{"limit[1]: needs exactly one of below, at_most, above or at_least (found 2)"}},
		{"wrong direction", base + "[[limit]]\ncondition = \"spo2_low\"\npriority = \"high\"\nabove = 88\n", []string{"limit[1]: spo2_low (high): needs below or at_most, not above"}},
		{"phase too long", base + "[phase.infusion]\nduration = \"2562047h\"\n", []string{"phase.infusion.duration: is 2562047h0m0s; it must be longer than 0s and at most 12h0m0s"}},
		{"low and high overlap", base + "[[limit]]\ncondition = \"pulse_low\"\npriority = \"medium\"\nbelow = 50\n[[limit]]\ncondition = \"pulse_high\"\npriority = \"low\"\nabove = 30\n", []string{"limit: pulse_low < 50 (medium) and pulse_high > 30 (low) overlap"}},
		{"out of range", base + "[[limit]]\ncondition = \"spo2_low\"\npriority = \"high\"\nbelow = 188\n", []string{"limit[1]: spo2_low (high): below 188 is outside 0..100"}},
		{"high above medium", base + "[[limit]]\ncondition = \"spo2_low\"\npriority = \"medium\"\nbelow = 88\n[[limit]]\ncondition = \"spo2_low\"\npriority = \"high\"\nbelow = 92\n",
			[]string{"limit: spo2_low: the high limit (< 92) is less extreme than the medium limit (< 88)"}},
		{"duplicate priority", base + "[[limit]]\ncondition = \"pulse_high\"\npriority = \"high\"\nabove = 140\n[[limit]]\ncondition = \"pulse_high\"\npriority = \"high\"\nabove = 150\n",
			[]string{"limit: pulse_high at priority high is given twice"}},
		{"phase override contradicts", base + "[[limit]]\ncondition = \"pulse_high\"\npriority = \"high\"\nabove = 140\n[[phase.infusion.limit]]\ncondition = \"pulse_high\"\npriority = \"high\"\nabove = 130\n[[phase.infusion.limit]]\ncondition = \"pulse_high\"\npriority = \"medium\"\nabove = 135\n",
			[]string{"phase.infusion.limit: pulse_high: the high limit (> 130) is less extreme than the medium limit (> 135)"}},
		{"syntax error", "name = \n", []string{"x.toml: name: line 1:"}},
		{"unknown key in limit", base + "[[limit]]\ncondition = \"spo2_low\"\npriority = \"high\"\nbelow = 88\nlatched = true\n", []string{"limit[1].latched: unknown key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ps tomlcheck.Problems
			Parse("x.toml", c.text, &ps)
			if ps.Errors() == 0 {
				t.Fatalf("no error for %q", c.text)
			}
			all := (&tomlcheck.Error{List: ps.List}).Error()
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems do not contain %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	var ps tomlcheck.Problems
	Parse("x.toml", "name = 3\nmin_nibp_gap = \"x\"\nbogus = 1\n[alarm]\naudio_pause = \"5m\"\n", &ps)
	if ps.Errors() != 4 {
		t.Fatalf("got %d errors, want 4:\n%v", ps.Errors(), (&tomlcheck.Error{List: ps.List}).Error())
	}
}

func TestLimitsForPhaseAndSession(t *testing.T) {
	var ps tomlcheck.Problems
	p := Parse("x.toml", `name = "p"
[[limit]]
condition = "pulse_high"
priority = "medium"
above = 120
[[limit]]
condition = "pulse_high"
priority = "high"
above = 140
[[limit]]
condition = "spo2_low"
priority = "high"
below = 88
[[phase.infusion.limit]]
condition = "pulse_high"
priority = "high"
above = 150
`, &ps)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if got := p.LimitsFor(Baseline, nil); len(got) != 3 {
		t.Fatalf("baseline limits = %v", got)
	}
	inf := p.LimitsFor(Infusion, nil)
	if len(inf) != 2 || inf[1].Threshold != 150 {
		t.Fatalf("infusion limits = %v, want spo2_low and the phase's own pulse_high", inf)
	}
	session := []Limit{{Condition: Condition{SpO2, TooLow}, Priority: High, Cmp: Below, Threshold: 85}}
	got := p.LimitsFor(Infusion, session)
	if len(got) != 2 || got[0].Threshold != 85 {
		t.Fatalf("with session limit = %v", got)
	}
}

func TestLimitCrossedAndRecovered(t *testing.T) {
	cases := []struct {
		l                 Limit
		v                 float64
		crossed, recovers bool
	}{
		{Limit{Cmp: Below, Threshold: 92, Hysteresis: 1}, 91, true, false},
		{Limit{Cmp: Below, Threshold: 92, Hysteresis: 1}, 92, false, false}, // inside but within hysteresis
		{Limit{Cmp: Below, Threshold: 92, Hysteresis: 1}, 93, false, true},
		{Limit{Cmp: AtMost, Threshold: 92}, 92, true, false},
		{Limit{Cmp: AtMost, Threshold: 92}, 92.5, false, true},
		{Limit{Cmp: Above, Threshold: 120, Hysteresis: 3}, 121, true, false},
		{Limit{Cmp: Above, Threshold: 120, Hysteresis: 3}, 118, false, false},
		{Limit{Cmp: Above, Threshold: 120, Hysteresis: 3}, 117, false, true},
		{Limit{Cmp: AtLeast, Threshold: 160}, 160, true, false},
		{Limit{Cmp: AtLeast, Threshold: 160}, 159, false, true},
	}
	for _, c := range cases {
		if got := c.l.Crossed(c.v); got != c.crossed {
			t.Errorf("%v %s crossed(%v) = %v", c.l.Cmp, FormatNumber(c.l.Threshold), c.v, got)
		}
		if got := c.l.Recovered(c.v); got != c.recovers {
			t.Errorf("%v %s h%v recovered(%v) = %v", c.l.Cmp, FormatNumber(c.l.Threshold), c.l.Hysteresis, c.v, got)
		}
	}
}

func TestParseConditionNames(t *testing.T) {
	for _, s := range []string{"spo2_low", "pulse_high", "nibp_systolic_rise", "nibp_diastolic_high", "nibp_mean_fall"} {
		c, ok := ParseCondition(s)
		if !ok || c.String() != s {
			t.Errorf("ParseCondition(%q) = %v, %v", s, c, ok)
		}
	}
	for _, s := range []string{"", "spo2", "spo2_", "nibp_low", "spo2_low_x", "SPO2_LOW"} {
		if _, ok := ParseCondition(s); ok {
			t.Errorf("ParseCondition(%q) accepted", s)
		}
	}
}
