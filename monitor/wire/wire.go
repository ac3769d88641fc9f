// Package wire is the MQTT contract in code (CONTRACT §4): topic names and the
// JSON payloads chairside publishes and the station and records systems read.
// Both sides import it, so a field renamed here is renamed everywhere and the
// contract tests catch it.
package wire

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the payload version carried as "v" in every message.
const Version = 1

// TimeLayout is RFC 3339 UTC with milliseconds, as the contract asks.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a timestamp that encodes as RFC 3339 UTC with milliseconds, and as
// null when zero.
type Time struct{ time.Time }

// At wraps t.
func At(t time.Time) Time { return Time{t} }

// MarshalJSON writes "2026-11-22T08:00:00.123Z" or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads any RFC 3339 time, or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("time must be an RFC 3339 string, not %s", b)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339", s)
	}
	t.Time = v
	return nil
}

// Num is a number that may be absent, encoded as null: the contract never uses
// silence (a missing field) to mean "no value".
type Num struct {
	V     float64
	Valid bool
}

// N makes a present number.
func N(v float64) Num { return Num{V: v, Valid: true} }

// MarshalJSON writes the number without a needless ".0", or null.
func (n Num) MarshalJSON() ([]byte, error) {
	if !n.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, n.V, 'f', -1, 64), nil
}

// UnmarshalJSON reads a number or null.
func (n *Num) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*n = Num{}
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%s is not a number", b)
	}
	*n = N(v)
	return nil
}

func (n Num) String() string {
	if !n.Valid {
		return "null"
	}
	return strconv.FormatFloat(n.V, 'f', -1, 64)
}

// Topic suffixes under <topic_prefix>/<chair>/.
const (
	TopicState    = "state"
	TopicSpO2     = "vitals/spo2"
	TopicPulse    = "vitals/pulse"
	TopicNIBP     = "vitals/nibp"
	TopicPleth    = "pleth"
	TopicAlarm    = "alarm"
	TopicAlarms   = "alarms"
	TopicSession  = "session"
	TopicSummary  = "session/summary"
	TopicGap      = "gap"
	TopicCmd      = "cmd"
	TopicCmdReply = "cmd/reply"
)

// Topic joins prefix, chair and suffix: "chairside/chair-03/vitals/spo2".
func Topic(prefix, chair, suffix string) string {
	return strings.Join([]string{prefix, chair, suffix}, "/")
}
