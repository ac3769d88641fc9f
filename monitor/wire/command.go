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

	hasT bool // "t" was present in the payload (ParseCommand), even as the zero time
}

// ParseCommand decodes and checks a command payload. The error names the
// field that is wrong; the id is returned with the error whenever it can be
// read (from the first MaxCommandBytes bytes of an oversized or malformed
// payload too), so that the refusal can be answered: every command gets a
// reply, with an empty id when none could be read.
func ParseCommand(payload []byte) (Command, error) {
	var c Command
	if len(payload) > MaxCommandBytes {
		c.ID = peekID(payload[:MaxCommandBytes])
		// "more than", not the size: the link cuts what the broker sends
		// over its own bound (mqttlink), so the size read may be less
		// than what was sent.
		return c, fmt.Errorf("command is more than %d bytes", MaxCommandBytes)
	}
	// The outer T shadows Command.T, so that an absent (or null) "t" can be
	// told from a present one that is the zero time (year 1).
	var in struct {
		Command
		T *Time `json:"t"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		c.ID = peekID(payload)
		return c, fmt.Errorf("malformed command: %s", describeJSONError(err))
	}
	c = in.Command
	if in.T != nil {
		c.T, c.hasT = *in.T, true
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return c, errors.New("malformed command: data after the JSON object")
	}
	return c, c.Check()
}

// PeekCommandID reads the id of a command payload from its first
// MaxCommandBytes bytes only, without decoding the rest: for a refusal that
// must be quick (a busy chair) or of a payload too large to parse. "" when
// no valid id is found there.
func PeekCommandID(payload []byte) string {
	return peekID(payload[:min(len(payload), MaxCommandBytes)])
}

// peekID reads just the "id" of a command that cannot be decoded whole (bad
// JSON after the id, a field of the wrong type, an oversized payload cut
// short), so that the refusal can still be matched to its request. It reads
// the top-level object's tokens up to the id and stops there; "" when the id
// cannot be read or is not a valid id.
func peekID(payload []byte) string {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "id" {
			tok, err := dec.Token()
			id, ok := tok.(string)
			if err != nil || !ok || CheckText(id, MaxIDLen, false) != nil {
				return ""
			}
			return id
		}
		var skip json.RawMessage // a value (an oversized one ends the peek)
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The path names ParseCommand's embedding ("Command.v"): the
		// sender knows the field as "v".
		field := strings.TrimPrefix(te.Field, "Command.")
		return fmt.Sprintf("field %q must be %s, not %s", field, te.Type.String(), te.Value)
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

// CheckText refuses empty (unless allowed), over-long or non-printable text:
// control characters (newline, ESC, C1), format characters (bidi overrides)
// and the like never reach the engine, the logs or a screen.
func CheckText(s string, max int, emptyOK bool) error {
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
	if c.V == 0 {
		return fmt.Errorf("field \"v\" is missing; this chair speaks version %d", Version)
	}
	if c.V != Version {
		return fmt.Errorf("field \"v\" is %d; this chair speaks version %d", c.V, Version)
	}
	if err := CheckText(c.ID, MaxIDLen, false); err != nil {
		return fmt.Errorf("field \"id\" %v", err)
	}
	if c.T.IsZero() && !c.hasT {
		return errors.New("field \"t\" is missing")
	}
	if !IsAction(c.Action) {
		return fmt.Errorf("field \"action\": %q is not an action (%s)", c.Action, strings.Join(Actions(), ", "))
	}
	if err := CheckText(c.By, MaxByLen, false); err != nil {
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
		if err := CheckText(c.Alarm, MaxIDLen, false); err != nil {
			return fmt.Errorf("field \"alarm\" %v", err)
		}
	case ActionSessionStart:
		if err := CheckText(c.Encounter, MaxEncounterLen, true); err != nil {
			return fmt.Errorf("field \"encounter\" %v", err)
		}
	case ActionMark:
		if err := CheckText(c.Note, MaxNoteLen, false); err != nil {
			return fmt.Errorf("field \"note\" %v", err)
		}
	case ActionLimits:
		if c.Limit == nil {
			return errors.New("field \"limit\" is missing: give one [[limit]] table as an object")
		}
		if err := checkLimitText(c.Limit, 0); err != nil {
			return fmt.Errorf("field \"limit\" %v", err)
		}
	}
	return nil
}

// Bounds on a limits command's table: its keys and strings are names and
// short values, never prose.
const (
	maxLimitKeyLen = 64
	maxLimitStrLen = 200
	maxLimitDepth  = 4
)

// checkLimitText refuses a limit table whose keys or string values (at any
// depth) hold control or other non-printable characters, or are over-long:
// they end up in the alarm log and in replies.
func checkLimitText(v any, depth int) error {
	if depth > maxLimitDepth {
		return fmt.Errorf("is nested more than %d deep", maxLimitDepth)
	}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if err := CheckText(k, maxLimitKeyLen, false); err != nil {
				return fmt.Errorf("has a key %q that %v", k, err)
			}
			if err := checkLimitText(x, depth+1); err != nil {
				return fmt.Errorf("%q %v", k, err)
			}
		}
	case []any:
		for i, x := range v {
			if err := checkLimitText(x, depth+1); err != nil {
				return fmt.Errorf("[%d] %v", i, err)
			}
		}
	case string:
		if err := CheckText(v, maxLimitStrLen, true); err != nil {
			return err
		}
	}
	return nil
}
