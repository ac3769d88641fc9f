package store

import "strings"

// class says what the size bound may do with a record. It is derived from the
// topic and stored with the record (under its CRC), so trimming a full store
// never has to guess.
type class uint8

const (
	// classKept: session, session/summary, gap and anything unknown: never
	// dropped, never refused.
	classKept class = 1
	// classAlarm: alarm changes: never dropped, never refused (CONTRACT §6).
	classAlarm class = 2
	// classVital: other vitals (vitals/nibp): never dropped (a dozen an hour,
	// each one a clinical decision point) but refused while the store is full.
	classVital class = 3
	// classDroppable: vitals/spo2, vitals/pulse, pleth: the bulk of the
	// stream; the oldest go first when the store is full.
	classDroppable class = 4
)

// classify maps a topic to its class by its suffix (CONTRACT §4 names).
func classify(topic string) class {
	switch {
	case hasLevelSuffix(topic, "alarm"):
		return classAlarm
	case hasLevelSuffix(topic, "vitals/spo2"), hasLevelSuffix(topic, "vitals/pulse"), hasLevelSuffix(topic, "pleth"):
		return classDroppable
	case strings.Contains("/"+topic, "/vitals/"):
		return classVital
	}
	return classKept
}

// refusedWhenFull: a full store takes no more vitals, so the room left is kept
// for alarms and session records.
func (c class) refusedWhenFull() bool { return c == classVital || c == classDroppable }

// hasLevelSuffix reports whether topic is suffix or ends in "/"+suffix, so
// "x/alarm" matches "alarm" but "x/myalarm" does not.
func hasLevelSuffix(topic, suffix string) bool {
	return topic == suffix || strings.HasSuffix(topic, "/"+suffix)
}

// recordSuffixes are the record-stream topics under a chair's root, longest
// first so "session/summary" wins over "session".
var recordSuffixes = []string{"session/summary", "vitals/spo2", "vitals/pulse", "vitals/nibp", "session", "alarm", "pleth", "gap"}

// rootOf gives a record topic's root (<topic_prefix>/<chair>), used for the
// gap records the store writes itself; "" when the topic has no known suffix
// or nothing before it.
func rootOf(topic string) string {
	for _, s := range recordSuffixes {
		if strings.HasSuffix(topic, "/"+s) {
			return strings.TrimSuffix(topic, "/"+s)
		}
	}
	if i := strings.Index(topic, "/vitals/"); i > 0 {
		return topic[:i]
	}
	return ""
}
