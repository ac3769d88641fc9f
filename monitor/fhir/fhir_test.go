package fhir

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

var t0 = time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)

const sid = "s-20261204-1000-1"

func rec(seq uint64) wire.Record {
	return wire.Record{V: 1, Stream: "b3f9", Seq: seq, Boot: 1, ClockSynced: true}
}

func vital(param string, seq uint64, at time.Duration, v wire.Num, flags ...string) wire.Vital {
	if flags == nil {
		flags = []string{}
	}
	return wire.Vital{Record: rec(seq), T: wire.At(t0.Add(at)), Session: sid, Param: param, Value: v, Source: "nonin", Flags: flags}
}

func nibp(seq uint64, at time.Duration, sys, dia, mean, pulse wire.Num, errText string) wire.NIBP {
	return wire.NIBP{Record: rec(seq), T: wire.At(t0.Add(at)), Session: sid, Param: "nibp", Systolic: sys, Diastolic: dia,
		Mean: mean, Pulse: pulse, Unit: "mm[Hg]", Source: "suntech", Request: "n-1-1", Error: errText, Flags: []string{}}
}

// smallSession: SpO2 97, a null (probe_off), 96 flagged simulated; pulse 72
// and a null (artifact); one NIBP 128/82 (97) pulse 74, one failed NIBP that
// still carries numbers, one without mean or pulse.
func smallSession() Session {
	return Session{
		Chair:   "chair-07",
		Session: wire.Session{Record: rec(1), T: wire.At(t0), ID: sid, Phase: "infusion"},
		Vitals: []wire.Vital{
			vital("spo2", 2, 0, wire.N(97)),
			vital("pulse", 3, 0, wire.N(72)),
			vital("spo2", 4, time.Second, wire.Num{}, "probe_off"),
			vital("pulse", 5, time.Second, wire.Num{}, "artifact"),
			vital("spo2", 6, 2*time.Second, wire.N(96), "simulated"),
		},
		NIBP: []wire.NIBP{
			nibp(7, 3*time.Second, wire.N(128), wire.N(82), wire.N(97), wire.N(74), ""),
			nibp(8, 4*time.Second, wire.N(1), wire.N(2), wire.N(3), wire.N(4), "0x57 inflate timeout, leak or loose cuff"),
			nibp(9, 5*time.Second, wire.N(120), wire.N(80), wire.Num{}, wire.Num{}, ""),
		},
	}
}

func exportJSON(t *testing.T, s Session, o ...Options) []byte {
	t.Helper()
	var opt Options
	if len(o) > 0 {
		opt = o[0]
	}
	b, err := Export(s, opt)
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExportMatchesGoldenFiles(t *testing.T) {
	for name, o := range map[string]Options{"session": {}, "session_minutes": {Minutes: true}} {
		got := exportJSON(t, smallSession(), o)
		path := filepath.Join("testdata", "golden", name+".json")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./monitor/fhir -update to write it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s changed:\n%s", path, got)
		}
	}
}

type obj = map[string]any

func list(v any) []any { l, _ := v.([]any); return l }
func object(v any) obj { o, _ := v.(obj); return o }
func str(v any) string { s, _ := v.(string); return s }

func codings(cc any) map[string]bool {
	out := map[string]bool{}
	for _, c := range list(object(cc)["coding"]) {
		out[str(object(c)["system"])+"|"+str(object(c)["code"])] = true
	}
	return out
}

// checkQuantity checks a valueQuantity: a number in UCUM with one of the
// profile's unit codes.
func checkQuantity(t *testing.T, where string, q obj, unit string) {
	t.Helper()
	if _, ok := q["value"].(float64); !ok {
		t.Errorf("%s: value %v is not a number", where, q["value"])
	}
	if str(q["system"]) != "http://unitsofmeasure.org" || str(q["code"]) != unit {
		t.Errorf("%s: unit %v|%v, want UCUM %s", where, q["system"], q["code"], unit)
	}
}

// checkValueOrAbsent: exactly one of valueQuantity and dataAbsentReason.
func checkValueOrAbsent(t *testing.T, where string, o obj, unit string) {
	t.Helper()
	q, hasQ := o["valueQuantity"]
	dar, hasDAR := o["dataAbsentReason"]
	switch {
	case hasQ && hasDAR:
		t.Errorf("%s: both a value and a dataAbsentReason", where)
	case hasQ:
		checkQuantity(t, where, object(q), unit)
	case hasDAR:
		if len(codings(dar)) == 0 {
			t.Errorf("%s: dataAbsentReason without a code", where)
		}
		for c := range codings(dar) {
			if !strings.HasPrefix(c, "http://terminology.hl7.org/CodeSystem/data-absent-reason|") {
				t.Errorf("%s: dataAbsentReason %s not from the data-absent-reason system", where, c)
			}
		}
	default:
		t.Errorf("%s: neither a value nor a dataAbsentReason (vs-2)", where)
	}
}

