package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// sampleStatus is a document as a daemon in trouble would send it.
func sampleStatus() statusDoc {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	by := "nurse@station"
	four := 4.0
	return statusDoc{V: statusFormat, T: wire.At(now), Chair: "chair-07", Version: "v1.2.0", PID: 42, Boot: 3,
		Started: wire.At(now.Add(-2 * time.Hour)), UptimeS: 7200,
		Engine:  engineView{Published: wire.At(now.Add(-9 * time.Second)), AgeS: 9},
		Session: sessionView{ID: "s-1", Phase: "infusion", Started: wire.At(now.Add(-time.Hour)), PhaseStarted: wire.At(now.Add(-10 * time.Minute))},
		Alarms: []wire.Alarm{
			{Condition: "spo2_low", Priority: "high", State: "acknowledged", Audio: "off", Value: wire.N(85), Limit: wire.N(88), AckedBy: &by,
				Message: "SpO2 85 < 88\x1b[2J\nforged line", Started: wire.At(now.Add(-time.Minute))},
			{Condition: "link_down", Priority: "low", State: "active", Audio: "on", Message: "MQTT link down", Started: wire.At(now.Add(-2 * time.Minute))},
		},
		Vitals: []vitalView{
			{Param: "spo2", Unit: "%", T: wire.At(now.Add(-4 * time.Second)), AgeS: &four, Flags: []string{"probe_off"}, Source: "nonin"},
			{Param: "pulse", Unit: "/min", Flags: []string{}, Source: "nonin"},
		},
		Sensors: []sensorView{{Sensor: 1, Driver: "nonin", Port: "/dev/chairside/nonin"}},
		Link:    linkView{Broker: "tcp://broker:1883", Down: true, Reason: "broker unreachable", Since: wire.At(now.Add(-2 * time.Minute))},
		Backlog: backlogView{Records: 120, StoreRecords: 120},
	}
}

// The text shows no number a sensor did not send, says when the engine is
// not stepping, the link is down or there is no store, and lets no text
// from the daemon drive the terminal or forge a line.
func TestPrintStatusTellsTroubleAndMakesNothingUp(t *testing.T) {
	var out bytes.Buffer
	printStatus(&out, sampleStatus())
	text := out.String()
	for _, want := range []string{
		"ENGINE    NOT STEPPING: its view is 9.0s old",
		"session   s-1, phase infusion for 10m0s",
		"HIGH    spo2_low  acknowledged, audio off, for 1m0s, value 85, limit 88, acknowledged by nurse@station: SpO2 85 < 88\\x1b[2J\\nforged line\n",
		"LOW     link_down",
		"spo2      --       4.0s ago [probe_off] (nonin)",
		"pulse     --       never (nonin)",
		"nibp      no result since the daemon started",
		"sensor 1  nonin on /dev/chairside/nonin: NO DATA since the daemon started",
		"link      DOWN for 2m0s: broker unreachable",
		"backlog   120 record(s) not yet delivered",
		"store     NONE",
		"clock     NOT synchronised",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q", want)
		}
	}
	if strings.Contains(text, "\x1b") || strings.Contains(text, "\nforged") {
		t.Error("daemon text reached the terminal unescaped")
	}
	if t.Failed() {
		t.Logf("text:\n%s", text)
	}
}

func TestParseStatusRefusesWhatIsNotOne(t *testing.T) {
	good, _ := json.Marshal(sampleStatus())
	if _, err := parseStatus(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{``, `[]`, `{"v":2}`, `{"v":1,"alarms":"x"}`, `HTTP/1.1 200 OK`} {
		if _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// No daemon: exit 1 and why, whether the socket is missing or stale.
func TestStatusWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.sock")
	var out, errOut bytes.Buffer
	if code := runStatus([]string{"-socket", missing}, filepath.Join(dir, "no.toml"), &out, &errOut); code != exitRuntime ||
		!strings.Contains(errOut.String(), "not running") || !strings.Contains(errOut.String(), missing) || out.Len() != 0 {
		t.Fatalf("missing socket: exit %d, %q, %q", code, out.String(), errOut.String())
	}
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	errOut.Reset()
	if code := runStatus([]string{"-socket", stale}, filepath.Join(dir, "no.toml"), &out, &errOut); code != exitRuntime ||
		!strings.Contains(errOut.String(), "left from an earlier run") {
		t.Fatalf("stale socket: exit %d, %q", code, errOut.String())
	}
	if code := runStatus([]string{"-socket"}, "", &out, &errOut); code != exitConfig {
		t.Fatalf("a flag without its value: exit %d", code)
	}
}

// FuzzParseStatus: whatever the socket sends, reading and printing it
// never panics, and printed text holds no control character but newlines.
func FuzzParseStatus(f *testing.F) {
	good, _ := json.Marshal(sampleStatus())
	f.Add(good)
	f.Add([]byte(`{"v":1,"alarms":[{"priority":"high","message":"\u001b[31m"}],"vitals":[{"param":"spo2","value":null,"age_s":-1e300}],"uptime_s":1e308}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := parseStatus(raw)
		if err != nil {
			return
		}
		var out bytes.Buffer
		printStatus(io.MultiWriter(&out), d)
		for _, r := range out.String() {
			if r < 0x20 && r != '\n' || r == 0x7f {
				t.Fatalf("control character %U in the text:\n%q", r, out.String())
			}
		}
	})
}
