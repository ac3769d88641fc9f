package hl7

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParseAck(t *testing.T) {
	for name, c := range map[string]struct {
		in   string
		want Ack
	}{
		"AA":               {"MSH|^~\\&|EHR|CLINIC|CHAIRSIDE|CLINIC|20261204101600||ACK^R01|A1|P|2.6\rMSA|AA|c.n.b.1\r", Ack{Code: "AA", ControlID: "c.n.b.1"}},
		"AE text":          {"MSH|^~\\&|EHR\rMSA|AE|c.n.b.1|unknown patient\r", Ack{Code: "AE", ControlID: "c.n.b.1", Reason: "unknown patient"}},
		"AR ERR-8":         {"MSH|^~\\&|EHR\rMSA|AR|x\rERR||PID^1^3|204^Unknown key identifier^HL70357|E||||no such session\r", Ack{Code: "AR", ControlID: "x", Reason: "no such session"}},
		"ERR-3":            {"MSH|^~\\&|EHR\rMSA|AE|x\rERR|||207^Application internal error^HL70357|E\r", Ack{Code: "AE", ControlID: "x", Reason: "207 Application internal error HL70357"}},
		"ERR-1 old":        {"MSH|^~\\&|EHR\rMSA|AE|x\rERR|PID^1^3^103&Table value not found\r", Ack{Code: "AE", ControlID: "x", Reason: "PID 1 3 103 Table value not found"}},
		"both":             {"MSH|^~\\&|EHR\rMSA|AE|x|db down\rERR||||E||||retry later\r", Ack{Code: "AE", ControlID: "x", Reason: "db down; retry later"}},
		"escaped":          {"MSH|^~\\&|EHR\rMSA|AE|a\\F\\b|bad \\T\\ worse\\X0D\\line\r", Ack{Code: "AE", ControlID: "a|b", Reason: "bad & worse line"}},
		"LF ends":          {"MSH|^~\\&|EHR\nMSA|CA|x\n", Ack{Code: "CA", ControlID: "x"}},
		"other delimiters": {"MSH#$%@*#EHR\rMSA#CE#a|b#say@F@x\r", Ack{Code: "CE", ControlID: "a|b", Reason: "say|x"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseAck([]byte(c.in))
			if err != nil || got != c.want {
				t.Fatalf("ParseAck = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestParseAckRefuses(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"empty":        {"", "MSH"},
		"no MSH":       {"MSA|AA|x\r", "MSH"},
		"short MSH":    {"MSH|^~", "too short"},
		"bad delims":   {"MSH|^^\\&\rMSA|AA|x", "used twice"},
		"letter delim": {"MSHA^~\\&\rMSA|AA|x", "punctuation"},
		"no MSA":       {"MSH|^~\\&|E\r", "no MSA"},
		"two MSA":      {"MSH|^~\\&|E\rMSA|AA|x\rMSA|AE|x\r", "more than one"},
		"empty code":   {"MSH|^~\\&|E\rMSA||x\r", "MSA-1"},
		"bad code":     {"MSH|^~\\&|E\rMSA|OK|x\r", "not AA"},
		"no id":        {"MSH|^~\\&|E\rMSA|AA\r", "MSA-2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAck([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

// python-hl7's own acknowledgements of our messages parse, with our
// control id.
func TestParseAckFromPythonHL7(t *testing.T) {
	needPythonHL7(t)
	m, err := NIBPMessage(testConfig, "chair-07", "", nibp(5, wireN(120), wireN(80), wireN(90), wireN(60), ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"AA", "AE", "AR", "CA", "CE", "CR"} {
		var acks []string
		runPy(t, [][]byte{m.Bytes()}, &acks, "ack", code)
		got, err := ParseAck([]byte(acks[0]))
		if err != nil || got.Code != code || got.ControlID != m.ControlID {
			t.Errorf("python-hl7 %s ack %q: %+v, %v", code, acks[0], got, err)
		}
	}
}

// FuzzParseAck: any bytes give an Ack or an error, never a panic; an Ack
// has a known code, a control id, and a reason safe to log.
func FuzzParseAck(f *testing.F) {
	for _, s := range []string{
		"MSH|^~\\&|E\rMSA|AA|x\r",
		"MSH|^~\\&|E\rMSA|AE|x|why\rERR||||E||||more\r",
		"MSH#$%@*#E\rMSA#CE#a|b#say@F@x\r",
		"MSH|^~\\&\nMSA|AR|\\X0D0A\\|\\.br\\",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := ParseAck(in)
		if err != nil {
			return
		}
		if !a.Accepted() && !a.Errored() && !a.Rejected() {
			t.Fatalf("code %q accepted", a.Code)
		}
		if a.ControlID == "" {
			t.Fatal("empty control id accepted")
		}
		if !utf8.ValidString(a.Reason) || strings.IndexFunc(a.Reason, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			t.Fatalf("reason %q is not safe to log", a.Reason)
		}
		if utf8.RuneCountInString(a.Reason) > maxReason+1 {
			t.Fatalf("reason of %d runes", utf8.RuneCountInString(a.Reason))
		}
	})
}
