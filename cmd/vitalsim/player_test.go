package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/sim"
	"github.com/chairside/chairside/monitor/tomlcheck"
)

// recModel records what the player asks of a model.
type recModel struct {
	calls []string
	last  sim.State
}

func (m *recModel) apply(s sim.State)         { m.last = s }
func (m *recModel) garbage(n int)             { m.calls = append(m.calls, fmt.Sprintf("garbage %d", n)) }
func (m *recModel) nibpError(c uint8)         { m.calls = append(m.calls, fmt.Sprintf("nibp_error 0x%02X", c)) }
func (m *recModel) run(context.Context) error { return nil }

func loadText(t *testing.T, text string) *sim.Scenario {
	t.Helper()
	var ps tomlcheck.Problems
	sc := sim.Parse("p.toml", text, &ps)
	if sc == nil {
		t.Fatal(ps.Err())
	}
	return sc
}

// The player, stepped by hand: no clock, no sleeping.
func TestPlayerStepsTheScenario(t *testing.T) {
	sc := loadText(t, goodScenario+`
[[at]]
t = "0s"
nibp_error = 0x57
[[at]]
t = "1m"
spo2 = { to = 87, over = "1m" }
garbage = { device = "nonin", bytes = 20 }
[[at]]
t = "1m"
garbage = { device = "cms50", bytes = 30 }   # cms50 is not emulated here
[[at]]
t = "2m"
unplug = "nonin"
[[at]]
t = "3m"
replug = "nonin"
nibp_error = 0x01
`)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	oxi, cuff := &recModel{}, &recModel{}
	nl := newFakeLine(false)
	if err := nl.start(); err != nil {
		t.Fatal(err)
	}
	devs := []*device{
		{kind: sim.Nonin, line: nl.line, model: oxi},
		{kind: sim.SunTech, line: newFakeLine(false).line, model: cuff},
	}
	p := newPlayer(sc, devs, log)

	p.step(0)
	if strings.Join(cuff.calls, ",") != "nibp_error 0x57" || len(oxi.calls) != 0 || oxi.last.SpO2 != 97 {
		t.Fatalf("t=0: cuff %v oxi %v %+v", cuff.calls, oxi.calls, oxi.last)
	}
	p.step(30 * time.Second)
	p.step(90 * time.Second)
	if strings.Join(oxi.calls, ",") != "garbage 20" || oxi.last.SpO2 != 92 || cuff.last.SpO2 != 92 {
		t.Fatalf("t=90s: %v %+v", oxi.calls, oxi.last)
	}
	if !strings.Contains(logs.String(), "event skipped: device not emulated") {
		t.Errorf("the cms50 event was not reported as skipped:\n%s", logs.String())
	}
	p.step(2 * time.Minute)
	if nl.end(0) == nil || !nl.end(0).isClosed() {
		t.Fatal("unplug did not reach the line")
	}
	p.step(3 * time.Minute)
	p.step(3 * time.Minute)
	if nl.end(1) == nil || nl.end(1).isClosed() || nl.end(2) != nil {
		t.Fatal("replug did not reach the line exactly once")
	}
	if strings.Join(cuff.calls, ",") != "nibp_error 0x57,nibp_error 0x01" || len(oxi.calls) != 1 || oxi.last.SpO2 != 87 {
		t.Fatalf("t=3m: cuff %v oxi %v", cuff.calls, oxi.calls)
	}
	if n := strings.Count(logs.String(), "scenario finished"); n != 1 {
		t.Errorf("finished logged %d times", n)
	}
	if n := strings.Count(logs.String(), "scenario entry"); n != 5 {
		t.Errorf("%d entries logged, want 5:\n%s", n, logs.String())
	}
}

// The device models' view of a state: what each device sends.
func TestDeviceStates(t *testing.T) {
	sc := loadText(t, goodScenario+`
[[at]]
t = "1m"
artifact = "10s"
perfusion = "low"
[[at]]
t = "2m"
probe = "off"
`)
	n := noninState(sc.At(time.Minute))
	if n.SpO2 != 97 || n.HR != 70 || n.Flags.String() != "artifact|low_perfusion" {
		t.Errorf("nonin %+v", n)
	}
	if n := noninState(sc.At(2 * time.Minute)); n.SpO2 != -1 || n.HR != -1 || n.Flags.String() != "probe_off" {
		t.Errorf("nonin probe off %+v", n)
	}
	c := cms50State(sc.At(time.Minute))
	if c.SpO2 != 97 || c.PR != 70 || !c.Searching || c.Signal != 0 || c.FingerOut {
		t.Errorf("cms50 %+v", c)
	}
	if c := cms50State(sc.At(2 * time.Minute)); !c.FingerOut || c.Searching || c.SpO2 != -1 {
		t.Errorf("cms50 probe off %+v", c)
	}
}

// The emulator's loop on an injected clock: jumping it 10 scenario minutes
// ahead plays the entries at once, without waiting for them.
func TestEmulatorFollowsItsClock(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	sc := loadText(t, goodScenario+"[[at]]\nt = \"10m\"\nnibp_silent = true\n")
	logs := &syncBuffer{}
	o := options{devices: map[sim.Device]endpointSpec{sim.SunTech: {pty: true, path: filepath.Join(dir, "s")}}, speed: 1}
	e, err := newEmulator(o, sc, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.now = clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- e.run(ctx) }()
	waitFor(t, "the start", func() bool { return hasLog(logs.String(), "vitalsim running") })
	time.Sleep(3 * stepEvery)
	if hasLog(logs.String(), "NIBP module silent") {
		t.Fatal("the 10m entry played before its time")
	}
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	waitFor(t, "the 10m entry", func() bool { return hasLog(logs.String(), `"msg":"NIBP module silent"`, `"silent":true`) })
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
}
