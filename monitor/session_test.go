package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// A whole calm session, auto-started, through every phase, with the NIBP
// schedule of each phase, both phase reminders and the summary.
func TestWholeSessionLifecycle(t *testing.T) {
	r := newRig(t)
	r.run(10*time.Minute + 35*time.Second)
	r.cmd(wire.ActionInfusionStart)
	r.run(41 * time.Minute)
	r.cmd(wire.ActionInfusionEnd)
	r.run(61 * time.Minute)
	r.cmd(wire.ActionSessionEnd)
	r.run(5 * time.Second)

	expect(t, r.since(0, "session ", "nibp_start", "alarm ", "summary", "reply"),
		// valid SpO2 from 00:00:01; auto_start_after 30s
		"00:00:31 session baseline",
		"00:00:31 nibp_start n-1-1", // first measurement at the phase's start
		"00:01:11 session baseline", // result: baseline BP and next_nibp
		"00:05:31 nibp_start n-1-2", // every 5m from the last start
		"00:06:11 session baseline",
		"00:10:31 nibp_start n-1-3",
		"00:10:35 session infusion",
		"00:10:35 reply c1 ok",
		"00:11:11 session infusion",
		"00:15:31 nibp_start n-1-4",
		"00:16:11 session infusion",
		"00:20:31 nibp_start n-1-5",
		"00:21:11 session infusion",
		"00:25:31 nibp_start n-1-6",
		"00:26:11 session infusion",
		"00:30:31 nibp_start n-1-7",
		"00:31:11 session infusion",
		"00:35:31 nibp_start n-1-8",
		"00:36:11 session infusion",
		"00:40:31 nibp_start n-1-9",
		"00:41:11 session infusion",
		"00:45:31 nibp_start n-1-10",
		"00:46:11 session infusion",
		"00:50:31 nibp_start n-1-11",
		`00:50:35 alarm start infusion_time_reached low active audio=on present=true "infusion has run 40m: end it when the dose is given"`,
		"00:51:11 session infusion",
		"00:51:35 session observation",
		"00:51:35 reply c2 ok",
		`00:51:35 alarm end infusion_time_reached low cleared audio=off present=false "infusion has run 40m: end it when the dose is given"`,
		"01:05:31 nibp_start n-1-12", // observation: 15m after the last start
		"01:06:11 session observation",
		"01:20:31 nibp_start n-1-13",
		"01:21:11 session observation",
		"01:35:31 nibp_start n-1-14",
		"01:36:11 session observation",
		"01:50:31 nibp_start n-1-15",
		"01:51:11 session observation",
		`01:51:35 alarm start observation_complete low active audio=on present=true "observation 1h complete: discharge criteria met"`,
		`01:52:35 alarm end observation_complete low cleared audio=off present=false "observation 1h complete: discharge criteria met"`,
		"01:52:35 session ended",
		"01:52:35 summary s-20261122T080031Z-1-1",
		"01:52:35 session idle",
		"01:52:35 reply c3 ok",
	)

	var sum wire.Summary
	var vit int
	for _, ev := range r.evs {
		switch v := ev.(type) {
		case wire.Summary:
			sum = v
		case wire.Vital:
			vit++
		}
	}
	if got := sum.Phases; got["baseline"] != "PT10M4S" || got["infusion"] != "PT41M" || got["observation"] != "PT1H1M" {
		t.Errorf("summary phases = %v", got)
	}
	if sum.SpO2.Min != wire.N(97) || sum.SpO2.Median != wire.N(97) || sum.Pulse.Max != wire.N(72) {
		t.Errorf("summary spo2 %+v pulse %+v", sum.SpO2, sum.Pulse)
	}
	if sum.NIBP.Count != 15 || sum.NIBP.SystolicMax != wire.N(120) || sum.NIBP.DiastolicMax != wire.N(80) {
		t.Errorf("summary nibp %+v", sum.NIBP)
	}
	if sum.Alarms["infusion_time_reached/low"] != 1 || sum.Alarms["observation_complete/low"] != 1 || len(sum.Alarms) != 2 {
		t.Errorf("summary alarms %v", sum.Alarms)
	}
	// 00:00:31 to 01:52:35 is 6724 s: two vitals records each second.
	if vit != 2*6725 {
		t.Errorf("vitals records = %d, want %d", vit, 2*6725)
	}
	if r.e.Phase() != protocol.Idle || r.e.SessionID() != "" {
		t.Errorf("after the session: phase %s id %q", r.e.Phase(), r.e.SessionID())
	}
	// The patient is still on the probe: no new session may start by itself.
	r.run(2 * time.Minute)
	if r.e.Phase() != protocol.Idle {
		t.Fatal("a new session started by itself while the probe stayed on")
	}
	r.flags = vitals.ProbeOff
	r.run(5 * time.Second)
	r.flags = 0
	r.run(31 * time.Second)
	if r.e.Phase() != protocol.Baseline {
		t.Fatal("after the probe came off and back on, auto-start did not start a session")
	}
}