// checkVitalSigns checks the written JSON against the FHIR R4 vital-signs
// profiles' required elements and codes (vitalsigns, oxygensat, heartrate,
// bp): status, the vital-signs category, the profile's LOINC code, a
// subject, an effective time, a value in the profile's UCUM unit or a
// dataAbsentReason, and for blood pressure the systolic and diastolic
// components. It also checks that every reference resolves in the bundle.
func checkVitalSigns(t *testing.T, bundle []byte) (counts map[string]int) {
	t.Helper()
	var b obj
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	if b["resourceType"] != "Bundle" || b["type"] != "collection" {
		t.Fatalf("not a collection Bundle: %v %v", b["resourceType"], b["type"])
	}
	urls := map[string]string{}
	for _, e := range list(b["entry"]) {
		r := object(object(e)["resource"])
		urls[str(object(e)["fullUrl"])] = str(r["resourceType"])
		if !strings.HasSuffix(str(object(e)["fullUrl"]), str(r["id"])) {
			t.Errorf("fullUrl %v does not end with id %v", object(e)["fullUrl"], r["id"])
		}
	}
	resolve := func(where string, ref any, want string) {
		t.Helper()
		if got := urls[str(object(ref)["reference"])]; got != want {
			t.Errorf("%s: reference %v resolves to %q, want a %s", where, ref, got, want)
		}
	}
	counts = map[string]int{}
	for i, e := range list(b["entry"]) {
		r := object(object(e)["resource"])
		where := str(r["resourceType"]) + " " + str(r["id"])
		switch r["resourceType"] {
		case "Patient":
			counts["Patient"]++
			for k := range r {
				if k != "resourceType" && k != "id" && k != "identifier" {
					t.Errorf("Patient carries %q: only the session id may be there", k)
				}
			}
			continue
		case "Device":
			counts["Device"]++
			if p, ok := r["parent"]; ok {
				resolve(where, p, "Device")
			}
			continue
		case "Observation":
		default:
			t.Errorf("entry %d: unexpected %v", i, r["resourceType"])
			continue
		}
		if !slices.Contains([]string{"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}, str(r["status"])) {
			t.Errorf("%s: status %v", where, r["status"])
		}
		var cat bool
		for _, c := range list(r["category"]) {
			cat = cat || codings(c)["http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"]
		}
		if !cat {
			t.Errorf("%s: no vital-signs category", where)
		}
		resolve(where, r["subject"], "Patient")
		resolve(where, r["device"], "Device")
		if p, ok := r["effectivePeriod"]; ok {
			start, err1 := time.Parse(time.RFC3339, str(object(p)["start"]))
			end, err2 := time.Parse(time.RFC3339, str(object(p)["end"]))
			if err1 != nil || err2 != nil || !end.After(start) || r["effectiveDateTime"] != nil {
				t.Errorf("%s: effectivePeriod %v (and effectiveDateTime %v)", where, p, r["effectiveDateTime"])
			}
		} else if _, err := time.Parse(time.RFC3339, str(r["effectiveDateTime"])); err != nil {
			t.Errorf("%s: effectiveDateTime %v", where, r["effectiveDateTime"])
		}
		code := codings(r["code"])
		profiles := list(object(r["meta"])["profile"])
		switch {
		case code["http://loinc.org|2708-6"]:
			counts["spo2"]++
			if !code["http://loinc.org|59408-5"] || !code["urn:iso:std:iso:11073:10101|150456"] {
				t.Errorf("%s: SpO2 without 59408-5 or MDC 150456: %v", where, code)
			}
			if !slices.Contains(profiles, any("http://hl7.org/fhir/StructureDefinition/oxygensat")) {
				t.Errorf("%s: profile %v", where, profiles)
			}
			checkValueOrAbsent(t, where, r, "%")
		case code["http://loinc.org|8867-4"]:
			counts["heart rate"]++
			if !code["urn:iso:std:iso:11073:10101|149530"] && !code["urn:iso:std:iso:11073:10101|149546"] {
				t.Errorf("%s: heart rate without its MDC code: %v", where, code)
			}
			checkValueOrAbsent(t, where, r, "/min")
		case code["http://loinc.org|85354-9"]:
			counts["bp"]++
			if _, ok := r["valueQuantity"]; ok {
				t.Errorf("%s: a panel with a value", where)
			}
			have := map[string]bool{}
			for j, c := range list(r["component"]) {
				cc := codings(object(c)["code"])
				for _, want := range []string{"8480-6", "8462-4", "8478-0"} {
					if cc["http://loinc.org|"+want] {
						have[want] = true
					}
				}
				checkValueOrAbsent(t, where+" component "+string(rune('0'+j)), object(c), "mm[Hg]")
			}
			if !have["8480-6"] || !have["8462-4"] {
				t.Errorf("%s: blood pressure without systolic and diastolic components", where)
			}
		default:
			t.Errorf("%s: code %v is none of the vital signs", where, code)
		}
	}
	return counts
}

func TestVitalSignsProfile(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want map[string]int
	}{
		{Options{}, map[string]int{"Patient": 1, "Device": 3, "spo2": 3, "heart rate": 3, "bp": 3}},
		// one minute: one SpO2 and one pulse median, the NIBP's own pulse
		{Options{Minutes: true}, map[string]int{"Patient": 1, "Device": 3, "spo2": 1, "heart rate": 2, "bp": 3}},
	} {
		counts := checkVitalSigns(t, exportJSON(t, smallSession(), c.o))
		for k, v := range c.want {
			if counts[k] != v {
				t.Errorf("%+v: %d %s, want %d (all: %v)", c.o, counts[k], k, v, counts)
			}
		}
	}
}

