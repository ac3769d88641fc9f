package hl7

import (
	"bytes"
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

var update = flag.Bool("update", false, "rewrite the golden messages in testdata/golden")

// sampleMinute is one minute of one second's SpO2 and pulse: SpO2 97 with
// one 96 and one null (probe_off), pulse all valid.
func sampleMinute(t *testing.T) Minute {
	t.Helper()
	var recs []wire.Vital
	for i := range 60 {
		v := wire.N(97)
		var flags []string
		switch i {
		case 10:
			v = wire.N(96)
		case 20:
			v, flags = wire.Num{}, []string{"probe_off"}
		}
		recs = append(recs, vital("spo2", uint64(2*i+1), time.Duration(i)*time.Second, v, flags...))
		recs = append(recs, vital("pulse", uint64(2*i+2), time.Duration(i)*time.Second, wire.N(float64(70+i%5))))
	}
	ms, err := Minutes(recs)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Minutes: %d minutes, %v", len(ms), err)
	}
	return ms[0]
}

func goldenMessages(t *testing.T) map[string]Message {
	t.Helper()
	must := func(m Message, err error) Message {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	nullMinute := sampleMinute(t)
	nullMinute.SpO2 = Median{Records: 60, Flags: []string{"probe_off", "searching"}}
	nullMinute.Pulse = Median{}
	return map[string]Message{
		"minute":       must(MinuteMessage(testConfig, "chair-07", "enc-881", sampleMinute(t))),
		"minute_null":  must(MinuteMessage(testConfig, "chair-07", "", nullMinute)),
		"nibp":         must(NIBPMessage(testConfig, "chair-07", "enc-881", nibp(42, wire.N(128), wire.N(82), wire.N(97), wire.N(74), ""))),
		"nibp_failed":  must(NIBPMessage(testConfig, "chair-07", "enc-881", nibp(43, wire.Num{}, wire.Num{}, wire.Num{}, wire.Num{}, "0x57 inflate timeout, leak or loose cuff"))),
		"nibp_no_mean": must(NIBPMessage(testConfig, "chair-07", "", nibp(44, wire.N(120), wire.N(80), wire.Num{}, wire.Num{}, ""))),
	}
}

// The messages are compared whole with reviewed golden files
// (testdata/golden/*.hl7, segments on lines): a changed field shows up.
func TestMessagesMatchGoldenFiles(t *testing.T) {
	for name, m := range goldenMessages(t) {
		t.Run(name, func(t *testing.T) {
			got := []byte(m.String())
			want := readGolden(t, filepath.Join("testdata", "golden", name+".hl7"), got, *update)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s changed:\ngot\n%s\nwant\n%s", name, got, want)
			}
		})
	}
}

// expectFields checks, for every field the builder set, that python-hl7
// reads the same components from the bytes: escaping, delimiters and field
// positions agree with an independent parser.
func expectFields(t *testing.T, m Message, parsed []pySegment) {
	t.Helper()
	if len(parsed) != len(m.Segments) {
		t.Fatalf("python-hl7 read %d segments, the builder wrote %d", len(parsed), len(m.Segments))
	}
	for i, s := range m.Segments {
		p := parsed[i]
		if p.Name != s.Name {
			t.Fatalf("segment %d: python-hl7 reads %s, builder wrote %s", i, p.Name, s.Name)
		}
		first := 1
		if s.Name == "MSH" {
			first = 3
			if p.comp(1, 1) != "|" || p.comp(2, 1) != `^~\&` {
				t.Errorf("MSH-1/2 read as %q %q", p.comp(1, 1), p.comp(2, 1))
			}
		}
		for j, f := range s.Fields {
			n := first + j
			want := slices.Clone([]string(f))
			for len(want) > 0 && want[len(want)-1] == "" {
				want = want[:len(want)-1]
			}
			got := slices.Clone(p.field(n))
			for len(got) > 0 && got[len(got)-1] == "" {
				got = got[:len(got)-1]
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s-%d (segment %d): python-hl7 reads %q, builder wrote %q", s.Name, n, i, got, want)
			}
		}
	}
}

