package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Raspberry Pi builds and the qemu-user CPU each runs on: a Pi 3's
// Cortex-A53 for arm64, a Pi 2's Cortex-A7 for armhf (ARMv7), and a Pi Zero
// or Pi 1's ARM1176 for armel (ARMv6), so that an instruction newer than
// the board fails here.
var piTargets = []struct {
	target
	cpu string
}{
	{target{name: "arm64", goarch: "arm64", qemu: "qemu-aarch64"}, "cortex-a53"},
	{target{name: "armhf", goarch: "arm", goarm: "7", qemu: "qemu-arm"}, "cortex-a7"},
	{target{name: "armel", goarch: "arm", goarm: "6", qemu: "qemu-arm"}, "arm1176"},
}

// qemuUser finds qemu-user for name (Debian's qemu-user-static or
// qemu-user), skipping or failing (CHAIRSIDE_REQUIRE=qemu) without it.
func qemuUser(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name + "-static"); err == nil {
		return p
	}
	return need(t, "qemu", name, "apt-get install qemu-user-static")
}

// TestArmUnderQEMU runs each Pi build under qemu-user: every program's
// -version, -check on its shipped config, and the short real run (vitalsim on a pty, the
// embedded broker, an SpO2 alarm end to end, SIGTERM), so a broken arm
// build fails CI. It logs each binary's size.
func TestArmUnderQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("runs arm builds under emulation")
	}
	root := repoRoot(t)
	for _, pt := range piTargets {
		t.Run(pt.name, func(t *testing.T) {
			start := time.Now()
			wrap := []string{qemuUser(t, pt.qemu), "-cpu", pt.cpu}
			bin := build(t, pt.target, programs(t))
			for _, prog := range programs(t) {
				st, err := os.Stat(filepath.Join(bin, prog))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s %s: %d bytes (%.1f MiB)", pt.name, prog, st.Size(), float64(st.Size())/(1<<20))
				out, err := command(wrap, filepath.Join(bin, prog), "-version").CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != prog+" v0.0.0-deploytest" {
					t.Fatalf("%s -version under %s: %v: %q", prog, pt.qemu, err, out)
				}
				// The shipped config of each program that has one
				// (configs/chairside.toml, station.toml, recorder.toml).
				cfg := filepath.Join(root, "configs", prog+".toml")
				if _, err := os.Stat(cfg); err != nil {
					continue
				}
				out, err = command(wrap, filepath.Join(bin, prog), "-check", "-config", cfg).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "OK") {
					t.Fatalf("%s -check on the shipped %s: %v\n%s", prog, cfg, err, out)
				}
			}
			r := runScenario(t, bin, wrap, wrap, noAnnunciator)
			if r.alarm["value"] != float64(84) || r.alarm["priority"] != "high" {
				t.Fatalf("alarm %v", r.alarm)
			}
			t.Logf("%s: version, check and the run in %v", pt.name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}
