package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestDemoRunsEveryPart is `make demo` for 25 s: the embedded broker,
// vitalsim and chairside for three chairs, and the view, which must show
// every chair in a session with readings and a blood pressure; then it all
// stops and nothing is left running.
func TestDemoRunsEveryPart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every part for 25 s")
	}
	bin := t.TempDir()
	for _, name := range []string{"chairside", "vitalsim", "recorder", "station"} {
		if out, err := exec.Command("go", "build", "-o", bin, "../"+name).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-bin", bin, "-configs", "../../configs", "-listen", "127.0.0.1:0",
		"-station", "127.0.0.1:0", "-terminal", "-speed", "20", "-for", "25s", "-dir", t.TempDir()}, &out, &errs)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	for _, c := range chairs {
		row := regexp.MustCompile(c.id + `\s+baseline\s+\S+\s+SpO2 9\d\s+pulse \d+\s+NIBP \d+/\d+`)
		if !row.MatchString(out.String()) {
			t.Errorf("no row for %s in baseline with SpO2, pulse and NIBP:\n%s", c.id, out.String())
		}
	}
	if ps, _ := exec.Command("pgrep", "-f", bin).Output(); len(bytes.TrimSpace(ps)) > 0 {
		t.Fatalf("parts still running after the demo returned: pids %s", ps)
	}
	// The recorder archived the sessions, and the export it prints works.
	m := regexp.MustCompile(`\n  (\S+/recorder) export -config (\S+) -session (s-\S+) -chair (\S+) -format fhir\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no export line:\n%s", out.String())
	}
	for _, c := range chairs {
		if !regexp.MustCompile(`  ` + c.id + `  session s-\S+  \d+ records`).MatchString(out.String()) {
			t.Errorf("no archived session of %s:\n%s", c.id, out.String())
		}
	}
	bundle, err := exec.Command(m[1], "export", "-config", m[2], "-session", m[3], "-chair", m[4], "-format", "fhir").Output()
	if err != nil || !bytes.Contains(bundle, []byte(`"resourceType": "Bundle"`)) || !bytes.Contains(bundle, []byte(`"code": "59408-5"`)) {
		t.Fatalf("the printed export does not give a bundle with SpO2: %v\n%.500s", err, bundle)
	}
}

func TestDemoProtocolRunsTheScheduleFaster(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.toml")
	if err := writeDemoProtocol("../../configs/ketamine-iv.toml", out, 10); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Name           string `toml:"name"`
		AutoStartAfter string `toml:"auto_start_after"`
		MinNIBPGap     string `toml:"min_nibp_gap"`
		Phase          map[string]map[string]any
		Alarm          map[string]any
		Limit          []map[string]any
	}
	if _, err := toml.DecodeFile(out, &p); err != nil {
		t.Fatal(err)
	}
	got := []string{p.Name, p.AutoStartAfter, p.MinNIBPGap, p.Phase["baseline"]["nibp_every"].(string),
		p.Phase["infusion"]["duration"].(string), p.Phase["observation"]["repeat_nibp_after_alarm"].(string),
		p.Alarm["escalate_after"].(string)}
	want := []string{"ketamine-iv-demo-x10", "3s", "10s", "30s", "4m0s", "12s", "2m"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("demo protocol %v, want %v", got, want)
	}
	if len(p.Limit) != 13 || p.Limit[0]["delay"] != "10s" {
		t.Fatalf("limits must be the shipped ones, delays unchanged: %v", p.Limit)
	}
	// chairside itself accepts it.
	cfg := filepath.Join(filepath.Dir(out), "chairside.toml")
	os.WriteFile(cfg, []byte("chair = \"c\"\nprotocol = \"p.toml\"\n[mqtt]\nbroker = \"tcp://127.0.0.1:1\"\n[store]\ndir = \"s\"\n[[sensor]]\ndriver = \"nonin\"\nport = \"n\"\n[annunciator]\nkind = \"none\"\n"), 0o600)
	if b, err := exec.Command("go", "run", "../chairside", "-check", "-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("chairside -check refuses the demo protocol: %v\n%s", err, b)
	}
}

// TestDemoPartsDieWithIt: `demo | head` closes the demo's stdout; the demo
// must then stop its parts and exit, and a demo killed outright (SIGKILL,
// no chance to clean up) must leave no chairside or vitalsim running either.
func TestDemoPartsDieWithIt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every part")
	}
	bin := t.TempDir()
	for _, name := range []string{"chairside", "vitalsim", "station", "demo"} {
		if out, err := exec.Command("go", "build", "-o", bin, "../"+name).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	running := func() string {
		ps, _ := exec.Command("pgrep", "-f", bin+"/(chairside|vitalsim|station)").Output()
		return string(bytes.TrimSpace(ps))
	}
	gone := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(3 * stopWait); running() != ""; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: parts still running: pids %s", what, running())
			}
		}
	}
	for _, how := range []string{"stdout closed", "killed"} {
		cmd := exec.Command(filepath.Join(bin, "demo"), "-bin", bin, "-configs", "../../configs", "-listen", "127.0.0.1:0",
			"-station", "127.0.0.1:0", "-speed", "20", "-dir", t.TempDir())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		for range 3 { // the banner: every part has started
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatalf("%s: %v", how, err)
			}
		}
		if running() == "" {
			t.Fatalf("%s: no part running", how)
		}
		if how == "killed" {
			_ = cmd.Process.Kill()
		}
		out.Close() // like head: the reader goes away
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%s: the demo did not exit", how)
		}
		gone(how)
	}
}
