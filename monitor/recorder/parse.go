// Package recorder is the records bridge's ingest (CONTRACT §7): MQTT
// messages from every chair, parsed with the wire types, written to the
// archive in one transaction per batch and acknowledged to the broker only
// after the commit, in arrival order.
package recorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/wire"
)

// Item is what one message becomes: exactly one of Record, State or Reject
// is set, or Ignored for a known live topic the archive does not keep.
type Item struct {
	Record  *archive.Record
	State   *archive.State
	Reject  *archive.Reject
	Ignored bool
}

// RejectedHead is how much of a rejected payload is kept.
const RejectedHead = 4096

// DefaultMaxPayload is the largest payload taken (the shipped mosquitto
// config's max_packet_size); a chair's largest record, a session summary
// with its 200 marks, is under 64 KiB.
const DefaultMaxPayload = 256 << 10

// chairPattern is CONTRACT §2's chair name.
var chairPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// maxStream bounds a stream id (a chair makes a short random id).
const maxStream = 64

// Parse turns one message under prefix into an Item. It never fails: what
// cannot be taken becomes a Reject naming the reason.
func Parse(prefix, topic string, payload []byte, maxPayload int) Item {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	reject := func(format string, a ...any) Item {
		head := payload
		if len(head) > RejectedHead {
			head = head[:RejectedHead]
		}
		return Item{Reject: &archive.Reject{Topic: cleanText(topic), Reason: fmt.Sprintf(format, a...),
			Size: len(payload), Payload: append([]byte(nil), head...)}}
	}
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return reject("topic is not under %s/", prefix)
	}
	chair, suffix, ok := strings.Cut(rest, "/")
	if !ok {
		return reject("topic has no part after the chair")
	}
	if !chairPattern.MatchString(chair) {
		return reject("chair %q must be 1 to 32 of a-z, 0-9 and -", cleanText(chair))
	}
	switch suffix {
	case wire.TopicPleth, wire.TopicAlarms, wire.TopicCmd, wire.TopicCmdReply:
		return Item{Ignored: true}
	}
	if len(payload) > maxPayload {
		return reject("oversized: %d bytes, more than %d", len(payload), maxPayload)
	}
	if len(payload) == 0 {
		return reject("empty payload")
	}
	if !utf8.Valid(payload) {
		return reject("payload is not valid UTF-8")
	}
	if suffix == wire.TopicState {
		s, err := parseState(chair, payload)
		if err != nil {
			return reject("%v", err)
		}
		return Item{State: s}
	}
	r, err := parseRecord(chair, suffix, payload)
	if err != nil {
		if errors.Is(err, errUnknownTopic) {
			return reject("unknown topic %q below the chair", cleanText(suffix))
		}
		return reject("%s: %v", suffix, err)
	}
	return Item{Record: r}
}

var errUnknownTopic = errors.New("unknown topic")

// parseRecord decodes a record-stream payload with its wire type and takes
// the key and the columns the archive indexes.
func parseRecord(chair, suffix string, payload []byte) (*archive.Record, error) {
	var (
		rec     *wire.Record
		t       wire.Time
		session string
		check   func() error
		target  any
	)
	switch suffix {
	case wire.TopicSpO2, wire.TopicPulse:
		var v wire.Vital
		target, rec = &v, &v.Record
		check = func() error {
			t, session = v.T, v.Session
			if want := strings.TrimPrefix(suffix, "vitals/"); v.Param != want {
				return fmt.Errorf("param %q on the %s topic", v.Param, want)
			}
			return nil
		}
	case wire.TopicNIBP:
		var v wire.NIBP
		target, rec = &v, &v.Record
		check = func() error {
			t, session = v.T, v.Session
			if v.Param != "nibp" {
				return fmt.Errorf("param %q on the nibp topic", v.Param)
			}
			return nil
		}
	case wire.TopicAlarm:
		var v wire.Alarm
		target, rec = &v, &v.Record
		check = func() error { t, session = v.T, v.Session; return nil }
	case wire.TopicSession:
		var v wire.Session
		target, rec = &v, &v.Record
		check = func() error { t, session = v.T, v.ID; return nil }
	case wire.TopicSummary:
		var v wire.Summary
		target, rec = &v, &v.Record
		check = func() error { t, session = v.T, v.ID; return nil }
	case wire.TopicGap:
		var v wire.Gap
		target, rec = &v, &v.Record
		check = func() error {
			t = v.T
			if v.FromSeq == 0 || v.ToSeq < v.FromSeq {
				return fmt.Errorf("from_seq %d to_seq %d is not a range", v.FromSeq, v.ToSeq)
			}
			return nil
		}
	default:
		return nil, errUnknownTopic
	}
	if err := json.Unmarshal(payload, target); err != nil {
		return nil, fmt.Errorf("malformed: %v", err)
	}
	if err := checkRecordFields(rec); err != nil {
		return nil, err
	}
	if err := check(); err != nil {
		return nil, err
	}
	if session != cleanText(session) || len(session) > 128 {
		return nil, fmt.Errorf("session id %q is not plain text of at most 128 bytes", cleanText(session))
	}
	return &archive.Record{
		Chair: chair, Stream: rec.Stream, Seq: int64(rec.Seq), Kind: suffix, T: t.Time,
		Session: session, Boot: int64(rec.Boot), ClockSynced: rec.ClockSynced,
		Payload: append([]byte(nil), payload...),
	}, nil
}

func checkRecordFields(r *wire.Record) error {
	switch {
	case r.V != wire.Version:
		return fmt.Errorf("v is %d, not %d", r.V, wire.Version)
	case r.Stream == "":
		return errors.New("stream is missing")
	case len(r.Stream) > maxStream || r.Stream != cleanText(r.Stream):
		return fmt.Errorf("stream %q is not plain text of at most %d bytes", cleanText(r.Stream), maxStream)
	case r.Seq == 0:
		return errors.New("seq is missing or 0 (seq counts from 1)")
	case r.Seq > math.MaxInt64:
		return fmt.Errorf("seq %d is too large", r.Seq)
	case r.Boot > math.MaxInt64:
		return fmt.Errorf("boot %d is too large", r.Boot)
	}
	return nil
}

func parseState(chair string, payload []byte) (*archive.State, error) {
	var s wire.State
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, fmt.Errorf("state: malformed: %v", err)
	}
	if s.V != wire.Version {
		return nil, fmt.Errorf("state: v is %d, not %d", s.V, wire.Version)
	}
	if s.Boot > math.MaxInt64 {
		return nil, fmt.Errorf("state: boot %d is too large", s.Boot)
	}
	return &archive.State{
		Chair: chair, Online: s.Online, Boot: int64(s.Boot), Stream: cleanText(s.Stream), Version: cleanText(s.Version),
		T: s.T.Time, Will: s.IsWill(), Session: cleanText(s.Session), Phase: cleanText(s.Phase),
		Payload: append([]byte(nil), payload...),
	}, nil
}

// cleanText makes s storable and printable as text: valid UTF-8, no NUL or
// other control characters.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
}
