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
// reported through OnFault (the daemon raises annunciator_fault). Pressing the
// button (falling edge, pulled up, 50 ms debounce) calls OnPress.
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