// Vitals are published each second in a session with null and flags when
// there is no valid value, and no_data when nothing arrives.
func TestVitalsCarryNullWithFlags(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Sensors[oxi].Flags = vitals.Uncalibrated })
	r.startSession()
	r.run(2 * time.Second)
	r.flags, r.spo2 = vitals.ProbeOff, vitals.NoValue
	r.run(2 * time.Second)
	r.silent = true
	r.run(5 * time.Second)
	var got []string
	for _, ev := range r.evs {
		if v, ok := ev.(wire.Vital); ok && v.Param == "spo2" {
			got = append(got, v.Value.String()+" "+vitals.Flag(flagsOf(v.Flags)).String())
		}
	}
	expect(t, got,
		"null no_data|uncalibrated", // the session starts before any reading
		"97 uncalibrated",
		"97 uncalibrated",
		"null probe_off|uncalibrated",
		"null probe_off|uncalibrated",
		"null probe_off|uncalibrated", // last reading 1..3 s old: still its flags
		"null probe_off|uncalibrated",
		"null probe_off|uncalibrated",
		"null no_data|uncalibrated", // older than 3 s
		"null no_data|uncalibrated",
	)
}

func flagsOf(names []string) vitals.Flag {
	var f vitals.Flag
	for _, n := range names {
		fl, _ := vitals.ParseFlag(n)
		f |= fl
	}
	return f
}

// The baseline is the median of the baseline phase's SpO2 and pulse and its
// last NIBP; a relative limit then compares against it.
func TestBaselineAndSystolicRise(t *testing.T) {
	r := newRig(t)
	r.bp = []vitals.Result{{Systolic: 118, Diastolic: 76}, {Systolic: 112, Diastolic: 74}}
	r.startSession()
	r.spo2, r.pulse = 96, 70
	r.run(3 * time.Minute)
	r.spo2, r.pulse = 98, 80
	r.run(2*time.Minute + 50*time.Second) // second measurement at 5:00, result 5:40
	r.cmd(wire.ActionInfusionStart)
	var base wire.Baseline
	for _, ev := range r.evs {
		if s, ok := ev.(wire.Session); ok && s.Phase == "infusion" {
			base = s.Baseline
		}
	}
	// 180 s of 96/70 (and the first second before any reading: none), 170 s of 98/80.
	want := wire.Baseline{Systolic: wire.N(112), Diastolic: wire.N(74), SpO2: wire.N(96), Pulse: wire.N(70)}
	if base != want {
		t.Fatalf("baseline = %+v, want %+v", base, want)
	}
	m := r.mark()
	r.bpAuto = vitals.Result{Systolic: 155, Diastolic: 88} // under the absolute limit 160
	r.run(7 * time.Minute)
	expect(t, r.since(m, "alarm start", "nibp n-"),
		"00:10:40 nibp n-1-3 155/88",
		`00:10:40 alarm start nibp_systolic_rise medium active audio=on present=true "Systolic rise 43 ≥ 40 (baseline 112)"`,
	)
	// A medium NIBP alarm brings the next measurement to 2 minutes.
	expect(t, r.since(m, "nibp_start"), "00:10:00 nibp_start n-1-3", "00:12:40 nibp_start n-1-4")
}

