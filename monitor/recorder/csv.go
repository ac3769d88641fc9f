package recorder

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/wire"
)

// CSVColumns are the columns of `recorder export -format csv`, one row a
// record (docs/interfaces.md lists what each holds). A cell the record does
// not have, or whose value the chair sent as null, is empty: the export
// never makes up a number.
var CSVColumns = []string{
	"chair", "stream", "seq", "boot", "kind", "t", "clock_synced", "session",
	"param", "value", "unit", "systolic", "diastolic", "mean", "pulse", "source", "flags", "error",
	"alarm_id", "condition", "priority", "alarm_phase", "alarm_state", "message",
	"session_phase", "received", "payload",
}

// WriteCSV writes records as CSV with a header line.
func WriteCSV(w io.Writer, recs []archive.StoredRecord) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	idx := make(map[string]int, len(CSVColumns))
	for i, c := range CSVColumns {
		idx[c] = i
	}
	for _, r := range recs {
		row := make([]string, len(CSVColumns))
		set := func(col, v string) { row[idx[col]] = v }
		text := func(col, v string) { set(col, safeText(v)) }
		num := func(col string, n wire.Num) {
			if n.Valid {
				set(col, n.String())
			}
		}
		set("chair", r.Chair)
		text("stream", r.Stream)
		set("seq", strconv.FormatInt(r.Seq, 10))
		set("boot", strconv.FormatInt(r.Boot, 10))
		set("kind", r.Kind)
		if !r.T.IsZero() {
			set("t", r.T.UTC().Format(wire.TimeLayout))
		}
		set("clock_synced", strconv.FormatBool(r.ClockSynced))
		text("session", r.Session)
		set("received", r.Received.UTC().Format(wire.TimeLayout))
		text("payload", string(r.Payload))
		var err error
		switch r.Kind {
		case wire.TopicSpO2, wire.TopicPulse:
			var v wire.Vital
			if err = json.Unmarshal(r.Payload, &v); err == nil {
				text("param", v.Param)
				num("value", v.Value)
				text("unit", v.Unit)
				text("source", v.Source)
				text("flags", strings.Join(v.Flags, ";"))
			}
		case wire.TopicNIBP:
			var v wire.NIBP
			if err = json.Unmarshal(r.Payload, &v); err == nil {
				text("param", v.Param)
				num("systolic", v.Systolic)
				num("diastolic", v.Diastolic)
				num("mean", v.Mean)
				num("pulse", v.Pulse)
				text("unit", v.Unit)
				text("source", v.Source)
				text("flags", strings.Join(v.Flags, ";"))
				text("error", v.Error)
			}
		case wire.TopicAlarm:
			var v wire.Alarm
			if err = json.Unmarshal(r.Payload, &v); err == nil {
				num("value", v.Value)
				text("alarm_id", v.ID)
				text("condition", v.Condition)
				text("priority", v.Priority)
				text("alarm_phase", v.Phase)
				text("alarm_state", v.State)
				text("message", v.Message)
			}
		case wire.TopicSession:
			var v wire.Session
			if err = json.Unmarshal(r.Payload, &v); err == nil {
				text("session_phase", v.Phase)
			}
		}
		if err != nil {
			return fmt.Errorf("record %s/%s/%d: stored payload unreadable: %w", r.Chair, r.Stream, r.Seq, err)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// safeText keeps a spreadsheet from running a text cell as a formula
// (CSV injection): a cell starting with = + - @ or a tab gets a leading '.
// Numbers are written by the export itself and never need it.
func safeText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// FormatAge is a duration for people, to the second.
func FormatAge(d time.Duration) string {
	return d.Round(time.Second).String()
}
