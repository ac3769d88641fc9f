package wire

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parsers maps each golden file a subscriber reads to its Parse function.
var parsers = map[string]func([]byte) error{
	"state":           func(b []byte) error { _, err := ParseState(b); return err },
	"state_will":      func(b []byte) error { _, err := ParseState(b); return err },
	"vitals_spo2":     func(b []byte) error { _, err := ParseVital(b, "spo2"); return err },
	"vitals_pulse":    func(b []byte) error { _, err := ParseVital(b, "pulse"); return err },
	"vitals_nibp":     func(b []byte) error { _, err := ParseNIBP(b); return err },
	"alarm":           func(b []byte) error { _, err := ParseAlarm(b); return err },
	"alarms":          func(b []byte) error { _, err := ParseAlarms(b); return err },
	"session":         func(b []byte) error { _, err := ParseSession(b); return err },
	"session_summary": func(b []byte) error { _, err := ParseSummary(b); return err },
	"gap":             func(b []byte) error { _, err := ParseGap(b); return err },
	"cmd_reply":       func(b []byte) error { _, err := ParseReply(b); return err },
}

// What the chair writes (the golden files), the Parse functions accept.
func TestParseAcceptsGoldenPayloads(t *testing.T) {
	for name, parse := range parsers {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := parse(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Bad payloads are refused with an error naming what is wrong.
func TestParseRefusesBadPayloads(t *testing.T) {
	spo2 := `{"v":1,"stream":"s1","seq":1,"t":"2026-11-22T08:00:00.000Z","param":"spo2","value":97,"unit":"%","flags":[]}`
	cases := []struct {
		name, payload, want string
		parse               func([]byte) error
	}{
		{"not json", `{"v":1,`, "malformed payload", parsers["vitals_spo2"]},
		{"no v", `{"param":"spo2"}`, `"v" is missing`, parsers["vitals_spo2"]},
		{"v 2", strings.Replace(spo2, `"v":1`, `"v":2`, 1), `"v" is 2`, parsers["vitals_spo2"]},
		{"value a string", strings.Replace(spo2, `97`, `"97"`, 1), "not a number", parsers["vitals_spo2"]},
		{"value too big", strings.Replace(spo2, `97`, `1e999`, 1), "not a number", parsers["vitals_spo2"]},
		{"wrong param", spo2, `"param" is "spo2"`, parsers["vitals_pulse"]},
		{"no t", strings.Replace(spo2, `"t":"2026-11-22T08:00:00.000Z",`, ``, 1), `"t" is missing`, parsers["vitals_spo2"]},
		{"bad time", strings.Replace(spo2, `2026-11-22T08:00:00.000Z`, `yesterday`, 1), "not RFC 3339", parsers["vitals_spo2"]},
		{"trailing", spo2 + `{}`, "after", parsers["vitals_spo2"]},
		{"seq without stream", strings.Replace(spo2, `"stream":"s1",`, ``, 1), `"seq" is set without`, parsers["vitals_spo2"]},
		{"control char in flag", strings.Replace(spo2, `"flags":[]`, `"flags":["a\u001b[2J"]`, 1), "control character", parsers["vitals_spo2"]},
		{"huge", `{"v":1,"x":"` + strings.Repeat("a", MaxPayloadBytes) + `"}`, "more than", parsers["vitals_spo2"]},
		{"alarm priority", `{"v":1,"t":"2026-11-22T08:00:00Z","id":"a-1","condition":"x","kind":"technical","priority":"urgent","phase":"start","state":"active"}`, `"priority" is "urgent"`, parsers["alarm"]},
		{"alarms list not a list", `{"v":1,"t":"2026-11-22T08:00:00Z","alarms":{}}`, "must be", parsers["alarms"]},
		{"gap backwards", `{"v":1,"stream":"s","seq":3,"t":"2026-11-22T08:00:00Z","from_seq":9,"to_seq":2}`, "not a range", parsers["gap"]},
		{"state phase", `{"v":1,"online":true,"phase":"dancing"}`, `"phase" is "dancing"`, parsers["state"]},
		{"invalid utf8", "{\"v\":1,\"x\":\"\xff\"}", "UTF-8", parsers["state"]},
	}
	for _, c := range cases {
		err := c.parse([]byte(c.payload))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// FuzzParse feeds any bytes to every parser: none may panic, and a payload
// one accepts encodes again.
func FuzzParse(f *testing.F) {
	for name := range parsers {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"alarms":[{"v":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range parsers {
			_ = parse(b)
		}
		if a, err := ParseAlarms(b); err == nil && len(a.Alarms) > maxAlarms {
			t.Fatal("accepted an over-long alarm list")
		}
		if v, err := ParseVital(b, "spo2"); err == nil && v.Param != "spo2" {
			t.Fatalf("accepted param %q on the spo2 topic", v.Param)
		}
	})
}
