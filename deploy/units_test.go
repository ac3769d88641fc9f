package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Most exposure systemd-analyze security --offline may give each unit
// (0 is the safest, 10 the least safe); docs/operators-guide.md records the
// measured scores. A unit that loses hardening fails here.
var maxExposure = map[string]float64{
	"chairside.service":          2.1, // needs its devices, /sys/class/gpio, the network and adjtimex
	"chairside-station.service":  1.2,
	"chairside-recorder.service": 1.2,
}

// unitFiles are the repository's units.
func unitFiles(t *testing.T) []string {
	t.Helper()
	units, err := filepath.Glob(filepath.Join(repoRoot(t), "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no units in systemd/: %v", err)
	}
	return units
}

// Every unit is what a Pi that must be trusted after a power cut needs:
// notify, watchdog, restarts with a start limit, state and config folders,
// its own user, and a system-call allow list.
func TestUnitsHaveTheirSettings(t *testing.T) {
	for _, u := range unitFiles(t) {
		text, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Restart=always", "StartLimitIntervalSec=", "StartLimitBurst=",
			"StateDirectory=", "ConfigurationDirectory=chairside", "User=chairside", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
			"ProtectSystem=strict", "SystemCallFilter=@system-service", "SystemCallArchitectures=native",
			"ExecStartPre=/usr/bin/", " -check -config /etc/chairside/"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("%s lacks %q", filepath.Base(u), strings.TrimSpace(want))
			}
		}
	}
	// The bedside daemon reaches the Pi's serial ports, GPIO and I2C, and
	// systemd knows when it is up and restarts it when its engine hangs.
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "systemd", "chairside.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify\n", "NotifyAccess=main\n", "WatchdogSec=10s\n"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("chairside.service lacks %q", strings.TrimSpace(want))
		}
	}
	for _, dev := range []string{"char-ttyS", "char-ttyAMA", "char-ttyUSB", "char-ttyACM", "char-gpiochip", "char-bcm2835-gpiomem", "char-rpi-gpiomem", "char-i2c"} {
		if !strings.Contains(string(text), "DeviceAllow="+dev+" rw\n") {
			t.Errorf("chairside.service: no DeviceAllow=%s rw", dev)
		}
	}
	if !strings.Contains(string(text), "SupplementaryGroups=dialout gpio i2c\n") {
		t.Error("chairside.service: not in dialout, gpio and i2c")
	}
	// Settings that would break the GPIO annunciator on a Pi (periph.io):
	// it reads /proc/cpuinfo and /proc/device-tree to find the board, and
	// the button's edge detection writes /sys/class/gpio.
	for _, bad := range []string{"ProcSubset=pid", "ProtectKernelTunables=yes", "PrivateDevices=yes", "ProtectClock=yes"} {
		if strings.Contains(string(text), "\n"+bad+"\n") {
			t.Errorf("chairside.service sets %s, which breaks the annunciator or the clock check", bad)
		}
	}
}

// A unit is Type=notify, with a watchdog, exactly when its program tells
// systemd READY=1 (links go-systemd's notify package): a notify unit whose
// program never says READY=1 is killed at TimeoutStartSec and restarted
// until its start limit, and a program that notifies deserves the watchdog.
// A unit whose program is not under cmd/ yet (station) is not checked.
func TestNotifyUnitsProgramsNotify(t *testing.T) {
	root := repoRoot(t)
	execStart := regexp.MustCompile(`(?m)^ExecStart=/usr/bin/([a-z0-9-]+)`)
	for _, u := range unitFiles(t) {
		text, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		m := execStart.FindStringSubmatch(string(text))
		if m == nil {
			t.Fatalf("%s: no ExecStart=/usr/bin/…", u)
		}
		notifyUnit := strings.Contains(string(text), "\nType=notify\n")
		if notifyUnit && !strings.Contains(string(text), "\nWatchdogSec=") {
			t.Errorf("%s is Type=notify without WatchdogSec=", filepath.Base(u))
		}
		if _, err := os.Stat(filepath.Join(root, "cmd", m[1])); err != nil {
			t.Logf("%s: cmd/%s is not in this tree yet", filepath.Base(u), m[1])
			continue
		}
		c := exec.Command("go", "list", "-deps", "./cmd/"+m[1])
		c.Dir = root
		out, err := c.Output()
		if err != nil {
			t.Fatalf("go list -deps ./cmd/%s: %v", m[1], err)
		}
		notifies := strings.Contains(string(out), "github.com/coreos/go-systemd/v22/daemon\n")
		switch {
		case notifyUnit && !notifies:
			t.Errorf("%s is Type=notify but cmd/%s never tells systemd READY=1 (github.com/coreos/go-systemd/v22/daemon)", filepath.Base(u), m[1])
		case !notifyUnit && notifies:
			t.Errorf("cmd/%s tells systemd READY=1: make %s Type=notify with WatchdogSec=", m[1], filepath.Base(u))
		}
	}
}

var exposureLine = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)

// TestUnitsVerifyAndExposure runs systemd-analyze verify on every unit (its
// programs replaced by a native build, or /usr/bin/true for one not built
// here) and systemd-analyze security --offline=true, whose exposure must not
// grow past maxExposure.
func TestUnitsVerifyAndExposure(t *testing.T) {
	analyze := need(t, "systemd", "systemd-analyze", "apt-get install systemd")
	bin := build(t, native(), daemonOnly)
	dir := t.TempDir()
	var copies []string
	for _, u := range unitFiles(t) {
		text, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		s := string(text)
		for _, prog := range regexp.MustCompile(`/usr/bin/([a-z0-9-]+)`).FindAllStringSubmatch(s, -1) {
			repl := filepath.Join(bin, prog[1])
			if _, err := os.Stat(repl); err != nil {
				repl = "/usr/bin/true"
			}
			s = strings.ReplaceAll(s, prog[0], repl)
		}
		c := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(c, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, copies...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, c := range copies {
		out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", c).CombinedOutput()
		m := exposureLine.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", c, err, out)
		}
		score, _ := strconv.ParseFloat(m[2], 64)
		limit, ok := maxExposure[m[1]]
		if !ok {
			t.Errorf("%s has no exposure limit in maxExposure", m[1])
			continue
		}
		t.Logf("%s: exposure %.1f (at most %.1f)", m[1], score, limit)
		if score > limit {
			t.Errorf("%s: exposure %.1f > %.1f: its hardening weakened", m[1], score, limit)
		}
	}
}
