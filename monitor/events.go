package monitor

import (
	"time"

	"github.com/chairside/chairside/monitor/protocol"
)

// Event is one thing the engine wants done: a wire payload to publish
// (wire.Vital, wire.NIBP, wire.Alarm, wire.Alarms, wire.Session,
// wire.Summary, wire.Reply) or one of the local events below.
type Event = any

// NIBPStart asks the NIBP driver to start a measurement. Its result must come
// back with the same request id.
type NIBPStart struct {
	Sensor  int
	Request string
}

// NIBPAbort asks the NIBP driver to abort the measurement with this id.
type NIBPAbort struct {
	Sensor  int
	Request string
	Reason  string
}

// Annunciation is the wanted state of the bedside lamps and buzzer, sent when
// it changes. Lamp is the highest priority of any current alarm (the visual
// signal stays while an alarm exists, even acknowledged); Tone is the highest
// priority of any alarm that sounds now (not acknowledged, not paused).
type Annunciation struct {
	Lamp     protocol.Priority
	Flashing bool // high and medium flash (IEC 60601-1-8), low is steady
	Tone     protocol.Priority
}

// Reminder asks for one short reminder tone: an acknowledged alarm's
// condition is still present after ack_reminder.
type Reminder struct {
	Alarm    string
	Priority protocol.Priority
}

// Audit is an entry for the alarm and action log: who did what, and when.
type Audit struct {
	T      time.Time
	By     string
	Action string
	Detail string
	OK     bool
}
