package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/chairside/chairside/drivers/gpio"
	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/wire"
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

// buttonCommand is what a press of the bedside button asks the engine: a
// short press acknowledges the chair's alarms (the nurse is at the patient),
// a long one pauses the audio for the protocol's audio_pause. Both are
// local commands by "bedside": always allowed, never too old, in the alarm
// log (CONTRACT §2).
func buttonCommand(p gpio.Press, now time.Time) monitor.Command {
	c := wire.Command{V: wire.Version, ID: fmt.Sprintf("button-%d", now.UnixNano()), T: wire.At(now), By: "bedside"}
	if p == gpio.LongPress {
		c.Action = wire.ActionPauseAudio
	} else {
		c.Action, c.Alarm = wire.ActionAck, "*"
	}
	return monitor.Command{Local: true, Command: c}
}
