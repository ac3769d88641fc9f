// Package monitor is the heart of chairside: given oximeter readings, NIBP
// results, frame counts, commands and the time, it follows the session
// (idle → baseline → infusion → observation → ended), schedules the cuff,
// decides every alarm condition and its state, and says what to publish and
// what the buzzer and lamps should do.
//
// It does no I/O and reads no clock: every input carries the time, so a
// 100-minute session runs in milliseconds under test. One goroutine owns an
// Engine (it has no locks); each input method returns the events it caused,
// in order, in a slice that is valid until the next call.
//
// Events are the wire payloads of package wire (Vital, NIBP, Alarm, Alarms,
// Session, Summary, Reply, published by the daemon) and the local ones of this
// package (NIBPStart, NIBPAbort, Annunciation, Reminder, Audit).
package monitor