// The gate: a baseline BP at or over it raises baseline_bp_above_gate and
// infusion_start needs an override, which is recorded with its author.
func TestGateNeedsOverride(t *testing.T) {
	r := newRig(t)
	r.bpAuto = vitals.Result{Systolic: 150, Diastolic: 85}
	r.startSession()
	r.run(45 * time.Second)
	if a, ok := r.lastAlarm("baseline_bp_above_gate"); !ok || a.Message != "baseline BP 150/85 is at or above the gate 140/90: infusion_start needs an override" {
		t.Fatalf("gate alarm = %+v", a)
	}
	evs := r.cmd(wire.ActionInfusionStart)
	if replyOK(evs) || r.e.Phase() != protocol.Baseline {
		t.Fatal("infusion started over the gate without an override")
	}
	if got := replyErr(evs); got != `baseline BP 150/85 is at or above the gate 140/90: infusion_start needs an override: send infusion_start with "override": true to proceed` {
		t.Fatalf("refusal = %q", got)
	}
	evs = r.cmd(wire.ActionInfusionStart, func(c *Command) { c.Override = true; c.By = "dr.lee@station" })
	if !replyOK(evs) || r.e.Phase() != protocol.Infusion {
		t.Fatalf("override refused: %s", replyErr(evs))
	}
	var s wire.Session
	for _, ev := range evs {
		if v, ok := ev.(wire.Session); ok {
			s = v
		}
	}
	if s.GateOverrideBy == nil || *s.GateOverrideBy != "dr.lee@station" {
		t.Fatalf("gate_override_by = %v", s.GateOverrideBy)
	}
	if a, _ := r.lastAlarm("baseline_bp_above_gate"); a.Phase != wire.PhaseEnd {
		t.Fatalf("gate alarm not ended at infusion start: %+v", a)
	}
	// Under the gate, no override is needed.
	r2 := newRig(t)
	r2.startSession()
	r2.run(45 * time.Second)
	if !replyOK(r2.cmd(wire.ActionInfusionStart)) {
		t.Fatal("infusion_start refused under the gate")
	}
}

// Session commands in the wrong phase are refused, naming the phase.
func TestSessionCommandsInWrongPhase(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	cases := []struct{ action, want string }{
		{wire.ActionInfusionStart, "infusion_start needs the baseline phase; the session is idle"},
		{wire.ActionInfusionEnd, "infusion_end needs the infusion phase; the session is idle"},
		{wire.ActionSessionEnd, "no session is running"},
		{wire.ActionNIBPNow, "no session is running"},
	}
	for _, c := range cases {
		if got := replyErr(r.cmd(c.action)); got != c.want {
			t.Errorf("%s: %q, want %q", c.action, got, c.want)
		}
	}
	r.startSession()
	if got := replyErr(r.cmd(wire.ActionSessionStart)); got != "session s-20261122T080000Z-1-1 is already running" {
		t.Errorf("second session_start: %q", got)
	}
	if got := replyErr(r.cmd(wire.ActionInfusionEnd)); got != "infusion_end needs the infusion phase; the session is baseline" {
		t.Errorf("infusion_end in baseline: %q", got)
	}
}

// session_end aborts a running measurement and clears every session alarm,
// latched ones included.
func TestSessionEndAbortsNIBPAndClearsAlarms(t *testing.T) {
	r := newRig(t)
	r.startSession()
	r.spo2 = 85
	r.run(10 * time.Second) // spo2_low high, latching; NIBP running since 0s
	r.spo2 = 97
	r.run(5 * time.Second)
	m := r.mark()
	r.cmd(wire.ActionSessionEnd)
	expect(t, r.since(m, "nibp_abort", "alarm", "session"),
		"00:00:15 nibp_abort n-1-1",
		`00:00:15 alarm end spo2_low high cleared audio=off present=false "SpO2 85 < 88"`,
		"00:00:15 session ended",
		"00:00:15 session idle",
	)
	// The result of the aborted measurement arrives late: ignored.
	before := len(r.evs)
	r.record(r.e.Result(r.now, vitals.Result{Sensor: cuff, Request: "n-1-1", Systolic: 120, Diastolic: 80}))
	for _, ev := range r.evs[before:] {
		if _, ok := ev.(wire.NIBP); ok {
			t.Fatal("a result for an aborted measurement was published")
		}
	}
}

func TestMarksAreKeptInTheSummary(t *testing.T) {
	r := newRig(t)
	r.startSession()
	r.run(time.Minute)
	r.cmd(wire.ActionMark, func(c *Command) { c.Note = "patient asked for a blanket" })
	if got := replyErr(r.cmd(wire.ActionMark, func(c *Command) { c.Note = "" })); got != `field "note" is empty` {
		t.Errorf("empty note: %q", got)
	}
	r.cmd(wire.ActionSessionEnd)
	for _, ev := range r.evs {
		if s, ok := ev.(wire.Summary); ok {
			if len(s.Marks) != 1 || s.Marks[0].Note != "patient asked for a blanket" || s.Marks[0].By != "nurse@station" {
				t.Fatalf("marks = %+v", s.Marks)
			}
			return
		}
	}
	t.Fatal("no summary")
}

