package sim

import (
	"fmt"
	"time"
)

// Device names an emulated sensor that a scenario can act on.
type Device uint8

// The devices vitalsim emulates.
const (
	Nonin Device = iota + 1
	CMS50
	SunTech
)

// numDevices is how many devices there are; Device values are 1..numDevices.
const numDevices = 3

// Devices lists every Device, for loops.
func Devices() [numDevices]Device { return [...]Device{Nonin, CMS50, SunTech} }

// String gives the scenario file's name of the device: "nonin", "cms50",
// "suntech".
func (d Device) String() string {
	switch d {
	case Nonin:
		return "nonin"
	case CMS50:
		return "cms50"
	case SunTech:
		return "suntech"
	}
	return fmt.Sprintf("device(%d)", uint8(d))
}

// ParseDevice gives the Device for its scenario name.
func ParseDevice(s string) (Device, bool) {
	for _, d := range Devices() {
		if d.String() == s {
			return d, true
		}
	}
	return 0, false
}

// Perfusion is the strength of the pulsatile signal the oximeter sees.
type Perfusion uint8

// Perfusion levels, as oximeters grade them (Nonin: green, yellow, red).
const (
	PerfusionGood Perfusion = iota
	PerfusionMarginal
	PerfusionLow
)

// perfusionNames are the scenario file's names, indexed by Perfusion.
func perfusionNames() []string { return []string{"good", "marginal", "low"} }

// String gives "good", "marginal" or "low".
func (p Perfusion) String() string {
	if names := perfusionNames(); int(p) < len(names) {
		return names[p]
	}
	return fmt.Sprintf("perfusion(%d)", uint8(p))
}

// EventKind says what a one-shot event does.
type EventKind uint8

// The one-shot events. Everything else in a scenario is state (see State).
const (
	// NIBPError makes the next NIBP measurement fail with Event.Code.
	NIBPError EventKind = iota + 1
	// Unplug pulls Event.Device's cable: a pty disappears, as with udev.
	Unplug
	// Replug puts the cable back: a new pty behind the same link.
	Replug
	// Garbage sends Event.Bytes random bytes on Event.Device's line.
	Garbage
)

// String gives the scenario file's key of the event: "nibp_error", "unplug",
// "replug", "garbage".
func (k EventKind) String() string {
	switch k {
	case NIBPError:
		return "nibp_error"
	case Unplug:
		return "unplug"
	case Replug:
		return "replug"
	case Garbage:
		return "garbage"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is a one-shot event of the timeline.
type Event struct {
	At     time.Duration // elapsed scenario time
	Entry  int           // the [[at]] entry it comes from, counted from 1
	Kind   EventKind
	Device Device // Unplug, Replug, Garbage
	Code   uint8  // NIBPError: the module's error code
	Bytes  int    // Garbage: how many
}

// String describes the event for a log: "unplug nonin", "nibp_error 0x57".
func (e Event) String() string {
	switch e.Kind {
	case NIBPError:
		return fmt.Sprintf("nibp_error 0x%02X", e.Code)
	case Unplug, Replug:
		return e.Kind.String() + " " + e.Device.String()
	case Garbage:
		return fmt.Sprintf("garbage %d bytes on %s", e.Bytes, e.Device)
	}
	return e.Kind.String()
}

// Entry is one [[at]] entry of the timeline.
type Entry struct {
	Index   int           // counted from 1, as problems name it: at[Index]
	T       time.Duration // elapsed scenario time
	Summary string        // what it does, for a log: "spo2 to 85 over 2m0s; probe off"
	Events  []Event       // its one-shot events, in file order
}

// Key names the entry as problems do: "at[3]".
func (e Entry) Key() string { return fmt.Sprintf("at[%d]", e.Index) }

// Scenario is a loaded scenario. It is immutable and safe for concurrent use.
type Scenario struct {
	Name        string
	Description string
	File        string
	// Duration is the scenario's stated length; zero when the file gives
	// none. After it (or the last entry) the state simply holds.
	Duration time.Duration
	Entries  []Entry // in time order

	tl timeline
}

// At gives the state at elapsed scenario time t (t < 0 counts as 0).
func (s *Scenario) At(t time.Duration) State { return s.tl.at(max(t, 0)) }

// Events lists every one-shot event in time order (file order for equal
// times).
func (s *Scenario) Events() []Event {
	var out []Event
	for _, e := range s.Entries {
		out = append(out, e.Events...)
	}
	return out
}

// End is when the last thing happens: the stated Duration, or else the end of
// the last entry's ramps and bursts.
func (s *Scenario) End() time.Duration {
	if s.Duration > 0 {
		return s.Duration
	}
	return s.tl.end
}

// Cursor walks the timeline's entries as time passes. It is not safe for
// concurrent use; each player keeps its own.
type Cursor struct {
	s    *Scenario
	next int
}

// Cursor returns a cursor at the scenario's beginning.
func (s *Scenario) Cursor() *Cursor { return &Cursor{s: s} }

// Advance returns the entries whose time is at or before t that earlier
// calls did not return, in order. Time never goes back: a t before an
// earlier call's returns nothing.
func (c *Cursor) Advance(t time.Duration) []Entry {
	from := c.next
	for c.next < len(c.s.Entries) && c.s.Entries[c.next].T <= t {
		c.next++
	}
	return c.s.Entries[from:c.next]
}

// Done reports whether every entry has been returned.
func (c *Cursor) Done() bool { return c.next == len(c.s.Entries) }
