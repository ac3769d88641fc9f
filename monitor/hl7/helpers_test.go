package hl7

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/wire"
)

// systemPython is Debian's python, which sees python3-hl7 (a pyenv python3
// on PATH may not).
const systemPython = "/usr/bin/python3"

// needPythonHL7 skips the test, loudly, unless Debian's python3-hl7 is
// installed, or fails it when CHAIRSIDE_REQUIRE names python3-hl7.
func needPythonHL7(t *testing.T) {
	t.Helper()
	err := exec.Command(systemPython, "-c", "import hl7").Run()
	if err == nil {
		return
	}
	msg := "SKIPPED the independent HL7 parser: " + systemPython + " cannot import hl7 (apt-get install python3-hl7): " + err.Error()
	if brokertest.Required("python3-hl7") {
		t.Fatal("CHAIRSIDE_REQUIRE=python3-hl7 but " + msg)
	}
	t.Skip(msg)
}

type pySegment struct {
	Name   string     `json:"name"`
	Fields [][]string `json:"fields"`
}

// pyParse parses messages with python-hl7 and gives their segments.
func pyParse(t *testing.T, msgs ...[]byte) [][]pySegment {
	t.Helper()
	var out [][]pySegment
	runPy(t, msgs, &out)
	return out
}

func runPy(t *testing.T, msgs [][]byte, out any, args ...string) {
	t.Helper()
	in := make([]string, len(msgs))
	for i, m := range msgs {
		in[i] = string(m)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(systemPython, append([]string{"testdata/hl7parse.py"}, args...)...)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python-hl7: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("python-hl7 output: %v\n%s", err, res)
	}
}

// fieldOf gives field n (1-based, HL7 numbering) of a parsed segment, or nil.
func (s pySegment) field(n int) []string {
	if n-1 < len(s.Fields) {
		return s.Fields[n-1]
	}
	return nil
}

func (s pySegment) comp(n, c int) string {
	f := s.field(n)
	if c-1 < len(f) {
		return f[c-1]
	}
	return ""
}

var testConfig = Config{
	SendingApplication:   "CHAIRSIDE",
	SendingFacility:      "CLINIC",
	ReceivingApplication: "EHR",
	ReceivingFacility:    "CLINIC",
}

var t0 = time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)

func vital(param string, seq uint64, at time.Duration, v wire.Num, flags ...string) wire.Vital {
	if flags == nil {
		flags = []string{}
	}
	unit := "%"
	if param == "pulse" {
		unit = "/min"
	}
	return wire.Vital{
		Record: wire.Record{V: 1, Stream: "b3f9", Seq: seq, Boot: 1, ClockSynced: true},
		T:      wire.At(t0.Add(at)), Session: "s-20261204-1000-1", Param: param, Value: v,
		Unit: unit, Source: "nonin", Flags: flags,
	}
}

func nibp(seq uint64, sys, dia, mean, pulse wire.Num, errText string) wire.NIBP {
	return wire.NIBP{
		Record: wire.Record{V: 1, Stream: "b3f9", Seq: seq, Boot: 1, ClockSynced: true},
		T:      wire.At(t0.Add(90 * time.Second)), Session: "s-20261204-1000-1", Param: "nibp",
		Systolic: sys, Diastolic: dia, Mean: mean, Pulse: pulse, Unit: "mm[Hg]", Source: "suntech",
		Request: "n-1-3", Error: errText, Flags: []string{},
	}
}

func readGolden(t *testing.T, path string, got []byte, update bool) []byte {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./monitor/hl7 -update to write it)", err)
	}
	return want
}

func wireN(v float64) wire.Num { return wire.N(v) }