// observation_complete says which discharge criteria fail, and a criterion
// that cannot be checked (no baseline to compare with) is not reported as met.
func TestDischargeCheckNotMet(t *testing.T) {
	// The infusion starts at once: no baseline SpO2 or pulse was recorded.
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.bpTook = time.Second
	r.startSession()
	r.cmd(wire.ActionInfusionStart, func(c *Command) { c.Override = true }) // no baseline BP either
	r.run(time.Minute)
	r.cmd(wire.ActionInfusionEnd)
	r.spo2, r.pulse = 93, 135
	r.bpAuto = vitals.Result{Systolic: 150, Diastolic: 85}
	r.run(61 * time.Minute)
	expect(t, r.since(0, "observation_complete"),
		`01:01:00 alarm start observation_complete low active audio=on present=true "observation 1h complete: discharge criteria not met: SpO2 93 < 94; no baseline pulse to compare pulse 135 with; systolic 150 is 30 from baseline 120 (within 20)"`)

	// With a baseline, only the criteria that fail are named.
	r2 := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r2.bpTook = time.Second
	r2.startSession()
	r2.run(time.Minute)
	r2.cmd(wire.ActionInfusionStart)
	r2.run(time.Minute)
	r2.cmd(wire.ActionInfusionEnd)
	r2.pulse = 95 // baseline 72
	r2.run(61 * time.Minute)
	expect(t, r2.since(0, "observation_complete"),
		`01:02:00 alarm start observation_complete low active audio=on present=true "observation 1h complete: discharge criteria not met: pulse 95 is 23 from baseline 72 (within 20)"`)
}

// baseline_bp_above_gate is a technical condition (CONTRACT §3 lists it with
// them); its value and limit are those of the half that reached the gate.
func TestGateAlarmKindAndCrossedHalf(t *testing.T) {
	cases := []struct {
		sys, dia          int16
		value, limit, msg string
	}{
		{150, 85, "150", "140", "baseline BP 150/85 is at or above the gate 140/90: infusion_start needs an override"},
		{130, 95, "95", "90", "baseline BP 130/95 is at or above the gate 140/90: infusion_start needs an override"},
	}
	for _, c := range cases {
		r := newRig(t, func(cf *Config) { cf.Protocol.AutoStartAfter = 0 })
		r.bpAuto = vitals.Result{Systolic: c.sys, Diastolic: c.dia}
		r.startSession()
		r.run(45 * time.Second)
		a, ok := r.lastAlarm("baseline_bp_above_gate")
		if !ok || a.Kind != wire.KindTechnical || a.Priority != "low" || a.Value.String() != c.value || a.Limit.String() != c.limit || a.Message != c.msg {
			t.Errorf("%d/%d: gate alarm kind=%s priority=%s value=%s limit=%s %q", c.sys, c.dia, a.Kind, a.Priority, a.Value, a.Limit, a.Message)
		}
	}
}

// The discharge check is judged again after observation completes, until the
// session ends: a patient who recovers is shown as ready (the alarm's message
// is updated), and the summary carries the last check as data, criterion by
// criterion.
func TestDischargeRejudgedUntilSessionEnd(t *testing.T) {
	r := sessionRig(t)
	r.run(6 * time.Minute) // baseline SpO2, pulse and NIBP
	r.cmd(wire.ActionInfusionStart)
	r.run(40 * time.Minute)
	r.cmd(wire.ActionInfusionEnd)
	r.spo2 = 91
	r.run(60*time.Minute + time.Second)
	first := r.since(0, "observation_complete")
	if len(first) == 0 || !strings.Contains(first[len(first)-1], "not met: SpO2 91 < 94") {
		t.Fatalf("observation_complete: %v", first)
	}
	m := r.mark()
	r.spo2 = 97
	r.run(5 * time.Second)
	var updated bool
	for _, ev := range r.evs[m:] {
		if a, ok := ev.(wire.Alarm); ok && a.Condition == condObservationDone && a.Phase == wire.PhaseUpdate && strings.HasSuffix(a.Message, "discharge criteria met") {
			updated = true
		}
	}
	if !updated {
		t.Fatalf("the recovered patient's discharge check was not judged again: %v", r.since(m, "observation_complete"))
	}
	r.cmd(wire.ActionSessionEnd)
	for _, ev := range r.evs {
		s, ok := ev.(wire.Summary)
		if !ok {
			continue
		}
		d := s.Discharge
		if d == nil || !d.Met || len(d.Criteria) != 3 {
			t.Fatalf("summary discharge = %+v", d)
		}
		for _, c := range d.Criteria {
			if !c.Met || !c.Value.Valid || !c.Limit.Valid || (c.Rule == "within" && !c.Baseline.Valid) {
				t.Fatalf("criterion %+v", c)
			}
		}
		if c := d.Criteria[0]; c.Name != "spo2" || c.Value.V != 97 || c.Limit.V != 94 {
			t.Fatalf("spo2 criterion %+v", c)
		}
		return
	}
	t.Fatal("no summary")
}

