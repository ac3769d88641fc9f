package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodScenario = `name = "ok"
[start]
spo2 = 97
pulse = 70
bp = { systolic = 120, diastolic = 80 }
`

// runNow runs vitalsim with a context that is already done, so a good
// command line starts, stops at once and exits 0.
func runNow(args ...string) (code int, stdout, stderr string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb syncBuffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestFlagErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	sc := writeScenario(t, dir, goodScenario)
	pty := "pty:" + filepath.Join(dir, "x")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"nothing", nil, []string{
			"vitalsim: -scenario FILE is required",
			"vitalsim: no device to emulate: give at least one of -nonin, -cms50, -suntech",
		}},
		{"unknown flag", []string{"-scenario", sc, "-masimo", pty}, []string{
			"flag provided but not defined: -masimo", "usage: vitalsim -scenario FILE", "vitalsim: bad flags (see -h)",
		}},
		{"positional", []string{"-scenario", sc, "-nonin", pty, "extra"}, []string{`vitalsim: unexpected arguments ["extra"]`}},
		{"bad DEV", []string{"-scenario", sc, "-nonin", "/dev/ttyUSB0", "-suntech", "pty:"}, []string{
			`vitalsim: -nonin "/dev/ttyUSB0": want pty:PATH (a pseudo-terminal linked at PATH) or serial:DEVICE (a real port)`,
			`vitalsim: -suntech "pty:": the path after "pty:" is empty`,
		}},
		{"same path", []string{"-scenario", sc, "-nonin", pty, "-cms50", pty}, []string{"vitalsim: -nonin and -cms50 both use"}},
		{"format", []string{"-scenario", sc, "-nonin", pty, "-nonin-format", "5"}, []string{"vitalsim: -nonin-format 5: want 2, 7 or 8"}},
		{"format alone", []string{"-scenario", sc, "-suntech", pty, "-nonin-format", "7"}, []string{"vitalsim: -nonin-format needs -nonin"}},
		{"protocol", []string{"-scenario", sc, "-cms50", pty, "-cms50-protocol", "cms50"}, []string{`vitalsim: -cms50-protocol "cms50": want live9 or legacy`}},
		{"protocol alone", []string{"-scenario", sc, "-nonin", pty, "-cms50-protocol", "legacy"}, []string{"vitalsim: -cms50-protocol needs -cms50"}},
		{"speed", []string{"-scenario", sc, "-nonin", pty, "-speed", "0"}, []string{"vitalsim: -speed 0: want a number above 0 and at most 1000"}},
		{"speed NaN", []string{"-scenario", sc, "-nonin", pty, "-speed", "NaN"}, []string{"vitalsim: -speed NaN"}},
		{"speed huge", []string{"-scenario", sc, "-nonin", pty, "-speed", "1e6"}, []string{"vitalsim: -speed 1e+06"}},
		{"speed word", []string{"-scenario", sc, "-nonin", pty, "-speed", "fast"}, []string{`invalid value "fast" for flag -speed`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runNow(tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	if code, out, _ := runNow("-version"); code != exitOK || !strings.HasPrefix(out, "vitalsim ") {
		t.Errorf("-version: %d %q", code, out)
	}
	if code, _, stderr := runNow("-h"); code != exitOK || !strings.Contains(stderr, "-cms50-protocol") {
		t.Errorf("-h: %d %q", code, stderr)
	}
}

// A bad scenario: every problem, with file and key, then the count; exit 2.
func TestBadScenarioExit2WithEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := writeScenario(t, dir, `name = "bad"
[start]
spo2 = 120
pulse = 70
bp = { systolic = 120, diastolic = 80 }
[[at]]
t = "5m"
spo2 = { to = 85, over = "soon" }
[[at]]
t = "1m"
unplug = "cms50"
colour = "blue"
`)
	code, _, stderr := runNow("-scenario", path, "-nonin", "pty:"+filepath.Join(dir, "n"))
	if code != exitUsage {
		t.Errorf("exit %d, want 2", code)
	}
	for _, w := range []string{
		path + ": start.spo2: 120 is outside 1..100 %",
		path + `: at[1].spo2.over: "soon" is not a duration`,
		path + ": at[2].t: 1m0s is before the previous entry's 5m0s",
		path + ": at[2].colour: unknown key",
		path + ": 4 error(s)",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if code, _, stderr := runNow("-scenario", filepath.Join(dir, "none.toml"), "-nonin", "pty:"+filepath.Join(dir, "n")); code != exitUsage ||
		!strings.Contains(stderr, "none.toml: cannot read: no such file or directory") {
		t.Errorf("missing scenario: %d %s", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(dir, "n")); err == nil {
		t.Error("a link was made for a bad scenario")
	}
}

// Opening a line fails at run time: exit 1, and no link is left behind.
func TestLineFailuresExit1(t *testing.T) {
	dir := t.TempDir()
	sc := writeScenario(t, dir, goodScenario)
	file := filepath.Join(dir, "regular")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dev, want string
	}{
		{"no such port", "serial:" + filepath.Join(dir, "ttyUSB9"), "open serial port"},
		{"no such directory", "pty:" + filepath.Join(dir, "missing", "nonin"), "does not exist"},
		{"not a symlink", "pty:" + file, "exists and is not a symlink; not replacing it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok := filepath.Join(dir, "ok-"+strings.ReplaceAll(tc.name, " ", "-"))
			code, _, stderr := runNow("-scenario", sc, "-suntech", "pty:"+ok, "-nonin", tc.dev)
			if code != exitRuntime || !hasLog(stderr, `"level":"ERROR"`, `"msg":"cannot open the line"`, tc.want) {
				t.Errorf("exit %d:\n%s", code, stderr)
			}
			if linkExists(ok) {
				t.Error("the suntech link was left behind")
			}
		})
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Error("the regular file was touched")
	}
}

// Warnings are printed and the run goes on; SIGTERM (ctx) ends it with 0
// and removes the links, well within 5 s.
func TestWarningsAndCleanStop(t *testing.T) {
	dir := t.TempDir()
	sc := writeScenario(t, dir, goodScenario+"[[at]]\nt = \"1m\"\nnibp_error = 0x42\n")
	links := []string{filepath.Join(dir, "nonin"), filepath.Join(dir, "cms50"), filepath.Join(dir, "suntech")}
	r := startRun(t, "-scenario", sc, "-nonin", "pty:"+links[0], "-nonin-format", "8", "-cms50", "pty:"+links[1],
		"-cms50-protocol", "legacy", "-suntech", "pty:"+links[2])
	waitFor(t, "the links", func() bool { return linkExists(links[0]) && linkExists(links[1]) && linkExists(links[2]) })
	began := time.Now()
	r.stop()
	if d := time.Since(began); d > time.Second {
		t.Errorf("stop took %v", d)
	}
	for _, l := range links {
		if linkExists(l) {
			t.Errorf("%s left behind", l)
		}
	}
	if !strings.Contains(r.stderr.String(), "warning: at[1].nibp_error: 0x42 is not a code the module documents") {
		t.Errorf("no warning:\n%s", r.stderr.String())
	}
}
