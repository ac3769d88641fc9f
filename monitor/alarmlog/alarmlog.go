// Package alarmlog is the chair's alarm log on disk: every alarm state change
// (start, update, end: acknowledgement, latch, escalation) and every audited
// action (commands, restores, auto-starts), in an append-only text file in
// the store directory.
//
// It is a file of its own, not a bucket in the store's bbolt file, for two
// reasons: bbolt locks its file for the one writer, so a log kept there
// cannot be read while the daemon runs (IEC 60601-1-8 §6.12 wants the log at
// hand, not after stopping the monitoring); and a log kept apart survives a
// store file that is found corrupt and moved aside.
//
// # Format 1
//
// The file is UTF-8 text, one entry per line:
//
//	CCCCCCCC {json}\n
//
// where CCCCCCCC is the CRC-32C (Castagnoli) of the JSON bytes, eight
// lowercase hex digits, and {json} is one Entry (see its fields). Lines are
// only ever appended, each batch with one write and fsynced before Append
// returns. A line without its newline at the end of the file is torn (a
// power cut while writing, or being written right now); a line whose CRC
// does not match is corrupt. Readers report both and go on with the next
// line; a writer that opens a file ending in a torn line starts on a new
// line. When the file passes MaxBytes it is renamed to alarm.log.1
// (replacing an older one) and a new file is started: readers read
// alarm.log.1, then alarm.log.
package alarmlog

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// Format is the version of the file and of the printed log.
const Format = 1

// FileName is the log in the store directory; OldFileName the previous one,
// after a rotation.
const (
	FileName    = "alarm.log"
	OldFileName = "alarm.log.1"
)

// Entry kinds.
const (
	KindAlarm = "alarm" // an alarm state change; the Alarm fields are set
	KindAudit = "audit" // an audited action; the Audit fields are set
)

// Entry is one line of the alarm log. Exactly one of Alarm and Audit is set,
// as Kind says; their fields are written at the top level of the JSON object.
type Entry struct {
	T    wire.Time `json:"t"`
	Kind string    `json:"kind"`
	*Alarm
	*Audit
}

// Alarm is an alarm state change, as the engine published it.
type Alarm struct {
	Session   string   `json:"session"`
	ID        string   `json:"id"`
	Condition string   `json:"condition"`
	Priority  string   `json:"priority"` // high | medium | low
	Phase     string   `json:"phase"`    // start | update | end
	State     string   `json:"state"`    // active | acknowledged | latched | cleared
	Value     wire.Num `json:"value"`    // the value that raised or holds it; null for technical alarms
	Limit     wire.Num `json:"limit"`    // the limit in force; null for technical alarms
	Message   string   `json:"message"`
	AckedBy   *string  `json:"acked_by"` // who acknowledged it; null if no one
	Audio     string   `json:"audio"`    // on | paused | off
}

// Audit is an audited action: who did what, and whether it was done (a
// refused command is logged too).
type Audit struct {
	By     string `json:"by"`
	Action string `json:"action"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// FromAlarm makes the log entry of a published alarm change.
func FromAlarm(a wire.Alarm) Entry {
	return Entry{T: a.T, Kind: KindAlarm, Alarm: &Alarm{
		Session: a.Session, ID: a.ID, Condition: a.Condition, Priority: a.Priority, Phase: a.Phase,
		State: a.State, Value: a.Value, Limit: a.Limit, Message: a.Message, AckedBy: a.AckedBy, Audio: a.Audio,
	}}
}

// FromStore makes the log entry of one an older version kept in the store's
// audit bucket (audited actions only: alarms were not kept there).
func FromStore(e store.Entry) Entry {
	return Entry{T: wire.At(e.T), Kind: KindAudit, Audit: &Audit{By: e.By, Action: e.Action, OK: e.OK, Detail: e.Detail}}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeLine makes e's line, newline included.
func encodeLine(e Entry) ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("alarm log entry: %w", err)
	}
	line := make([]byte, 0, 9+len(data)+1)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(data, castagnoli))
	line = append(line, data...)
	return append(line, '\n'), nil
}

// decodeLine reads one line (without its newline).
func decodeLine(line []byte) (Entry, error) {
	var e Entry
	if len(line) < 10 || line[8] != ' ' {
		return e, fmt.Errorf("not a log line (want 8 hex digits, a space and JSON)")
	}
	want, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return e, fmt.Errorf("bad CRC field %q", line[:8])
	}
	data := line[9:]
	if got := crc32.Checksum(data, castagnoli); uint64(got) != want {
		return e, fmt.Errorf("CRC mismatch (stored %08x, computed %08x)", want, got)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, fmt.Errorf("entry: %w", err)
	}
	if err := e.check(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (e Entry) check() error {
	switch {
	case e.Kind == KindAlarm && e.Alarm != nil && e.Audit == nil:
	case e.Kind == KindAudit && e.Audit != nil && e.Alarm == nil:
	default:
		return fmt.Errorf("alarm log entry of kind %q with alarm fields %t, audit fields %t", e.Kind, e.Alarm != nil, e.Audit != nil)
	}
	return nil
}
