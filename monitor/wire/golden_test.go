package wire

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden payloads in testdata/golden")

// goldenPayloads are one of each payload the chair publishes, with every
// field set, so a renamed, removed or retyped field changes a golden file
// (testdata/golden/<name>.json) and fails the test. The files are the
// contract's examples (docs/interfaces.md §4): a subscriber written against
// them reads what the chair sends.
func goldenPayloads() map[string]any {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 123_000_000, time.UTC)
	at := func(d time.Duration) Time { return At(t0.Add(d)) }
	rec := Record{V: Version, Stream: "9f2c4a1b7d3e5f60", Seq: 1042, Boot: 3, ClockSynced: true}
	nurse := "ann@desk-1"
	planned := "PT40M"
	alarm := Alarm{Record: rec, T: at(0), Session: "s-20261122-0800-3", ID: "a-3-17", Condition: "spo2_low",
		Kind: KindPhysiological, Priority: "high", Phase: PhaseUpdate, State: "acknowledged", ConditionActive: true,
		Value: N(86), Limit: N(88), Message: "SpO2 86 < 88", AckedBy: &nurse, Audio: AudioOff, Started: at(-20 * time.Second)}
	live := alarm
	live.Record = Record{V: Version, ClockSynced: true} // in the retained list: live state, no seq
	return map[string]any{
		"state": State{V: Version, Online: true, Boot: 3, Stream: rec.Stream, Version: "v1.2.3", T: at(0),
			ClockSynced: true, Session: "s-20261122-0800-3", Phase: "infusion"},
		"state_will": State{V: Version, Online: true, Boot: 3, Stream: rec.Stream, Version: "v1.2.3", T: at(0),
			ClockSynced: true, Session: "s-20261122-0800-3", Phase: "infusion"}.Will(),
		"vitals_spo2": Vital{Record: rec, T: at(0), Session: "s-20261122-0800-3", Param: "spo2", Value: N(97),
			Unit: "%", Source: "nonin", Flags: []string{"artifact"}},
		"vitals_pulse": Vital{Record: rec, T: at(0), Session: "s-20261122-0800-3", Param: "pulse", Value: Num{},
			Unit: "/min", Source: "nonin", Flags: []string{"probe_off"}},
		"vitals_nibp": NIBP{Record: rec, T: at(0), Session: "s-20261122-0800-3", Param: "nibp", Systolic: N(128),
			Diastolic: N(82), Mean: N(97), Pulse: N(74), Unit: "mm[Hg]", Source: "suntech", Request: "n-3-5",
			Error: "0x57 inflate timeout, leak or loose cuff", Flags: []string{}},
		"alarm":  alarm,
		"alarms": Alarms{V: Version, T: at(0), AudioPausedUntil: at(2 * time.Minute), Alarms: []Alarm{live}},
		"session": Session{Record: rec, T: at(0), ID: "s-20261122-0800-3", Encounter: "enc-881", Phase: "infusion",
			PhaseStarted: at(-12 * time.Minute), PhasePlanned: &planned, Started: at(-30 * time.Minute), Protocol: "ketamine-iv",
			Baseline: Baseline{Systolic: N(124), Diastolic: N(80), Pulse: N(72), SpO2: N(98)},
			NextNIBP: at(3 * time.Minute), GateOverrideBy: &nurse},
		"session_summary": Summary{Record: rec, T: at(0), ID: "s-20261122-0800-3", Encounter: "enc-881",
			Protocol: "ketamine-iv", Started: at(-2 * time.Hour),
			Phases: map[string]string{"baseline": "PT12M", "infusion": "PT41M", "observation": "PT60M"},
			SpO2:   Stat{Min: N(86), Max: N(99), Median: N(97)}, Pulse: Stat{Min: N(61), Max: N(118), Median: N(78)},
			NIBP:   NIBPStat{SystolicMax: N(151), DiastolicMax: N(94), Count: 14},
			Alarms: map[string]int{"spo2_low/high": 1}, MinutesOutOfRange: map[string]float64{"spo2_low": 0.5},
			Marks: []Mark{{T: at(-time.Hour), Note: "cuff moved to the left arm", By: nurse}}, GateOverrideBy: &nurse,
			Discharge: &Discharge{T: at(0), Met: false, Unmet: []string{"pulse 105 is 30 from baseline 75 (within 20)"},
				Criteria: []Criterion{
					{Name: "spo2", Rule: "at_least", Value: N(96), Baseline: Num{}, Limit: N(94), Met: true},
					{Name: "pulse", Rule: "within", Value: N(105), Baseline: N(75), Limit: N(20), Met: false},
					{Name: "systolic", Rule: "within", Value: N(131), Baseline: N(124), Limit: N(20), Met: true},
				}}},
		"gap":       Gap{Record: rec, T: at(0), FromSeq: 100, ToSeq: 180, Reason: "store_full"},
		"cmd_reply": Reply{V: Version, ID: "r-77", OK: false, Error: "alarm a-3-99 is not current", Durable: new(bool)},
		"cmd": Command{V: Version, ID: "r-77", T: at(0), Action: ActionLimits, By: nurse, Alarm: "*",
			Encounter: "enc-881", Override: true, Note: "note",
			Limit: map[string]any{"condition": "spo2_low", "priority": "medium", "below": 90.0}},
	}
}

func TestPayloadsMatchGoldenFiles(t *testing.T) {
	for name, p := range goldenPayloads() {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./monitor/wire -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s changed:\ngot  %s\nwant %s", path, got, want)
			}
			// Every field of the type is in the golden file: a new field
			// left zero (and so, with omitempty, absent) would otherwise
			// slip past it untested.
			var keys map[string]any
			if err := json.Unmarshal(got, &keys); err != nil {
				t.Fatal(err)
			}
			for _, f := range jsonFields(reflect.TypeOf(p)) {
				if _, ok := keys[f]; !ok {
					t.Errorf("field %q of %T is not in %s: set it in goldenPayloads", f, p, path)
				}
			}
		})
	}
}

// jsonFields lists the JSON names of a struct's fields, embedded ones
// flattened as encoding/json does.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// TestGoldenPayloadsDecode reads every golden file back into its type: what
// the chair writes, the station and the recorder can read.
func TestGoldenPayloadsDecode(t *testing.T) {
	for name, p := range goldenPayloads() {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(p))
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(back.Interface()); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		again, _ := json.Marshal(back.Elem().Interface())
		orig, _ := json.Marshal(p)
		if !bytes.Equal(again, orig) {
			t.Errorf("%s does not survive a round trip:\n%s\n%s", name, again, orig)
		}
	}
}
