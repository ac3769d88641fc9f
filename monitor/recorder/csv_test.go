package recorder

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/wire"
)

func TestWriteCSV(t *testing.T) {
	v := vital(1)
	v.Value, v.Flags = wire.Num{}, []string{"probe_off", "searching"}
	nibp := wire.NIBP{Record: wire.Record{V: 1, Stream: "st1", Seq: 2, Boot: 2}, T: wire.At(t0), Session: "s-1", Param: "nibp",
		Systolic: wire.N(128), Diastolic: wire.N(82), Unit: "mm[Hg]", Flags: []string{}}
	alarm := wire.Alarm{Record: wire.Record{V: 1, Stream: "st1", Seq: 3, Boot: 2}, T: wire.At(t0), Session: "s-1",
		ID: "a-2-1", Condition: "spo2_low", Priority: "high", Phase: "start", State: "active", Value: wire.N(86), Message: "=HYPERLINK(\"x\")"}
	recv := t0.Add(time.Second)
	recs := []archive.StoredRecord{
		{Record: archive.Record{Chair: "c1", Stream: "st1", Seq: 1, Kind: "vitals/spo2", T: t0, Session: "s-1", Boot: 2, ClockSynced: true, Payload: must(t, v)}, Received: recv},
		{Record: archive.Record{Chair: "c1", Stream: "st1", Seq: 2, Kind: "vitals/nibp", T: t0, Session: "s-1", Boot: 2, Payload: must(t, nibp)}, Received: recv},
		{Record: archive.Record{Chair: "c1", Stream: "st1", Seq: 3, Kind: "alarm", T: t0, Session: "s-1", Boot: 2, Payload: must(t, alarm)}, Received: recv},
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	col := func(row int, name string) string {
		for i, c := range rows[0] {
			if c == name {
				return rows[row][i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	checks := []struct {
		row       int
		col, want string
	}{
		{1, "value", ""}, {1, "flags", "probe_off;searching"}, {1, "t", "2026-11-22T08:00:00.123Z"}, {1, "clock_synced", "true"},
		{1, "received", "2026-11-22T08:00:01.123Z"}, {1, "unit", "%"},
		{2, "systolic", "128"}, {2, "diastolic", "82"}, {2, "mean", ""}, {2, "pulse", ""}, {2, "unit", "mm[Hg]"},
		{3, "value", "86"}, {3, "condition", "spo2_low"}, {3, "message", "'=HYPERLINK(\"x\")"}, {3, "alarm_phase", "start"},
	}
	for _, c := range checks {
		if got := col(c.row, c.col); got != c.want {
			t.Errorf("row %d %s = %q, want %q", c.row, c.col, got, c.want)
		}
	}
	if col(1, "payload") != string(recs[0].Payload) {
		t.Errorf("payload column is not the record as received")
	}
}