// With Options.Minutes, SpO2 and pulse are the minute's lower median of
// valid values only, over a period; a minute with only nulls has a
// dataAbsentReason, not a number.
func TestExportMinutes(t *testing.T) {
	s := smallSession()
	// minute 2: SpO2 only nulls
	s.Vitals = append(s.Vitals, vital("spo2", 30, 61*time.Second, wire.Num{}, "searching"),
		vital("spo2", 31, 62*time.Second, wire.N(99), "probe_off"))
	b, err := Export(s, Options{Minutes: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Observation{}
	for _, e := range b.Entry {
		if o, ok := e.Resource.(Observation); ok {
			byID[o.Identifier[0].Value] = o
		}
	}
	m1 := byID["chair-07/m/"+sid+"/202612041015/spo2"]
	if m1.ValueQuantity == nil || m1.ValueQuantity.Value != 96 || m1.EffectivePeriod == nil ||
		m1.EffectivePeriod.Start != "2026-12-04T10:15:00.000Z" || m1.EffectivePeriod.End != "2026-12-04T10:16:00.000Z" {
		t.Errorf("minute 1 SpO2 (97, null, 96: lower median 96) = %+v", m1)
	}
	if m1.Device == nil || !strings.HasSuffix(m1.Device.Display, "nonin") {
		t.Errorf("minute median device %+v, want the oximeter", m1.Device)
	}
	p1 := byID["chair-07/m/"+sid+"/202612041015/pulse"]
	if p1.ValueQuantity == nil || p1.ValueQuantity.Value != 72 {
		t.Errorf("minute 1 pulse (72, null) = %+v", p1)
	}
	m2 := byID["chair-07/m/"+sid+"/202612041016/spo2"]
	if m2.ValueQuantity != nil || m2.DataAbsentReason == nil || !strings.Contains(m2.DataAbsentReason.Text, "probe_off, searching") {
		t.Errorf("minute 2 SpO2 (only nulls and a probe_off value) = %+v", m2)
	}
	if _, ok := byID["chair-07/m/"+sid+"/202612041016/pulse"]; ok {
		t.Error("a minute without pulse records has a pulse Observation")
	}
}

// A null never becomes a number: the null SpO2 and pulse, and every part of
// the failed NIBP (which still carried numbers), have a dataAbsentReason
// and no value.
func TestNullsHaveNoValue(t *testing.T) {
	b, err := Export(smallSession(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	byRecord := map[string]Observation{}
	for _, e := range b.Entry {
		if o, ok := e.Resource.(Observation); ok {
			byRecord[o.Identifier[0].Value] = o
		}
	}
	for _, k := range []string{"chair-07/b3f9/4", "chair-07/b3f9/5"} {
		o := byRecord[k]
		if o.ValueQuantity != nil || o.DataAbsentReason == nil {
			t.Errorf("%s: value %v, absent %v", k, o.ValueQuantity, o.DataAbsentReason)
		}
	}
	if got := byRecord["chair-07/b3f9/4"].DataAbsentReason; got.Coding[0].Code != "unknown" || got.Text != "no valid value: probe_off" {
		t.Errorf("probe_off absent reason %+v", got)
	}
	if got := byRecord["chair-07/b3f9/5"].DataAbsentReason; got.Coding[0].Code != "error" {
		t.Errorf("artifact absent reason %+v", got)
	}
	failed := byRecord["chair-07/b3f9/8"]
	for _, c := range failed.Component {
		if c.ValueQuantity != nil || c.DataAbsentReason == nil || c.DataAbsentReason.Coding[0].Code != "error" ||
			!strings.Contains(c.DataAbsentReason.Text, "0x57 inflate timeout") {
			t.Errorf("failed NIBP component %+v", c)
		}
	}
	if _, ok := byRecord["chair-07/b3f9/8/pulse"]; ok {
		t.Error("a failed NIBP's pulse was exported")
	}
	if mean := byRecord["chair-07/b3f9/9"].Component[2]; mean.ValueQuantity != nil || mean.DataAbsentReason == nil {
		t.Errorf("null mean %+v", mean)
	}
	if n := byRecord["chair-07/b3f9/6"].Note; len(n) != 1 || n[0].Text != "flags: simulated" {
		t.Errorf("the simulated flag is not noted: %v", n)
	}
}

// The export depends on the records, not on their order or duplicates.
func TestExportIsDeterministic(t *testing.T) {
	s := smallSession()
	want := exportJSON(t, s)
	s.Vitals = append(slices.Clone(s.Vitals), s.Vitals[0], s.Vitals[3])
	slices.Reverse(s.Vitals)
	slices.Reverse(s.NIBP)
	if got := exportJSON(t, s); !bytes.Equal(got, want) {
		t.Fatalf("reordered or duplicated records export differently:\n%s", got)
	}
}

func TestExportRefusesAndNames(t *testing.T) {
	if _, err := Export(Session{Chair: "c"}, Options{}); err == nil {
		t.Error("a session without an id was exported")
	}
	s := smallSession()
	other := vital("spo2", 20, 0, wire.N(90))
	other.Session = "s-other"
	pleth := vital("pleth", 21, 0, wire.N(1))
	s.Vitals = append(s.Vitals, other, pleth)
	b, err := Export(s, Options{})
	if err == nil || !strings.Contains(err.Error(), "b3f9/20") || !strings.Contains(err.Error(), `"pleth"`) {
		t.Errorf("error %v does not name the bad records", err)
	}
	if len(b.Entry) != len(mustExport(t, smallSession()).Entry) {
		t.Error("the good records were not all exported")
	}
}

func mustExport(t *testing.T, s Session) Bundle {
	b, err := Export(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// npmFHIRDir is the npm prefix holding node_modules/fhir (4.12.0):
// $CHAIRSIDE_NPM_DIR, or <user cache>/chairside-npm where .ci/run installs it.
func npmFHIRDir() string {
	if d := os.Getenv("CHAIRSIDE_NPM_DIR"); d != "" {
		return d
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(c, "chairside-npm")
}

// The bundle is valid FHIR R4 structure for an independent validator, npm
// fhir 4.12.0; the test shows it catches a broken bundle too.
func TestNpmFHIRValidates(t *testing.T) {
	dir := npmFHIRDir()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "fhir", "package.json"))
	}
	if err != nil {
		msg := "SKIPPED npm fhir validation: node or " + filepath.Join(dir, "node_modules", "fhir") +
			" not found (npm install --prefix " + dir + " fhir@4.12.0, as .ci/run does): " + err.Error()
		if brokertest.Required("fhir") {
			t.Fatal("CHAIRSIDE_REQUIRE=fhir but " + msg)
		}
		t.Skip(msg)
	}
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.json")
	if err := os.WriteFile(good, exportJSON(t, smallSession()), 0o644); err != nil {
		t.Fatal(err)
	}
	goodMinutes := filepath.Join(tmp, "good_minutes.json")
	if err := os.WriteFile(goodMinutes, exportJSON(t, smallSession(), Options{Minutes: true}), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(exportJSON(t, smallSession())), `"status": "final"`, `"status": "done"`, 1)
	broken = strings.Replace(broken, `"value": 97,`, `"value": "97",`, 1)
	bad := filepath.Join(tmp, "bad.json")
	if err := os.WriteFile(bad, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "testdata/validate.js", good, bad, goodMinutes)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("validate.js: %v", err)
	}
	var res []struct {
		Valid    bool `json:"valid"`
		Messages []struct {
			Location, Severity, Message string
		} `json:"messages"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 3 {
		t.Fatalf("validate.js output %s: %v", out, err)
	}
	for _, i := range []int{0, 2} {
		if !res[i].Valid {
			t.Errorf("npm fhir finds export %d invalid: %+v", i, res[i].Messages)
		}
		for _, m := range res[i].Messages {
			if m.Severity == "error" {
				t.Errorf("npm fhir error in export %d: %+v", i, m)
			}
		}
	}
	if res[1].Valid {
		t.Error("npm fhir accepts a bundle with a bad status and a string value: the check checks nothing")
	}
}
