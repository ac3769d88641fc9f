package forward

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/fhir"
	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/wire"
)

// The exports from the database are the builders' output for the records
// as the chair sent them: nothing is lost or changed on the way through
// the archive (so monitor/fhir's and monitor/hl7's own checks of their
// output hold for the recorder's exports). Another chair's records under
// the same session id are left out with -chair, and refused without.
func TestExportsFromTheDatabaseMatchTheRecords(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		c := newChair(t, "chair-07", "s-1")
		recs := append([]archive.Record{c.sessionRec(0)}, c.seconds(0, 130, 20, 90)...)
		other := newChair(t, "chair-08", "s-1")
		store(t, db, t0, append(recs, other.seconds(0, 5)...)...)

		var s wire.Session
		var vitals []wire.Vital
		var nibps []wire.NIBP
		for _, r := range recs {
			switch r.Kind {
			case archive.KindSession:
				json.Unmarshal(r.Payload, &s)
			case archive.KindNIBP:
				var n wire.NIBP
				json.Unmarshal(r.Payload, &n)
				nibps = append(nibps, n)
			default:
				var v wire.Vital
				json.Unmarshal(r.Payload, &v)
				vitals = append(vitals, v)
			}
		}
		stored, err := db.SessionRecords(ctx, "s-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SessionBundle("s-1", stored, fhir.Options{}); err == nil || !strings.Contains(err.Error(), "several chairs") {
			t.Fatalf("a session id on two chairs exported without naming one: %v", err)
		}
		mine := slices.DeleteFunc(stored, func(r archive.StoredRecord) bool { return r.Chair != "chair-07" })
		for _, o := range []fhir.Options{{}, {Minutes: true}} {
			got, err := SessionBundle("s-1", mine, o)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fhir.Export(fhir.Session{Chair: "chair-07", Session: s, Vitals: vitals, NIBP: nibps}, o)
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) || len(want.Entry) < 10 {
				t.Fatalf("FHIR export (%+v) from the database differs from the records' (%d entries)", o, len(want.Entry))
			}
		}
		msgs, err := SessionMessages(testHL7, "s-1", mine)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := hl7.SessionMessages(testHL7, "chair-07", "enc-881", vitals, nibps)
		if len(msgs) != 5 || len(msgs) != len(want) {
			t.Fatalf("%d messages, want 5 (3 minutes, 2 NIBPs)", len(msgs))
		}
		for i := range msgs {
			if string(msgs[i].Bytes()) != string(want[i].Bytes()) {
				t.Errorf("HL7 export %s differs", msgs[i].ControlID)
			}
		}
	})
}
