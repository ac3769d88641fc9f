package recorder

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chairside/chairside/monitor/wire"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 123e6, time.UTC)

func must(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vital(seq uint64) wire.Vital {
	return wire.Vital{Record: wire.Record{V: 1, Stream: "st1", Seq: seq, Boot: 2, ClockSynced: true},
		T: wire.At(t0), Session: "s-1", Param: "spo2", Value: wire.N(97), Unit: "%", Source: "nonin", Flags: []string{}}
}

func TestParseRecords(t *testing.T) {
	nibp := wire.NIBP{Record: wire.Record{V: 1, Stream: "st1", Seq: 3, Boot: 2}, T: wire.At(t0), Session: "s-1", Param: "nibp",
		Systolic: wire.N(128), Diastolic: wire.N(82), Unit: "mm[Hg]"}
	sess := wire.Session{Record: wire.Record{V: 1, Stream: "st1", Seq: 4, Boot: 2}, T: wire.At(t0), ID: "s-9", Phase: "infusion"}
	sum := wire.Summary{Record: wire.Record{V: 1, Stream: "st1", Seq: 5, Boot: 2}, T: wire.At(t0), ID: "s-9"}
	gap := wire.Gap{Record: wire.Record{V: 1, Stream: "st1", Seq: 6, Boot: 2}, T: wire.At(t0), FromSeq: 1, ToSeq: 2, Reason: "store_full"}
	alarm := wire.Alarm{Record: wire.Record{V: 1, Stream: "st1", Seq: 7, Boot: 2}, T: wire.At(t0), Session: "s-1", ID: "a-2-1"}
	for _, c := range []struct {
		suffix, session string
		v               any
	}{
		{"vitals/spo2", "s-1", vital(2)}, {"vitals/nibp", "s-1", nibp}, {"session", "s-9", sess},
		{"session/summary", "s-9", sum}, {"gap", "", gap}, {"alarm", "s-1", alarm},
	} {
		p := must(t, c.v)
		it := Parse("chairside", "chairside/chair-03/"+c.suffix, p, 0)
		if it.Record == nil {
			t.Fatalf("%s: not a record: %+v", c.suffix, it.Reject)
		}
		r := it.Record
		if r.Chair != "chair-03" || r.Stream != "st1" || r.Kind != c.suffix || r.Session != c.session || r.Boot != 2 || !r.T.Equal(t0) || string(r.Payload) != string(p) {
			t.Errorf("%s: %+v", c.suffix, r)
		}
	}
}

func TestParseStateAndWill(t *testing.T) {
	st := wire.State{V: 1, Online: true, Boot: 4, Stream: "st1", Version: "v1", T: wire.At(t0), Session: "s-1", Phase: "idle"}
	it := Parse("chairside", "chairside/c1/state", must(t, st), 0)
	if it.State == nil || !it.State.Online || it.State.Will || it.State.Phase != "idle" {
		t.Fatalf("%+v %+v", it.State, it.Reject)
	}
	it = Parse("chairside", "chairside/c1/state", must(t, st.Will()), 0)
	if it.State == nil || it.State.Online || !it.State.Will {
		t.Fatalf("will: %+v", it.State)
	}
}

func TestParseRejects(t *testing.T) {
	good := must(t, vital(1))
	bad := func(mut func(*wire.Vital)) []byte {
		v := vital(1)
		mut(&v)
		return must(t, v)
	}
	for _, c := range []struct {
		name, topic string
		payload     []byte
		reason      string
	}{
		{"not json", "chairside/c1/vitals/spo2", []byte("{not json"), "malformed"},
		{"array", "chairside/c1/vitals/spo2", []byte("[1,2]"), "malformed"},
		{"null", "chairside/c1/vitals/spo2", []byte("null"), "v is 0"},
		{"wrong type", "chairside/c1/vitals/spo2", []byte(`{"v":1,"stream":"s","seq":"one"}`), "malformed"},
		{"version", "chairside/c1/vitals/spo2", bad(func(v *wire.Vital) { v.V = 2 }), "v is 2"},
		{"no stream", "chairside/c1/vitals/spo2", bad(func(v *wire.Vital) { v.Stream = "" }), "stream is missing"},
		{"no seq", "chairside/c1/vitals/spo2", bad(func(v *wire.Vital) { v.Seq = 0 }), "seq is missing"},
		{"huge seq", "chairside/c1/vitals/spo2", []byte(`{"v":1,"stream":"s","seq":18446744073709551615,"param":"spo2"}`), "too large"},
		{"negative seq", "chairside/c1/vitals/spo2", []byte(`{"v":1,"stream":"s","seq":-1,"param":"spo2"}`), "malformed"},
		{"param mismatch", "chairside/c1/vitals/spo2", bad(func(v *wire.Vital) { v.Param = "pulse" }), "param"},
		{"unknown topic", "chairside/c1/vitals/temp", good, "unknown topic"},
		{"other prefix", "elsewhere/c1/vitals/spo2", good, "not under"},
		{"no suffix", "chairside/c1", good, "no part after"},
		{"bad chair", "chairside/Chair 1/vitals/spo2", good, "chair"},
		{"oversized", "chairside/c1/vitals/spo2", append(good, make([]byte, DefaultMaxPayload)...), "oversized"},
		{"empty", "chairside/c1/state", nil, "empty"},
		{"invalid utf8", "chairside/c1/vitals/spo2", []byte("{\"v\":1,\"stream\":\"\xff\"}"), "UTF-8"},
		{"gap range", "chairside/c1/gap", []byte(`{"v":1,"stream":"s","seq":3,"from_seq":5,"to_seq":2}`), "not a range"},
		{"state malformed", "chairside/c1/state", []byte(`{"v":1,"online":"yes"}`), "malformed"},
	} {
		it := Parse("chairside", c.topic, c.payload, 0)
		if it.Reject == nil {
			t.Errorf("%s: taken: %+v", c.name, it)
			continue
		}
		if !strings.Contains(it.Reject.Reason, c.reason) {
			t.Errorf("%s: reason %q, want it to say %q", c.name, it.Reject.Reason, c.reason)
		}
		if it.Reject.Size != len(c.payload) || len(it.Reject.Payload) > RejectedHead {
			t.Errorf("%s: size %d head %d", c.name, it.Reject.Size, len(it.Reject.Payload))
		}
	}
}

func TestParseIgnoresLiveTopics(t *testing.T) {
	for _, s := range []string{"pleth", "alarms", "cmd", "cmd/reply"} {
		if it := Parse("chairside", "chairside/c1/"+s, []byte("{}"), 0); !it.Ignored {
			t.Errorf("%s: %+v", s, it)
		}
	}
}

// FuzzParse: any topic and payload give exactly one outcome, never a panic;
// what is taken as a record has a key and a payload valid as JSON text.
func FuzzParse(f *testing.F) {
	f.Add("chairside/c1/vitals/spo2", string(must(f, vital(1))))
	f.Add("chairside/c1/state", `{"v":1,"online":true,"phase":null}`)
	f.Add("chairside/c1/gap", `{"v":1,"stream":"s","seq":3,"from_seq":1,"to_seq":2}`)
	f.Add("chairside/c1/session/summary", `{"v":1,"stream":"s","seq":3,"id":"s-1","phases":{"a":"PT1M"}}`)
	f.Add("chairside/c1/alarm", `{"v":1,"stream":"s","seq":1,"value":null,"acked_by":"x"}`)
	f.Add("chairside/c1/vitals/nibp", `{"v":1,"stream":"s","seq":1,"param":"nibp","systolic":1e400}`)
	f.Fuzz(func(t *testing.T, topic, payload string) {
		it := Parse("chairside", topic, []byte(payload), 4096)
		n := 0
		for _, set := range []bool{it.Record != nil, it.State != nil, it.Reject != nil, it.Ignored} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d outcomes: %+v", n, it)
		}
		if r := it.Record; r != nil {
			if r.Stream == "" || r.Seq <= 0 || r.Chair == "" || !json.Valid(r.Payload) || !utf8.Valid(r.Payload) {
				t.Fatalf("record without a key or with a bad payload: %+v", r)
			}
		}
		if r := it.Reject; r != nil {
			if r.Reason == "" || !utf8.ValidString(r.Topic) || len(r.Payload) > RejectedHead {
				t.Fatalf("bad reject: %+v", r)
			}
		}
	})
}
