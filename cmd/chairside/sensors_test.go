package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/max30102"
	"github.com/chairside/chairside/monitor/config"
)

// TestCheckAndDaemonShareOneDriverTable: every driver the config accepts,
// the daemon builds, and every driver the config calls unavailable, the
// daemon refuses; so `chairside -check` never passes a sensor the daemon
// then refuses (and systemd loops on restarts).
func TestCheckAndDaemonShareOneDriverTable(t *testing.T) {
	for _, d := range config.Drivers() {
		s := config.Sensor{Driver: d.Name, StaleAfter: 10 * time.Second, Format: 2, I2CBus: "1"}
		if d.Serial() {
			s.Port = filepath.Join(t.TempDir(), "tty")
		}
		cfg := &config.Config{Sensors: []config.Sensor{s}}
		_, err := buildSensors(cfg, engineSink{ctx: context.Background(), in: make(chan any, 1)}, slog.New(slog.DiscardHandler), sensorEnv{})
		switch {
		case d.Unavailable == "" && err != nil:
			t.Errorf("driver %s: the config accepts it, the daemon refuses it: %v", d.Name, err)
		case d.Unavailable != "" && err == nil:
			t.Errorf("driver %s: the config calls it unavailable (%s), the daemon builds it", d.Name, d.Unavailable)
		}
	}
}

// TestBuildSensorsFromTheTable: each config driver becomes the right driver
// on its port with its sensor index, bound to the daemon's sink; only the
// NIBP module answers the engine's measurement requests; a driver's option
// error names the sensor and the field.
func TestBuildSensorsFromTheTable(t *testing.T) {
	cfg := &config.Config{Sensors: []config.Sensor{
		{Driver: "nonin", Port: "/dev/ttyUSB0", Format: 7},
		{Driver: "cms50-legacy", Port: "/dev/ttyUSB1"},
		{Driver: "suntech", Port: "/dev/ttyAMA0"},
		{Driver: "cms50", Port: "/dev/ttyUSB2"},
		{Driver: "max30102", I2CBus: "/dev/i2c-1", Address: 0x58},
	}}
	sink := engineSink{ctx: context.Background(), in: make(chan any, 1)}
	set, err := buildSensors(cfg, sink, slog.New(slog.DiscardHandler), sensorEnv{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"nonin(/dev/ttyUSB0, DF7, sensor 0)",
		"cms50(/dev/ttyUSB1, legacy, sensor 1)",
		"suntech(/dev/ttyAMA0, adult, sensor 2)",
		"cms50(/dev/ttyUSB2, live9, sensor 3)",
		"max30102(I2C 1, 0x58)",
	}
	if len(set.runners) != len(want) {
		t.Fatalf("%d runners, want %d", len(set.runners), len(want))
	}
	for i, r := range set.runners {
		if r.String() != want[i] {
			t.Errorf("runner %d = %s, want %s", i, r, want[i])
		}
		if r.sink != sink {
			t.Errorf("runner %d is not bound to the daemon's sink", i)
		}
	}
	if set.nibp == nil || set.nibp != set.runners[2].Driver.(nibpDriver) {
		t.Errorf("nibp = %v, want the suntech driver", set.nibp)
	}

	cfg.Sensors = []config.Sensor{{Driver: "cms50", Port: "/dev/ttyUSB2"}, {Driver: "nonin", Port: "/dev/ttyUSB0", Format: 3}}
	if _, err := buildSensors(cfg, sink, nil, sensorEnv{}); err == nil || !strings.Contains(err.Error(), "sensor 2 (nonin)") || !strings.Contains(err.Error(), "Opts.Format") {
		t.Errorf("bad format: %v, want an error naming sensor 2 and Opts.Format", err)
	}
	cfg.Sensors = []config.Sensor{{Driver: "suntech"}}
	if _, err := buildSensors(cfg, sink, nil, sensorEnv{}); err == nil || !strings.Contains(err.Error(), "sensor 1 (suntech)") || !strings.Contains(err.Error(), "port") {
		t.Errorf("no port: %v, want an error naming sensor 1 and the port", err)
	}
	cfg.Sensors = []config.Sensor{{Driver: "suntech", Port: "/dev/a"}, {Driver: "suntech", Port: "/dev/b"}}
	if _, err := buildSensors(cfg, sink, nil, sensorEnv{}); err == nil || !strings.Contains(err.Error(), "second NIBP") {
		t.Errorf("two NIBP modules: %v, want an error", err)
	}
}

// TestI2CBusNamesAgree: every i2c_bus the config accepts, the driver
// opens, and every one it refuses, the driver refuses too.
func TestI2CBusNamesAgree(t *testing.T) {
	for _, b := range []string{"1", "0", "I2C1", "/dev/i2c-1", "/dev/i2c-22", "", "i2c-1", "/dev/i2c-", "I2C", "1a", "/dev/i2c-1/", "1234", " 1"} {
		_, err := max30102.BusName(b)
		if ok := config.ValidI2CBus(b); ok != (err == nil) {
			t.Errorf("i2c_bus %q: config accepts it %v, the driver: %v", b, ok, err)
		}
	}
}

// TestRunnerStopsWithHalt: a runner runs its driver with the daemon's sink
// until the context ends, and the driver's Halt ends it too.
func TestRunnerStopsWithHalt(t *testing.T) {
	cfg := &config.Config{Sensors: []config.Sensor{{Driver: "nonin", Port: filepath.Join(t.TempDir(), "tty"), Format: 2}}}
	set, err := buildSensors(cfg, engineSink{ctx: context.Background(), in: make(chan any, 1)}, nil, sensorEnv{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.runners[0]
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond) // let Run start; Halt before it is as good
	if err := r.Halt(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, drivers.ErrHalted) {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Halt")
	}
}