func TestMessagesReadByPythonHL7(t *testing.T) {
	needPythonHL7(t)
	msgs := goldenMessages(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range msgs {
			if !yield(k) {
				return
			}
		}
	})
	var raw [][]byte
	for _, n := range names {
		raw = append(raw, msgs[n].Bytes())
	}
	parsed := pyParse(t, raw...)
	for i, n := range names {
		t.Run(n, func(t *testing.T) { expectFields(t, msgs[n], parsed[i]) })
	}

	// Fields checked by value, not only against the builder's intent.
	byName := map[string][]pySegment{}
	for i, n := range names {
		byName[n] = parsed[i]
	}
	seg := func(msg, name string, k int) pySegment {
		t.Helper()
		for _, s := range byName[msg] {
			if s.Name == name {
				if k == 0 {
					return s
				}
				k--
			}
		}
		t.Fatalf("%s: no %s #%d", msg, name, k)
		return pySegment{}
	}
	msh := seg("minute", "MSH", 0)
	for _, c := range []struct {
		got, want string
	}{
		{msh.comp(3, 1), "CHAIRSIDE"}, {msh.comp(4, 1), "CLINIC"}, {msh.comp(5, 1), "EHR"},
		{msh.comp(7, 1), "20261204101559+0000"},
		{strings.Join(msh.field(9), "^"), "ORU^R01^ORU_R01"},
		{msh.comp(10, 1), "chair-07.m.s-20261204-1000-1.202612041015"},
		{msh.comp(11, 1), "P"}, {msh.comp(12, 1), "2.6"}, {msh.comp(15, 1), "NE"}, {msh.comp(16, 1), "AL"},
		{msh.comp(18, 1), "UNICODE UTF-8"}, {msh.comp(21, 1), "IHE_PCD_001"},
		{seg("minute", "PID", 0).comp(3, 1), "s-20261204-1000-1"},
		{seg("minute", "PID", 0).comp(3, 5), "PI"},
		{seg("minute", "PV1", 0).comp(3, 3), "chair-07"},
		{seg("minute", "PV1", 0).comp(19, 1), "enc-881"},
		{seg("minute", "OBR", 0).comp(4, 1), "182777000"},
		{seg("minute", "OBR", 0).comp(7, 1), "20261204101500+0000"},
		{seg("minute", "OBR", 0).comp(8, 1), "20261204101600+0000"},
		// OBX 4: SpO2 median 97 (59 valid values: 58 of 97, one 96)
		{seg("minute", "OBX", 3).comp(2, 1), "NM"},
		{seg("minute", "OBX", 3).comp(3, 1), "150456"},
		{seg("minute", "OBX", 3).comp(4, 1), "1.1.1.1"},
		{seg("minute", "OBX", 3).comp(5, 1), "97"},
		{seg("minute", "OBX", 3).comp(6, 1), "%"},
		{seg("minute", "OBX", 3).comp(11, 1), "R"},
		{seg("minute", "OBX", 3).comp(14, 1), "20261204101500+0000"},
		{seg("minute", "OBX", 3).comp(18, 1), "chair-07"},
		{seg("minute", "OBX", 4).comp(3, 1), "149530"},
		{seg("minute", "OBX", 4).comp(5, 1), "72"},
		{seg("minute", "OBX", 4).comp(6, 1), "/min"},
		{seg("minute", "OBX", 0).comp(3, 1), "69965"},
		{seg("minute", "OBX", 0).comp(11, 1), "X"},
		{seg("minute", "OBX", 0).comp(18, 1), "chair-07"},
		// A null never becomes a number: no type, no value, X.
		{seg("minute_null", "OBX", 3).comp(2, 1), ""},
		{seg("minute_null", "OBX", 3).comp(5, 1), ""},
		{seg("minute_null", "OBX", 3).comp(11, 1), "X"},
		{seg("nibp", "MSH", 0).comp(10, 1), "chair-07.n.b3f9.42"},
		{seg("nibp", "OBX", 3).comp(3, 1), "150021"},
		{seg("nibp", "OBX", 3).comp(4, 1), "1.2.1.1"},
		{seg("nibp", "OBX", 3).comp(5, 1), "128"},
		{seg("nibp", "OBX", 3).comp(6, 1), "mm[Hg]"},
		{seg("nibp", "OBX", 3).comp(14, 1), "20261204101630+0000"},
		{seg("nibp", "OBX", 4).comp(5, 1), "82"},
		{seg("nibp", "OBX", 5).comp(5, 1), "97"},
		{seg("nibp", "OBX", 6).comp(3, 1), "149546"},
		{seg("nibp", "OBX", 6).comp(5, 1), "74"},
		{seg("nibp_failed", "NTE", 0).comp(3, 1), "NIBP failed: 0x57 inflate timeout, leak or loose cuff"},
		{seg("nibp_failed", "OBX", 3).comp(5, 1), ""},
		{seg("nibp_failed", "OBX", 3).comp(11, 1), "X"},
		{seg("nibp_no_mean", "OBX", 5).comp(5, 1), ""},
		{seg("nibp_no_mean", "OBX", 5).comp(11, 1), "X"},
		{seg("nibp_no_mean", "OBX", 4).comp(5, 1), "80"},
	} {
		if c.got != c.want {
			t.Errorf("read %q, want %q", c.got, c.want)
		}
	}
}

