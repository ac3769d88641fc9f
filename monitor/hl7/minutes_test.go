package hl7

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

func TestMedianOfIsAValueSent(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want wire.Num
	}{
		{nil, wire.Num{}},
		{[]float64{97}, wire.N(97)},
		{[]float64{98, 96}, wire.N(96)},         // lower middle, never 97
		{[]float64{99, 95, 97, 96}, wire.N(96)}, // never 96.5
		{[]float64{90, 99, 91}, wire.N(91)},
	} {
		in := append([]float64(nil), c.in...)
		if got := MedianOf(c.in); got != c.want {
			t.Errorf("MedianOf(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("MedianOf changed its input")
			}
		}
	}
}

func TestValid(t *testing.T) {
	for _, c := range []struct {
		v    wire.Vital
		want bool
	}{
		{vital("spo2", 1, 0, wire.N(97)), true},
		{vital("spo2", 1, 0, wire.N(97), "artifact"), true}, // a value the chair published
		{vital("spo2", 1, 0, wire.Num{}, "searching"), false},
		{vital("spo2", 1, 0, wire.Num{}), false},
		{vital("spo2", 1, 0, wire.N(97), "probe_off"), false},
		{vital("spo2", 1, 0, wire.N(97), "sensor_alarm"), false},
	} {
		if got := Valid(c.v); got != c.want {
			t.Errorf("Valid(%v %v) = %v", c.v.Value, c.v.Flags, got)
		}
	}
}

// Records are grouped by session and UTC minute; nulls are never counted
// as numbers; a minute with only nulls has a null median; duplicates count
// once; records that cannot be placed are named, the rest still grouped.
func TestMinutes(t *testing.T) {
	recs := []wire.Vital{
		vital("spo2", 1, 0, wire.N(90)),
		vital("spo2", 2, 1*time.Second, wire.N(99)),
		vital("spo2", 2, 1*time.Second, wire.N(99)), // duplicate
		vital("spo2", 3, 2*time.Second, wire.N(95)),
		vital("spo2", 4, 3*time.Second, wire.Num{}, "probe_off"),
		vital("pulse", 5, 59*time.Second, wire.N(70)),
		vital("spo2", 6, 60*time.Second, wire.Num{}, "searching"), // next minute
		vital("spo2", 7, 61*time.Second, wire.Num{}, "no_data"),
		vital("spo2", 8, 62*time.Second, wire.N(0), "probe_off"), // a zero with probe_off is no value
	}
	other := vital("pulse", 9, 10*time.Second, wire.N(130))
	other.Session = "s-other"
	other.ClockSynced = false
	bad := vital("nibp", 10, 0, wire.N(1))
	noSession := vital("spo2", 11, 0, wire.N(1))
	noSession.Session = ""
	recs = append(recs, other, bad, noSession)

	ms, err := Minutes(recs)
	if err == nil || !strings.Contains(err.Error(), `param "nibp"`) || !strings.Contains(err.Error(), "b3f9/11: no session") {
		t.Errorf("error %v does not name the bad records", err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d minutes, want 3: %+v", len(ms), ms)
	}
	first, oth, second := ms[0], ms[1], ms[2]
	if first.Session != "s-20261204-1000-1" || !first.Start.Equal(t0) || oth.Session != "s-other" || !second.Start.Equal(t0.Add(time.Minute)) {
		t.Fatalf("order wrong: %v %v / %v %v / %v %v", first.Session, first.Start, oth.Session, oth.Start, second.Session, second.Start)
	}
	if first.SpO2.Value != wire.N(95) || first.SpO2.Valid != 3 || first.SpO2.Records != 4 {
		t.Errorf("first minute SpO2 %+v, want median 95 of 3 valid in 4", first.SpO2)
	}
	if strings.Join(first.SpO2.Flags, ",") != "probe_off" {
		t.Errorf("flags %v", first.SpO2.Flags)
	}
	if first.Pulse.Value != wire.N(70) || !first.Last.Equal(t0.Add(59*time.Second)) || first.ClockUnsynced {
		t.Errorf("first minute pulse %+v last %v unsynced %v", first.Pulse, first.Last, first.ClockUnsynced)
	}
	if second.SpO2.Value.Valid || second.SpO2.Records != 3 || second.SpO2.Valid != 0 {
		t.Errorf("second minute SpO2 %+v: nulls became a number", second.SpO2)
	}
	if strings.Join(second.SpO2.Flags, ",") != "no_data,probe_off,searching" {
		t.Errorf("second minute flags %v", second.SpO2.Flags)
	}
	if second.Pulse.Records != 0 || second.Pulse.Value.Valid {
		t.Errorf("second minute pulse %+v", second.Pulse)
	}
	if oth.Pulse.Value != wire.N(130) || !oth.ClockUnsynced {
		t.Errorf("other session %+v", oth)
	}
	// The minute of a null-only SpO2 sends no number for it.
	m, err := MinuteMessage(testConfig, "chair-07", "", second)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Segments {
		if s.Name == "OBX" && s.Fields[2][0] == "150456" && (len(s.Fields[4]) != 0 || s.Fields[10][0] != "X") {
			t.Errorf("null SpO2 minute row %v", s.Fields)
		}
	}
}
