package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTimeEncodesUTCWithMilliseconds(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	b, err := json.Marshal(struct {
		T Time `json:"t"`
		Z Time `json:"z"`
	}{T: At(time.Date(2026, 11, 22, 9, 0, 0, 123456789, loc))})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"t":"2026-11-22T08:00:00.123Z","z":null}` {
		t.Fatalf("got %s", got)
	}
	var back struct{ T Time }
	if err := json.Unmarshal([]byte(`{"T":"2026-11-22T08:00:00Z"}`), &back); err != nil || !back.T.Equal(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("decode: %v %v", back.T, err)
	}
	if err := json.Unmarshal([]byte(`{"T":"yesterday"}`), &back); err == nil {
		t.Fatal("decoded a non-RFC 3339 time")
	}
}

func TestNumIsNullWhenAbsent(t *testing.T) {
	b, _ := json.Marshal([]Num{N(97), N(92.5), {}})
	if string(b) != `[97,92.5,null]` {
		t.Fatalf("got %s", b)
	}
}

func TestVitalPayloadMatchesContract(t *testing.T) {
	v := Vital{Record: Record{V: 1, Stream: "st", Seq: 7, Boot: 2, ClockSynced: true}, T: At(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)),
		Session: "s-1", Param: "spo2", Value: N(97), Unit: "%", Source: "nonin", Flags: []string{}}
	b, _ := json.Marshal(v)
	want := `{"v":1,"stream":"st","seq":7,"boot":2,"clock_synced":true,"t":"2026-11-22T08:00:00.000Z","session":"s-1","param":"spo2","value":97,"unit":"%","source":"nonin","flags":[]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestParseCommand(t *testing.T) {
	ok := `{"v":1,"id":"r-1","t":"2026-11-22T08:00:00.000Z","action":"ack","by":"ann@station","alarm":"a-1-2"}`
	c, err := ParseCommand([]byte(ok))
	if err != nil || c.Alarm != "a-1-2" || c.By != "ann@station" {
		t.Fatalf("%+v %v", c, err)
	}
	cases := []struct{ in, want string }{
		{`{`, "malformed command: "},
		{`[]`, "malformed command: "},
		{`{"v":1,"id":"r-1","t":"2026-11-22T08:00:00Z","action":"ack","by":"x","alarm":"*","extra":1}`, `malformed command: unknown field "extra"`},
		{`{"v":"1","id":"r-1"}`, `malformed command: field "v" must be int, not string`},
		{`{"v":2,"id":"r-1","t":"2026-11-22T08:00:00Z","action":"ack","by":"x","alarm":"*"}`, `field "v" is 2; this chair speaks version 1`},
		{`{"v":1,"t":"2026-11-22T08:00:00Z","action":"ack","by":"x","alarm":"*"}`, `field "id" is empty`},
		{`{"v":1,"id":"r","action":"ack","by":"x","alarm":"*"}`, `field "t" is missing`},
		{`{"v":1,"id":"r","t":"2026-11-22T08:00:00Z","action":"fly","by":"x"}`, `field "action": "fly" is not an action`},
		{`{"v":1,"id":"r","t":"2026-11-22T08:00:00Z","action":"ack","by":"x"}`, `field "alarm" is missing`},
		{`{"v":1,"id":"r","t":"2026-11-22T08:00:00Z","action":"limits","by":"x"}`, `field "limit" is missing`},
		{`{"v":1,"id":"r","t":"2026-11-22T08:00:00Z","action":"mark","by":"x","note":"a"} {}`, "data after the JSON object"},
		{`{"v":1,"id":"` + strings.Repeat("x", 65) + `","t":"2026-11-22T08:00:00Z","action":"mark","by":"x","note":"a"}`, `field "id" is 65 characters, more than 64`},
		{strings.Repeat(" ", 5000), "command is more than 4096 bytes"},
	}
	for _, c := range cases {
		_, err := ParseCommand([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseCommand(%.60q) = %v, want %q", c.in, err, c.want)
		}
	}
	// A malformed command still gives its id, so the refusal can be matched.
	c, err = ParseCommand([]byte(`{"v":1,"id":"r-9","t":"2026-11-22T08:00:00Z","action":"ack","by":"x","alarm":7}`))
	if err == nil || c.ID != "r-9" {
		t.Fatalf("id of a malformed command: %q %v", c.ID, err)
	}
}

// FuzzParseCommand: any payload gives a command or a clear error, never a
// panic; an accepted command always passes its own checks.
func FuzzParseCommand(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"r-1","t":"2026-11-22T08:00:00.000Z","action":"ack","by":"ann@station","alarm":"*"}`))
	f.Add([]byte(`{"v":1,"id":"r-2","t":"2026-11-22T08:00:00Z","action":"limits","by":"x","limit":{"condition":"spo2_low","priority":"high","below":88}}`))
	f.Add([]byte(`{"v":1,"id":"r-3","t":"2026-11-22T08:00:00Z","action":"mark","by":"x","note":"ü"}`))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if c.Check() != nil || !IsAction(c.Action) || c.ID == "" || len(c.Note) > 4*MaxNoteLen {
			t.Fatalf("accepted a bad command: %+v", c)
		}
	})
}

// A limits command whose table's keys or strings hold control characters
// (ESC sequences, a newline that would forge an extra alarm-log line, a
// bidi override) is refused before it reaches the engine or the log.
func TestParseCommandRefusesControlCharactersInLimit(t *testing.T) {
	for _, lim := range []string{
		`{"condition":"spo2_low","priority":"high","below":88,"\u001b[2J\nforged":1}`,
		`{"condition":"spo2_low\n2026-11-22T08:00:00.000Z\tdr@x\tlimits\tok","priority":"high","below":88}`,
		`{"condition":"spo2_low","priority":"high\u202e","below":88}`,
		`{"condition":"spo2_low","priority":"high","below":88,"x":["\u009b31m"]}`,
	} {
		in := `{"v":1,"id":"r-1","t":"2026-11-22T08:00:00Z","action":"limits","by":"x","limit":` + lim + `}`
		c, err := ParseCommand([]byte(in))
		if err == nil || !strings.Contains(err.Error(), `field "limit"`) || c.ID != "r-1" {
			t.Errorf("ParseCommand(%q) = id %q, %v; want refused naming the limit field, with its id", lim, c.ID, err)
			continue
		}
		for _, r := range err.Error() {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e {
				t.Errorf("the error itself carries %U: %q", r, err)
			}
		}
	}
}

// Every refusal carries the id whenever it can be read: after a syntax
// error, in an oversized payload (read from its first bytes only).
func TestParseCommandPeeksIDOfUnreadableCommands(t *testing.T) {
	cases := []struct{ in, id, want string }{
		{`{"v":1,"id":"r-7","t":"2026-11-22T08:00:00Z","action":"mark",`, "r-7", "malformed command"},
		{`{"id":"r-8","v":1,"note":"a" "t"}`, "r-8", "malformed command"},
		{`{"v":1,"id":"r-9","t":"2026-11-22T08:00:00Z","action":"mark","by":"x","note":"` + strings.Repeat("a", 10000) + `"}`, "r-9", "more than 4096"},
		{`{"v":1,"note":"` + strings.Repeat("a", 10000) + `","id":"r-10"}`, "", "more than 4096"},
		{`{"v":1,"id":"r\n1","action":`, "", "malformed command"},
		{`["id","r-11"]`, "", "malformed command"},
	}
	for _, c := range cases {
		got, err := ParseCommand([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) || got.ID != c.id {
			t.Errorf("ParseCommand(%.50q) = id %q, %v; want id %q and %q", c.in, got.ID, err, c.id, c.want)
		}
	}
}

// An absent or null "t" is missing; a present one, even year 1 (the zero
// time), is a time, and the engine judges its age.
func TestParseCommandTellsAbsentTFromZeroT(t *testing.T) {
	base := `{"v":1,"id":"r","action":"pause_audio","by":"x"`
	for _, in := range []string{base + `}`, base + `,"t":null}`} {
		if _, err := ParseCommand([]byte(in)); err == nil || !strings.Contains(err.Error(), `field "t" is missing`) {
			t.Errorf("ParseCommand(%s) = %v, want t missing", in, err)
		}
	}
	for _, ts := range []string{"0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"} {
		c, err := ParseCommand([]byte(base + `,"t":"` + ts + `"}`))
		if err != nil || c.T.Year() != mustYear(ts) {
			t.Errorf("t %s: %v, %v; want it parsed (the engine refuses its age)", ts, c.T, err)
		}
	}
	if _, err := ParseCommand([]byte(`{"id":"r","t":"2026-11-22T08:00:00Z","action":"pause_audio","by":"x"}`)); err == nil ||
		!strings.Contains(err.Error(), `field "v" is missing`) {
		t.Errorf("no v: %v, want v missing", err)
	}
}

func mustYear(ts string) int {
	y, _ := time.Parse(time.RFC3339, ts)
	return y.Year()
}
