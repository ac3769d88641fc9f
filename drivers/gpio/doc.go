// Package gpio drives the bedside annunciator on a Raspberry Pi's GPIO pins
// through periph.io: an active buzzer, a red and a yellow lamp, and an
// acknowledge button.
//
// # Features
//
// The signals follow IEC 60601-1-8 as its users' manuals quote it
// (IEC 60601-1-8 §6.3 as quoted in monitor manuals):
//   - high priority: red lamp flashing at 2 Hz; a burst of 10 pulses (two
//     groups of 5) repeated every 10 s;
//   - medium: yellow lamp flashing at 0.625 Hz; 3 pulses every 25 s;
//   - low: yellow lamp steady; 1 pulse every 30 s;
//   - reminder (an acknowledged alarm still present): one short pulse.
//
// The lamp shows the engine's Annunciation.Lamp, the buzzer its Tone, so an
// acknowledged alarm stays visible but silent. A pin whose write fails is
// reported through OnFault (the daemon raises annunciator_fault).
//
// The button is wired from its pin to ground and read with the pin's pull-up
// (Low while pressed). A level counts once it has held 50 ms (Debounce). A
// press released before 2 s (LongPressAfter) is a ShortPress, reported on
// release; one held 2 s is a LongPress, reported once at 2 s while still
// held (a button held on, or stuck, does not repeat). The daemon makes a
// short press acknowledge the chair's alarms and a long one pause the audio.
//
// Run drives the pins until its context ends or Halt is called, then
// switches everything off; String names the pins.
//
// Patterns are pure functions of time (Lamps, Buzzer), so tests check what a
// nurse would see and hear at any instant without waiting for it.
//
// # Datasheet
//
// Raspberry Pi GPIO: https://www.raspberrypi.com/documentation/computers/raspberry-pi.html#gpio
package gpio
