package main

import (
	"log/slog"

	"github.com/chairside/chairside/monitor"
)

// annunciator shows the engine's wanted lamp and buzzer state.
type annunciator interface {
	Show(monitor.Annunciation)
	Remind()
}

// logAnnunciator stands in when kind = "none": the log is the only local trace.
type logAnnunciator struct{ log *slog.Logger }

func (a logAnnunciator) Show(s monitor.Annunciation) {
	a.log.Info("annunciation", "lamp", s.Lamp.String(), "flashing", s.Flashing, "tone", s.Tone.String())
}
func (a logAnnunciator) Remind() { a.log.Info("reminder tone") }