// hostile is text holding every HL7 delimiter, the escape character, CR,
// LF, the MLLP frame bytes, a control character and non-ASCII text.
const hostile = "a|b^c~d\\e&f\rg\nh\x0bi\x1cj\x01k é ✓ \\F\\"

// Every field the builder writes from outside text is escaped: python-hl7
// reads the exact text back, the segment count is unchanged, and no frame
// byte reaches the wire.
func TestHostileTextIsEscaped(t *testing.T) {
	cfg := Config{SendingApplication: "CHAIR|SIDE^&", SendingFacility: "CLI~NIC", ReceivingApplication: `E\HR`}
	n := nibp(7, wire.Num{}, wire.Num{}, wire.Num{}, wire.Num{}, hostile)
	n.Session = "s-" + hostile
	n.Stream = "st" + hostile
	n.Flags = []string{hostile}
	m, err := NIBPMessage(cfg, "chair"+hostile, hostile, n)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	if bytes.ContainsAny(b, "\x0b\x1c\n\x01") {
		t.Fatalf("a control byte reached the message: %q", b)
	}
	if got := bytes.Count(b, []byte("\r")); got != len(m.Segments) {
		t.Fatalf("%d CRs for %d segments: a field's CR was not escaped", got, len(m.Segments))
	}
	if err := WriteFrame(&bytes.Buffer{}, b); err != nil {
		t.Fatalf("cannot frame: %v", err)
	}
	needPythonHL7(t)
	parsed := pyParse(t, b)[0]
	expectFields(t, m, parsed)
	for _, s := range parsed {
		if s.Name == "NTE" && strings.HasPrefix(s.comp(3, 1), "NIBP failed: ") {
			if got := strings.TrimPrefix(s.comp(3, 1), "NIBP failed: "); got != hostile {
				t.Errorf("the error reads back as %q, want %q", got, hostile)
			}
			return
		}
	}
	t.Error("no NTE with the failure")
}

