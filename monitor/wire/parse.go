package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxPayloadBytes bounds a chair payload a subscriber (station, records)
// reads: a session summary with its 200-character marks is the largest the
// chair sends, far under it. Anything bigger is refused unread.
const MaxPayloadBytes = 64 << 10

// maxTextLen bounds free text a subscriber shows (an alarm's message).
const maxTextLen = 500

// decode is the common part of every Parse function: a bound on the size,
// one JSON object and nothing after it, "v" (read into *ver by the decode)
// equal to Version. Unknown fields are allowed (the contract may grow
// fields); wrong types are not.
func decode(payload []byte, v any, ver *int) error {
	if len(payload) > MaxPayloadBytes {
		return fmt.Errorf("payload is %d bytes, more than %d", len(payload), MaxPayloadBytes)
	}
	if !utf8.Valid(payload) {
		return errors.New("payload is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed payload: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("malformed payload: data after the JSON object")
	}
	switch {
	case *ver == 0:
		return errors.New("field \"v\" is missing (or 0)")
	case *ver != Version:
		return fmt.Errorf("field \"v\" is %d; this reader speaks version %d", *ver, Version)
	}
	return nil
}

// checkRecord checks the record fields: a stream is named (seq may be 0: a
// message sent while the chair's store failed has none).
func checkRecord(r Record) error {
	if r.Stream != "" {
		return CheckText(r.Stream, MaxIDLen, false)
	}
	if r.Seq != 0 {
		return errors.New("field \"seq\" is set without a \"stream\"")
	}
	return nil
}

func field(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("field %q %v", name, err)
}

func oneOf(name, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("field %q is %q, not one of %v", name, v, allowed)
}

func needTime(name string, t Time) error {
	if t.IsZero() {
		return fmt.Errorf("field %q is missing or null", name)
	}
	return nil
}

// ParseState reads a state message (heartbeat, clean stop or Will).
func ParseState(payload []byte) (State, error) {
	var s State
	if err := decode(payload, &s, &s.V); err != nil {
		return State{}, err
	}
	err := errors.Join(
		field("stream", CheckText(s.Stream, MaxIDLen, true)),
		field("version", CheckText(s.Version, MaxIDLen, true)),
		field("session", CheckText(s.Session, MaxIDLen, true)),
	)
	if !s.IsWill() {
		err = errors.Join(err, oneOf("phase", s.Phase, "idle", "baseline", "infusion", "observation", "ended"))
	}
	return s, err
}

// ParseVital reads a vitals/spo2 or vitals/pulse record; param is the one
// its topic names.
func ParseVital(payload []byte, param string) (Vital, error) {
	var v Vital
	if err := decode(payload, &v, &v.V); err != nil {
		return Vital{}, err
	}
	var unitErr error
	switch {
	case param == "spo2" && v.Unit != "%", param == "pulse" && v.Unit != "/min":
		unitErr = fmt.Errorf("field \"unit\" is %q, wrong for %s", v.Unit, param)
	}
	return v, errors.Join(checkRecord(v.Record), needTime("t", v.T), unitErr,
		oneOf("param", v.Param, param), checkFlags(v.Flags), field("source", CheckText(v.Source, MaxIDLen, true)))
}

func checkFlags(flags []string) error {
	if len(flags) > 16 {
		return fmt.Errorf("field \"flags\" has %d entries, more than 16", len(flags))
	}
	for _, f := range flags {
		if err := CheckText(f, MaxIDLen, false); err != nil {
			return fmt.Errorf("field \"flags\" has one that %v", err)
		}
	}
	return nil
}

// ParseNIBP reads a vitals/nibp record.
func ParseNIBP(payload []byte) (NIBP, error) {
	var n NIBP
	if err := decode(payload, &n, &n.V); err != nil {
		return NIBP{}, err
	}
	return n, errors.Join(checkRecord(n.Record), needTime("t", n.T), oneOf("param", n.Param, "nibp"),
		checkFlags(n.Flags), field("error", CheckText(n.Error, maxTextLen, true)),
		field("request", CheckText(n.Request, MaxIDLen, true)))
}

func checkAlarm(a Alarm) error {
	return errors.Join(checkRecord(a.Record), needTime("t", a.T),
		field("id", CheckText(a.ID, MaxIDLen, false)),
		field("condition", CheckText(a.Condition, MaxIDLen, false)),
		oneOf("kind", a.Kind, KindPhysiological, KindTechnical),
		oneOf("priority", a.Priority, "high", "medium", "low"),
		oneOf("phase", a.Phase, PhaseStart, PhaseUpdate, PhaseEnd),
		oneOf("state", a.State, "active", "acknowledged", "latched", "cleared"),
		field("message", CheckText(a.Message, maxTextLen, true)))
}

// ParseAlarm reads one alarm record (topic alarm).
func ParseAlarm(payload []byte) (Alarm, error) {
	var a Alarm
	if err := decode(payload, &a, &a.V); err != nil {
		return Alarm{}, err
	}
	return a, checkAlarm(a)
}

// maxAlarms bounds the retained list: a chair has a few dozen conditions.
const maxAlarms = 100

// ParseAlarms reads the retained list of current alarms (topic alarms).
func ParseAlarms(payload []byte) (Alarms, error) {
	var l Alarms
	if err := decode(payload, &l, &l.V); err != nil {
		return Alarms{}, err
	}
	if len(l.Alarms) > maxAlarms {
		return l, fmt.Errorf("field \"alarms\" has %d entries, more than %d", len(l.Alarms), maxAlarms)
	}
	errs := []error{needTime("t", l.T)}
	for i, a := range l.Alarms {
		if err := checkAlarm(a); err != nil {
			errs = append(errs, fmt.Errorf("alarms[%d]: %w", i, err))
		}
	}
	return l, errors.Join(errs...)
}

// ParseSession reads the session record (topic session).
func ParseSession(payload []byte) (Session, error) {
	var s Session
	if err := decode(payload, &s, &s.V); err != nil {
		return Session{}, err
	}
	return s, errors.Join(checkRecord(s.Record), needTime("t", s.T),
		oneOf("phase", s.Phase, "idle", "baseline", "infusion", "observation", "ended"),
		field("id", CheckText(s.ID, MaxIDLen, true)), field("encounter", CheckText(s.Encounter, MaxEncounterLen, true)),
		field("protocol", CheckText(s.Protocol, MaxIDLen, true)))
}

// ParseSummary reads a session summary record (topic session/summary).
func ParseSummary(payload []byte) (Summary, error) {
	var s Summary
	if err := decode(payload, &s, &s.V); err != nil {
		return Summary{}, err
	}
	return s, errors.Join(checkRecord(s.Record), needTime("t", s.T), field("id", CheckText(s.ID, MaxIDLen, false)))
}

// ParseGap reads a gap record (topic gap).
func ParseGap(payload []byte) (Gap, error) {
	var g Gap
	if err := decode(payload, &g, &g.V); err != nil {
		return Gap{}, err
	}
	var order error
	if g.FromSeq == 0 || g.ToSeq < g.FromSeq {
		order = fmt.Errorf("fields \"from_seq\" %d and \"to_seq\" %d are not a range", g.FromSeq, g.ToSeq)
	}
	return g, errors.Join(checkRecord(g.Record), needTime("t", g.T), order, field("reason", CheckText(g.Reason, MaxIDLen, true)))
}

// ParseReply reads a command reply (topic cmd/reply).
func ParseReply(payload []byte) (Reply, error) {
	var r Reply
	if err := decode(payload, &r, &r.V); err != nil {
		return Reply{}, err
	}
	return r, errors.Join(field("id", CheckText(r.ID, MaxIDLen, true)), field("error", CheckText(r.Error, maxTextLen, true)))
}
