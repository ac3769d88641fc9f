package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/chairside/chairside/drivers/max30102"
	"github.com/chairside/chairside/monitor/config"
)

// playedFinger is a finger on the model that the test changes as it runs.
type playedFinger struct {
	mu sync.Mutex
	f  max30102.Finger
}

func (p *playedFinger) set(f max30102.Finger) { p.mu.Lock(); p.f = f; p.mu.Unlock() }
func (p *playedFinger) light(t time.Duration) (uint32, uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f.Light(t)
}

func flagged(v map[string]any, flag string) bool {
	fs, _ := v["flags"].([]any)
	return slices.Contains(fs, any(flag))
}

// TestHILMAX30102 runs the daemon's own code (config.Load, runDaemon, the
// driver table) in this process with the MAX30102 model as its I2C bus, the
// model playing a finger in real time, and checks what a records system
// receives: SpO2 and pulse computed from the light, flagged uncalibrated; a
// session that starts on them and a desaturation alarm; a finger taken off
// giving null with probe_off; the board unplugged raising sensor_silent,
// which ends when it is plugged back and values return.
func TestHILMAX30102(t *testing.T) {
	if testing.Short() {
		t.Skip("hardware-in-the-loop test")
	}
	b := startBroker(t)
	rec := subscribe(t, b)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("hil.toml", hilProtocol)
	path := write("chairside.toml", fmt.Sprintf(`chair = "chair-09"
protocol = "hil.toml"
[mqtt]
broker = %q
keepalive = "2s"
[store]
dir = "store"
[[sensor]]
driver = "max30102"
i2c_bus = "/dev/i2c-1"
stale_after = "2s"
[annunciator]
kind = "none"
`, b.url()))
	cfg, problems := config.Load(path)
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}

	model := max30102.NewModel()
	finger := &playedFinger{f: max30102.Finger{SpO2: 96, Pulse: 75}}
	ctx, cancel := context.WithCancel(context.Background())
	go max30102.Play(ctx, model, 1, finger.light)
	logFile, err := os.Create(filepath.Join(dir, "chairside.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var opens sync.Map // bus names asked for
	env := sensorEnv{openI2C: func(bus string) (i2c.BusCloser, error) {
		opens.Store(bus, true)
		if bus != "1" {
			return nil, errors.New("no such bus")
		}
		return model, nil
	}}
	done := make(chan int, 1)
	go func() { done <- runDaemon(ctx, cfg, log, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("runDaemon exited %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Error("runDaemon still running 10 s after its context ended")
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("chairside log (tail):\n%s", tail(string(b), 8000))
		}
	})

	// The engine takes the values: a session starts on valid SpO2 (vitals
	// are published in a session).
	rec.waitFor(t, "auto-started session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	// Values from the light, every one uncalibrated.
	rec.waitFor(t, "SpO2 96±2 from the model", "/vitals/spo2", 15*time.Second, func(v map[string]any) bool {
		n := num(v["value"])
		return n >= 94 && n <= 98 && flagged(v, "uncalibrated") && v["source"] == "max30102"
	})
	rec.waitFor(t, "pulse 75±3", "/vitals/pulse", 5*time.Second, func(v map[string]any) bool {
		n := num(v["value"])
		return n >= 72 && n <= 78 && flagged(v, "uncalibrated")
	})
	if _, ok := opens.Load("1"); !ok {
		t.Fatal(`i2c_bus "/dev/i2c-1" was not opened as periph's bus "1"`)
	}
	for _, m := range rec.since(0) {
		if filepath.Base(filepath.Dir(m.topic)) == "vitals" && !flagged(m.v, "uncalibrated") {
			t.Fatalf("%s without uncalibrated: %v", m.topic, m.v)
		}
	}
	// A desaturation raises spo2_low.
	finger.set(max30102.Finger{SpO2: 84, Pulse: 75})
	rec.waitFor(t, "spo2_low from the light", "/alarm", 30*time.Second, func(v map[string]any) bool {
		return v["condition"] == "spo2_low" && v["phase"] == "start" && v["priority"] == "high"
	})
	finger.set(max30102.Finger{SpO2: 96, Pulse: 75})

	// Finger off: null SpO2 and pulse with probe_off (how soon, in signal
	// time, is TestSensorFingerOff's; here the broker and the store add
	// their own delays).
	from := rec.count()
	finger.set(max30102.Finger{Off: true})
	rec.waitForFrom(t, from, "SpO2 null with probe_off", "/vitals/spo2", 5*time.Second, func(v map[string]any) bool {
		return v["value"] == nil && flagged(v, "probe_off")
	})
	rec.waitForFrom(t, from, "pulse null with probe_off", "/vitals/pulse", 5*time.Second, func(v map[string]any) bool {
		return v["value"] == nil && flagged(v, "probe_off")
	})
	finger.set(max30102.Finger{SpO2: 96, Pulse: 75})
	// Back on: null and searching until there is enough signal, then values.
	rec.waitForFrom(t, from, "SpO2 searching", "/vitals/spo2", 5*time.Second, func(v map[string]any) bool {
		return v["value"] == nil && flagged(v, "searching") && flagged(v, "uncalibrated")
	})
	rec.waitForFrom(t, from, "SpO2 again after the finger is back", "/vitals/spo2", 15*time.Second, func(v map[string]any) bool {
		n := num(v["value"])
		return n >= 94 && n <= 98
	})

	// Unplugged: nothing comes, the engine raises sensor_silent; plugged
	// back: values again and sensor_silent ends.
	from = rec.count()
	model.Unplug()
	silent := rec.waitForFrom(t, from, "sensor_silent", "/alarm", 10*time.Second, func(v map[string]any) bool {
		return v["condition"] == "sensor_silent" && v["phase"] == "start" && v["kind"] == "technical"
	})
	model.Replug()
	rec.waitForFrom(t, from, "SpO2 after replug", "/vitals/spo2", 15*time.Second, func(v map[string]any) bool {
		n := num(v["value"])
		return n >= 94 && n <= 98
	})
	rec.waitForFrom(t, from, "sensor_silent ended", "/alarm", 10*time.Second, func(v map[string]any) bool {
		return v["id"] == silent.v["id"] && v["condition_active"] == false
	})
}
