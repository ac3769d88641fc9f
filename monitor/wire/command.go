package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Command actions (CONTRACT §4).
const (
	ActionAck           = "ack"
	ActionPauseAudio    = "pause_audio"
	ActionNIBPNow       = "nibp_now"
	ActionSessionStart  = "session_start"
	ActionInfusionStart = "infusion_start"
	ActionInfusionEnd   = "infusion_end"
	ActionSessionEnd    = "session_end"
	ActionMark          = "mark"
	ActionLimits        = "limits"
)

// Actions lists every command action.
func Actions() []string {
	return []string{ActionAck, ActionPauseAudio, ActionNIBPNow, ActionSessionStart,
		ActionInfusionStart, ActionInfusionEnd, ActionSessionEnd, ActionMark, ActionLimits}
}

// IsAction reports whether s is a known action.
func IsAction(s string) bool {
	for _, a := range Actions() {
		if a == s {
			return true
		}
	}
	return false
}

// Limits on command fields: a command is small, and anything else is refused
// before it reaches the engine.
const (
	MaxCommandBytes = 4096
	MaxIDLen        = 64
	MaxByLen        = 64
	MaxNoteLen      = 200
	MaxEncounterLen = 64
)

// Command is a request to the chair (topic cmd).
type Command struct {
	V         int            `json:"v"`
	ID        string         `json:"id"`
	T         Time           `json:"t"`
	Action    string         `json:"action"`
	By        string         `json:"by"`
	Alarm     string         `json:"alarm,omitempty"`     // ack: "a-..." or "*"
	Encounter string         `json:"encounter,omitempty"` // session_start
	Override  bool           `json:"override,omitempty"`  // infusion_start
	Note      string         `json:"note,omitempty"`      // mark
	Limit     map[string]any `json:"limit,omitempty"`     // limits: one [[limit]] table
}

// ParseCommand decodes and checks a command payload. The error names the
// field that is wrong; when the id could be read, it is returned with the
// error so the refusal can be answered.
func ParseCommand(payload []byte) (Command, error) {
	var c Command
	if len(payload) > MaxCommandBytes {
		return c, fmt.Errorf("command is %d bytes, more than %d", len(payload), MaxCommandBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		c.ID = peekID(payload)
		return c, fmt.Errorf("malformed command: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return c, errors.New("malformed command: data after the JSON object")
	}
	return c, c.Check()
}

// peekID tries to read just the id of a command that failed to decode, so the
// refusal can still be matched to its request.
func peekID(payload []byte) string {
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &probe) != nil || checkText(probe.ID, MaxIDLen, false) != nil {
		return ""
	}
	return probe.ID
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type.String(), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	if s := err.Error(); strings.HasPrefix(s, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(s, "json: unknown field ")
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// checkText refuses empty (unless allowed), over-long or non-printable text.
func checkText(s string, max int, emptyOK bool) error {
	if s == "" {
		if emptyOK {
			return nil
		}
		return errors.New("is empty")
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("is %d characters, more than %d", n, max)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("contains a control character %U", r)
		}
	}
	return nil
}

// Check tests the command's fields against its action.
func (c Command) Check() error {
	if c.V != Version {
		return fmt.Errorf("field \"v\" is %d; this chair speaks version %d", c.V, Version)
	}
	if err := checkText(c.ID, MaxIDLen, false); err != nil {
		return fmt.Errorf("field \"id\" %v", err)
	}
	if c.T.IsZero() {
		return errors.New("field \"t\" is missing")
	}
	if !IsAction(c.Action) {
		return fmt.Errorf("field \"action\": %q is not an action (%s)", c.Action, strings.Join(Actions(), ", "))
	}
	if err := checkText(c.By, MaxByLen, false); err != nil {
		return fmt.Errorf("field \"by\" %v", err)
	}
	unused := func(field string, set bool) error {
		if set {
			return fmt.Errorf("field %q is not used by action %s", field, c.Action)
		}
		return nil
	}
	return errors.Join(
		unused("alarm", c.Alarm != "" && c.Action != ActionAck),
		unused("encounter", c.Encounter != "" && c.Action != ActionSessionStart),
		unused("override", c.Override && c.Action != ActionInfusionStart),
		unused("note", c.Note != "" && c.Action != ActionMark),
		unused("limit", c.Limit != nil && c.Action != ActionLimits),
		c.checkAction(),
	)
}

func (c Command) checkAction() error {
	switch c.Action {
	case ActionAck:
		if c.Alarm == "" {
			return errors.New("field \"alarm\" is missing: give an alarm id or \"*\"")
		}
		if err := checkText(c.Alarm, MaxIDLen, false); err != nil {
			return fmt.Errorf("field \"alarm\" %v", err)
		}
	case ActionSessionStart:
		if err := checkText(c.Encounter, MaxEncounterLen, true); err != nil {
			return fmt.Errorf("field \"encounter\" %v", err)
		}
	case ActionMark:
		if err := checkText(c.Note, MaxNoteLen, false); err != nil {
			return fmt.Errorf("field \"note\" %v", err)
		}
	case ActionLimits:
		if c.Limit == nil {
			return errors.New("field \"limit\" is missing: give one [[limit]] table as an object")
		}
	}
	return nil
}