// minutes_out_of_range counts from the moment the value crossed the limit,
// the condition delay included, not from the alarm's start.
func TestMinutesOutOfRangeIncludeTheDelay(t *testing.T) {
	r := sessionRig(t)
	r.run(10 * time.Second)
	r.spo2 = 85 // spo2_low: high < 88 after 5 s, medium < 92 after 10 s
	r.run(65 * time.Second)
	r.spo2 = 97
	r.run(5 * time.Second)
	r.cmd(wire.ActionSessionEnd)
	for _, ev := range r.evs {
		if s, ok := ev.(wire.Summary); ok {
			got := s.MinutesOutOfRange["spo2_low"] * 60
			if got < 64 || got > 66 {
				t.Fatalf("spo2_low out of range %.0f s, want 65 (the 5 s delay included)", got)
			}
			return
		}
	}
	t.Fatal("no summary")
}

// A pulse that wobbles while the same criterion fails does not rewrite
// observation_complete's message each second: the alarm is updated only
// when the verdict (which criteria fail) changes.
func TestDischargeRejudgedOnlyWhenTheVerdictChanges(t *testing.T) {
	r := sessionRig(t)
	r.run(6 * time.Minute)
	r.cmd(wire.ActionInfusionStart)
	r.run(40 * time.Minute)
	r.cmd(wire.ActionInfusionEnd)
	r.spo2 = 91
	r.run(60*time.Minute + time.Second)
	m := r.mark()
	for i := 0; i < 10; i++ {
		r.spo2 = int16(88 + i%3) // still < 94 each second, with other numbers
		r.run(time.Second)
	}
	for _, ev := range r.evs[m:] {
		if a, ok := ev.(wire.Alarm); ok && a.Condition == condObservationDone && a.Phase == wire.PhaseUpdate {
			t.Fatalf("observation_complete updated although its verdict held: %q", a.Message)
		}
	}
}

// The session payload carries the phase's planned length from the protocol
// (infusion 40m, observation 60m in the shipped one), null where the phase
// has none, so the station can show "Infusion 23:14 / 40:00".
func TestSessionPhasePlanned(t *testing.T) {
	r := newRig(t)
	planned := func(phase string) string {
		t.Helper()
		got := "(no session payload)"
		for _, ev := range r.evs {
			if s, ok := ev.(wire.Session); ok && s.Phase == phase {
				got = "null"
				if s.PhasePlanned != nil {
					got = *s.PhasePlanned
				}
			}
		}
		return got
	}
	r.startSession()
	r.run(45 * time.Second)
	r.cmd(wire.ActionInfusionStart)
	r.run(time.Second)
	r.cmd(wire.ActionInfusionEnd)
	for phase, want := range map[string]string{"baseline": "null", "infusion": "PT40M", "observation": "PT1H"} {
		if got := planned(phase); got != want {
			t.Errorf("%s phase_planned = %s, want %s", phase, got, want)
		}
	}
}

// TestSessionIDsDifferAcrossChairs: two chairs with the same boot count
// starting a session in the same second must not share a session id; the
// recorder keys a patient's records (HL7 PID-3, the FHIR Patient) by it.
func TestSessionIDsDifferAcrossChairs(t *testing.T) {
	id := func(chair string) string {
		r := newRig(t, func(c *Config) { c.Chair = chair })
		r.startSession()
		for _, ev := range r.evs {
			if s, ok := ev.(wire.Session); ok && s.ID != "" {
				return s.ID
			}
		}
		t.Fatalf("chair %s: no session payload", chair)
		return ""
	}
	a, b := id("chair-01"), id("chair-02")
	if a == b {
		t.Fatalf("chair-01 and chair-02 both started session %s", a)
	}
	if !strings.HasPrefix(a, "s-chair-01-") {
		t.Errorf("session id %q does not name its chair", a)
	}
}