// A failed NIBP that still carries numbers sends none of them.
func TestFailedNIBPSendsNoNumber(t *testing.T) {
	m, err := NIBPMessage(testConfig, "chair-07", "", nibp(9, wire.N(128), wire.N(82), wire.N(97), wire.N(74), "0x4A cuff overpressure"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Segments {
		if s.Name != "OBX" {
			continue
		}
		if len(s.Fields[4]) > 0 || slices.Equal(s.Fields[1], F("NM")) || !slices.Equal(s.Fields[10], F("X")) {
			t.Errorf("failed NIBP row carries a value: %v", s.Fields)
		}
	}
	for _, v := range []string{"128", "82", "97", "74"} {
		if bytes.Contains(m.Bytes(), []byte("|"+v+"|")) {
			t.Errorf("value %s of a failed measurement was sent", v)
		}
	}
}

// The same records make the same bytes (a resend is recognisable by its
// control id), and different records make different control ids.
func TestControlIDsDeterministicAndDistinct(t *testing.T) {
	a, _ := NIBPMessage(testConfig, "chair-07", "", nibp(42, wire.N(1), wire.N(1), wire.N(1), wire.N(1), ""))
	b, _ := NIBPMessage(testConfig, "chair-07", "", nibp(42, wire.N(1), wire.N(1), wire.N(1), wire.N(1), ""))
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same record made different messages")
	}
	ids := map[string]bool{
		a.ControlID:                                             true,
		NIBPControlID("chair-07", "b3f9", 43):                   true,
		NIBPControlID("chair-08", "b3f9", 42):                   true,
		MinuteControlID("chair-07", "s-1", t0):                  true,
		MinuteControlID("chair-07", "s-1", t0.Add(time.Minute)): true,
		MinuteControlID("chair-07", "s-2", t0):                  true,
	}
	if len(ids) != 6 {
		t.Fatalf("control ids collide: %v", ids)
	}
	m1, _ := MinuteMessage(testConfig, "chair-07", "", sampleMinute(t))
	m2, _ := MinuteMessage(testConfig, "chair-07", "", sampleMinute(t))
	if !bytes.Equal(m1.Bytes(), m2.Bytes()) {
		t.Fatal("the same minute made different messages")
	}
}

func TestBuilderRefusesBadInput(t *testing.T) {
	good := nibp(1, wire.N(1), wire.N(1), wire.N(1), wire.N(1), "")
	noStream := good
	noStream.Stream = ""
	noTime := good
	noTime.T = wire.Time{}
	for name, c := range map[string]struct {
		cfg   Config
		chair string
		n     wire.NIBP
		want  string
	}{
		"no sending application": {Config{}, "c", good, "sending_application is empty"},
		"control in a name":      {Config{SendingApplication: "A\nB"}, "c", good, "control character"},
		"no chair":               {testConfig, "", good, "no chair"},
		"no stream":              {testConfig, "c", noStream, "no stream"},
		"no time":                {testConfig, "c", noTime, "no time"},
		"long control id":        {testConfig, strings.Repeat("c", 200), good, "longer than 199"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NIBPMessage(c.cfg, c.chair, "", c.n)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
	if _, err := MinuteMessage(testConfig, "c", "", Minute{Start: t0}); err == nil {
		t.Error("a minute without a session was built")
	}
	if _, err := MinuteMessage(testConfig, "c", "", Minute{Session: "s"}); err == nil {
		t.Error("a minute without a start was built")
	}
}

// An NIBP outside a session has no patient group (PID, PV1) rather than an
// empty patient id.
func TestNIBPWithoutSessionHasNoPID(t *testing.T) {
	n := nibp(1, wire.N(120), wire.N(80), wire.N(90), wire.N(60), "")
	n.Session = ""
	m, err := NIBPMessage(testConfig, "chair-07", "", n)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Segments {
		if s.Name == "PID" || s.Name == "PV1" {
			t.Fatalf("%s written without a session", s.Name)
		}
	}
}

// An unsynchronised chair clock is said in an NTE.
func TestUnsyncedClockIsSaid(t *testing.T) {
	n := nibp(1, wire.N(120), wire.N(80), wire.N(90), wire.N(60), "")
	n.ClockSynced = false
	m, _ := NIBPMessage(testConfig, "chair-07", "", n)
	mi := sampleMinute(t)
	mi.ClockUnsynced = true
	m2, _ := MinuteMessage(testConfig, "chair-07", "", mi)
	for _, msg := range []Message{m, m2} {
		if !strings.Contains(msg.String(), "NTE|1||chair clock not synchronised") {
			t.Errorf("no clock note in\n%s", msg)
		}
	}
}
