package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/suntech"
	"github.com/chairside/chairside/internal/childproc"
)

// runSecond starts another chairside with the bench's config and returns
// it with its stderr's path.
func (be *bench) runSecond(name string) (*exec.Cmd, string) {
	be.t.Helper()
	logPath := filepath.Join(be.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		be.t.Fatal(err)
	}
	be.t.Cleanup(func() { _ = f.Close() })
	c := exec.Command(be.bin, "-config", be.config)
	childproc.DieWithParent(c, syscall.SIGKILL)
	c.Stderr = f
	if err := c.Start(); err != nil {
		be.t.Fatal(err)
	}
	be.t.Cleanup(func() {
		if c.ProcessState == nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	return c, logPath
}

// waitExit waits up to d for c to exit and returns its exit code.
func waitExit(t *testing.T, c *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
		return c.ProcessState.ExitCode()
	case <-time.After(d):
		_ = c.Process.Kill()
		<-done
		t.Fatalf("still running %v after its start", d)
		return -1
	}
}

// A second chairside with the same config (same store, same ports, same
// client id) stops with exit 1 and a message naming the lock and its
// holder, before it opens a port or the broker; the first runs on with
// the right numbers. A SIGTERM while a second one waits for the lock
// starts nothing either.
func TestHILSecondDaemonRefused(t *testing.T) {
	_, rec, be := hilRig(t)
	be.start()
	be.waitLog(20*time.Second, "the first daemon running", "chairside running", "serial port opened")

	second, secondLog := be.runSecond("second")
	code := waitExit(t, second, 15*time.Second)
	log, _ := os.ReadFile(secondLog)
	if code != 1 {
		t.Fatalf("second chairside: exit %d, want 1; its log:\n%s", code, log)
	}
	lockPath := filepath.Join(be.dir, "store", LockFileName)
	for _, want := range []string{lockPath, fmt.Sprintf("pid %d", be.proc.Process.Pid)} {
		if !strings.Contains(string(log), want) {
			t.Errorf("second chairside's log lacks %q:\n%s", want, log)
		}
	}
	for _, never := range []string{"serial port opened", "mqtt", "store unavailable"} {
		if strings.Contains(string(log), never) {
			t.Errorf("second chairside got as far as %q:\n%s", never, log)
		}
	}

	// Stopped while it waits for the lock: exit 0, nothing opened.
	third, thirdLog := be.runSecond("third")
	time.Sleep(lockWait / 3)
	_ = third.Process.Signal(syscall.SIGTERM)
	code = waitExit(t, third, 10*time.Second)
	log, _ = os.ReadFile(thirdLog)
	if code != 0 || !strings.Contains(string(log), "stopped while waiting for the lock") {
		t.Errorf("SIGTERM during the lock wait: exit %d, want 0 and the reason; its log:\n%s", code, log)
	}
	if strings.Contains(string(log), "serial port opened") || strings.Contains(string(log), "mqtt") {
		t.Errorf("SIGTERM during the lock wait: it opened something:\n%s", log)
	}

	// The first one still reads whole frames and its client id was never
	// taken over: no reconnect.
	from := rec.count()
	rec.waitForFrom(t, from, "SpO2 97 after the others", "/vitals/spo2", 10*time.Second, func(v map[string]any) bool { return num(v["value"]) == 97 })
	if strings.Count(be.log(), "mqtt connected") > 1 {
		t.Errorf("the first daemon reconnected: its client id was taken over\n%s", be.log())
	}
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("first chairside: exit %d", code)
	}
}

// SIGHUP (the ssh session closed, a "reload") stops the daemon as cleanly
// as SIGTERM: exit 0, the state published offline, "stopped" in its log.
func TestHILSIGHUPStopsCleanly(t *testing.T) {
	_, rec, be := hilRig(t)
	be.start()
	rec.waitFor(t, "state online", "/state", 20*time.Second, func(v map[string]any) bool { return v["online"] == true })
	from := rec.count()
	code, took := be.stop(syscall.SIGHUP)
	if code != 0 || took > 5*time.Second {
		t.Fatalf("SIGHUP: exit %d after %v, want 0 within 5 s", code, took)
	}
	be.waitLog(time.Second, "a clean stop", `"msg":"stopping"`, `"msg":"stopped"`)
	rec.waitForFrom(t, from, "state offline", "/state", 5*time.Second, func(v map[string]any) bool { return v["online"] == false })
}

// SIGTERM during a cuff measurement aborts it (the module gets the abort
// command and deflates) before the daemon exits: a patient is never left
// with an inflated cuff by a stop.
func TestHILSIGTERMAbortsTheMeasurement(t *testing.T) {
	_, rec, be := hilRig(t)
	be.cuff.Set(suntech.Measurement{Sys: 118, Dia: 76, Map: 90, HR: 72, Duration: time.Minute})
	be.start()
	rec.waitFor(t, "auto-started session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	deadline := time.Now().Add(15 * time.Second)
	for !be.cuff.Measuring() {
		if time.Now().After(deadline) {
			t.Fatal("the baseline measurement did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, took := be.stop(syscall.SIGTERM); code != 0 || took > 5*time.Second {
		t.Fatalf("SIGTERM: exit %d after %v", code, took)
	}
	if !slices.Contains(be.cuff.Received(), "abort") || be.cuff.Measuring() {
		t.Fatalf("the measurement was not aborted; the module received %v", be.cuff.Received())
	}
}

// The daemon's annunciator_fault wiring, end to end: configured GPIO pins
// that cannot be opened (this machine has no Raspberry Pi GPIO) raise a high
// annunciator_fault at start; after the config is fixed (kind = "none") a
// restart ends it instead of restoring it as present for ever.
func TestHILAnnunciatorFaultRaisedThenEndedByAFixedConfig(t *testing.T) {
	for _, dev := range []string{"/dev/gpiochip0", "/dev/gpiomem"} {
		if _, err := os.Stat(dev); err == nil {
			t.Skipf("%s exists: the pins may open here", dev)
		}
	}
	b, rec, be := hilRig(t)
	fixed := be.config
	be.config = be.write("gpio.toml", strings.Replace(chairConfig("chair-07", "hil.toml", fmt.Sprintf("broker = %q\nkeepalive = \"2s\"\n", b.url()), be.dir),
		`kind = "none"`, "kind = \"gpio\"\nbuzzer = \"GPIO18\"\nred_led = \"GPIO23\"", 1))
	be.start()
	fault := rec.waitFor(t, "annunciator_fault", "/alarm", 20*time.Second, func(v map[string]any) bool {
		return v["condition"] == "annunciator_fault" && v["phase"] == "start"
	})
	if fault["priority"] != "high" || fault["kind"] != "technical" || !strings.Contains(fault["message"].(string), "GPIO18") {
		t.Fatalf("annunciator_fault: %v", fault)
	}
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	from := rec.count()
	be.config = fixed
	be.start()
	rec.waitForFrom(t, from, "annunciator_fault ended after the fix", "/alarm", 20*time.Second, func(v map[string]any) bool {
		return v["condition"] == "annunciator_fault" && v["phase"] == "end"
	})
}
