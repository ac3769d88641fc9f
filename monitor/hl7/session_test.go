package hl7

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// A session's messages: one per minute with vitals and one per NIBP, in
// time order, a duplicate NIBP once, bad records named.
func TestSessionMessages(t *testing.T) {
	var vitals []wire.Vital
	for i := range 150 { // 2.5 minutes
		vitals = append(vitals, vital("spo2", uint64(i+1), time.Duration(i)*time.Second, wire.N(97)))
	}
	n1 := nibp(1000, wire.N(120), wire.N(80), wire.N(90), wire.N(60), "")
	n1.T = wire.At(t0.Add(30 * time.Second))
	n2 := nibp(1001, wire.Num{}, wire.Num{}, wire.Num{}, wire.Num{}, "0x57 inflate timeout")
	n2.T = wire.At(t0.Add(100 * time.Second))
	bad := n1
	bad.Stream = ""
	msgs, err := SessionMessages(testConfig, "chair-07", "", vitals, []wire.NIBP{n2, n1, n1, bad})
	if err == nil || !strings.Contains(err.Error(), "no stream") {
		t.Errorf("error %v does not name the bad record", err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ControlID)
	}
	want := []string{
		"chair-07.n.b3f9.1000",                      // 10:15:30
		"chair-07.m.s-20261204-1000-1.202612041015", // due 10:16
		"chair-07.n.b3f9.1001",                      // 10:16:40
		"chair-07.m.s-20261204-1000-1.202612041016", // due 10:17
		"chair-07.m.s-20261204-1000-1.202612041017", // due 10:18
	}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("messages\n%v\nwant\n%v", ids, want)
	}
}

// python-hl7's own MLLP client (mllp_send) reads a file of frames we wrote,
// sends them framed its way to our receiver, and reads the ack we frame.
func TestMLLPSendInterop(t *testing.T) {
	needPythonHL7(t)
	if _, err := os.Stat("/usr/bin/mllp_send"); err != nil {
		t.Skip("SKIPPED: /usr/bin/mllp_send not found")
	}
	r := newReceiver(t, ackFor("AA", "", ""))
	msg := testMessage(t, 77)
	file := filepath.Join(t.TempDir(), "msg.hl7")
	var framed bytes.Buffer
	if err := WriteFrame(&framed, msg.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, framed.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(r.target(), "tcp://"), ":")
	out, err := exec.Command("/usr/bin/mllp_send", "--port", port, "--file", file, host).CombinedOutput()
	if err != nil {
		t.Fatalf("mllp_send: %v\n%s", err, out)
	}
	frames, _ := r.got()
	// mllp_send strips the CR that ends the last segment (read_stream's
	// strip); the rest must be the message.
	if len(frames) != 1 || string(frames[0]) != strings.TrimSuffix(string(msg.Bytes()), "\r") {
		t.Fatalf("receiver read %q from mllp_send, want the message", frames)
	}
	if !strings.Contains(string(out), "MSA|AA|chair-07.n.b3f9.77") {
		t.Fatalf("mllp_send did not read our ack: %q", out)
	}
}
