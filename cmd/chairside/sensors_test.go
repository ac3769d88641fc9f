package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

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
		_, err := buildSensors(cfg, engineSink{ctx: context.Background(), in: make(chan any, 1)}, slog.New(slog.DiscardHandler))
		switch {
		case d.Unavailable == "" && err != nil:
			t.Errorf("driver %s: the config accepts it, the daemon refuses it: %v", d.Name, err)
		case d.Unavailable != "" && err == nil:
			t.Errorf("driver %s: the config calls it unavailable (%s), the daemon builds it", d.Name, d.Unavailable)
		}
	}
}
