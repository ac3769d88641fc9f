package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/nonin"
)

// statusOf runs the real `chairside status` against the bench's daemon:
// its exit code, stdout and stderr.
func statusOf(t *testing.T, be *bench, args ...string) (int, string, string) {
	t.Helper()
	c := exec.Command(be.bin, append([]string{"-config", be.config, "status"}, args...)...)
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("chairside status: %v", err)
	return 0, "", ""
}

// waitStatusJSON runs `chairside status -json` until ok accepts the document.
func waitStatusJSON(t *testing.T, be *bench, what string, ok func(statusDoc) bool) statusDoc {
	t.Helper()
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		code, out, errOut := statusOf(t, be, "-json")
		if code != 0 {
			last = errOut
			continue
		}
		var d statusDoc
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("chairside status -json: %v\n%s", err, out)
		}
		if ok(d) {
			return d
		}
		last = out
	}
	t.Fatalf("timed out waiting for %s; last status: %s", what, last)
	return statusDoc{}
}

// The real daemon answers `chairside status` during a session, from the
// config's [status] socket: the session and phase the broker's subscribers
// see, the oximeter's values with their age, the NIBP result, the alarm
// when it comes, the link, the store and the clock as the kernel says. When
// it stops, the socket is gone, and `chairside status` says the daemon is
// not running (exit 1) and what the store last saved.
func TestHILStatusDuringSession(t *testing.T) {
	b, rec, be := hilRig(t)
	sock := filepath.Join(be.dir, "status.sock")
	be.config = be.write("chairside.toml", chairConfig("chair-07", "hil.toml", "broker = \""+b.url()+"\"\nkeepalive = \"2s\"", be.dir)+
		"[status]\nsocket = \"status.sock\"\n")
	be.start()
	sess := rec.waitFor(t, "auto-started session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	rec.waitFor(t, "baseline NIBP", "/vitals/nibp", 20*time.Second, func(v map[string]any) bool { return num(v["systolic"]) == 118 })

	d := waitStatusJSON(t, be, "the session with values", func(d statusDoc) bool {
		return d.Session.ID == sess["id"] && vital(d, "spo2").Value.V == 97 && d.NIBP.Last != nil && d.Link.Connected
	})
	synced, err := clockSynced()
	if err != nil {
		t.Fatal(err)
	}
	spo2, pulse := vital(d, "spo2"), vital(d, "pulse")
	switch {
	case d.Chair != "chair-07" || d.Boot != 1 || d.Session.Phase != "baseline" || d.UptimeS <= 0 || d.Engine.AgeS > 2:
		t.Errorf("identity: %+v %+v uptime %v engine %+v", d.Session, d.Boot, d.UptimeS, d.Engine)
	case spo2.AgeS == nil || *spo2.AgeS > 3 || pulse.Value.V != 72 || spo2.Source != "nonin":
		t.Errorf("vitals: %+v %+v", spo2, pulse)
	case d.NIBP.Last.Systolic.V != 118 || d.NIBP.Last.Diastolic.V != 76 || d.NIBP.AgeS == nil:
		t.Errorf("nibp: %+v", d.NIBP)
	case len(d.Sensors) != 2 || d.Sensors[0].Driver != "nonin" || d.Sensors[0].AgeS == nil || *d.Sensors[0].AgeS > 3 || d.Sensors[0].Frames == 0 ||
		d.Sensors[1].Driver != "suntech" || d.Sensors[1].AgeS == nil:
		t.Errorf("sensors: %+v", d.Sensors)
	case d.Store == nil || d.Store.FileSize == 0 || d.Store.Dir != filepath.Join(be.dir, "store"):
		t.Errorf("store: %+v", d.Store)
	case d.Clock.Synced != synced:
		t.Errorf("clock: status says synced %v, the kernel %v", d.Clock.Synced, synced)
	case d.Link.Down || d.Link.Broker == "":
		t.Errorf("link: %+v", d.Link)
	}

	// Desaturation: the high alarm, first in the text.
	be.oxi.Set(nonin.Steady(85, 72))
	rec.waitFor(t, "spo2_low high", "/alarm", 15*time.Second, func(v map[string]any) bool {
		return v["condition"] == "spo2_low" && v["phase"] == "start" && v["priority"] == "high"
	})
	waitStatusJSON(t, be, "spo2_low in the status", func(d statusDoc) bool {
		return len(d.Alarms) > 0 && d.Alarms[0].Condition == "spo2_low" && d.Alarms[0].Priority == "high"
	})
	code, out, errOut := statusOf(t, be)
	if code != 0 {
		t.Fatalf("chairside status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"chairside chair-07: version ", "session   " + sess["id"].(string) + ", phase baseline", "alarms    ", "HIGH    spo2_low  active",
		"spo2      85 %", "pulse     72 /min", "nibp      118/76 (90) mm[Hg]", "sensor 1  nonin on ", "sensor 2  suntech on ", "link      up, broker tcp://",
		"backlog   ", "store     " + filepath.Join(be.dir, "store"), "clock     "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	t.Logf("chairside status:\n%s", out)

	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket outlived the daemon: %v", err)
	}
	code, out, errOut = statusOf(t, be)
	if code != 1 || out != "" || !strings.Contains(errOut, "not running") ||
		!strings.Contains(errOut, "session   "+sess["id"].(string)+", phase baseline") || !strings.Contains(errOut, "spo2_low") {
		t.Fatalf("after the daemon stopped: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
}
