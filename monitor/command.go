package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/wire"
)

// Command is a parsed command with how it arrived.
type Command struct {
	wire.Command
	Retained bool // the broker delivered a retained message: never act on it
	Local    bool // from the bedside button: always allowed, never too old, no reply
	// Invalid is ParseCommand's error for a payload that is not a valid
	// command: it is refused with that error, answered (with whatever id
	// could be read, else an empty one) and logged, never applied.
	Invalid error
}

// commandMemory remembers the replies to recent command ids, so a redelivered
// command is answered again but not applied twice, across restarts too. An
// id is kept until a redelivery of it could no longer pass the age check
// (Until: its t + max_age, and at least max_age after it was answered); it
// is never forgotten sooner. Only commands that passed their checks are
// remembered: a malformed, retained, too old or not allowed one would be
// refused again for the same reason.
type commandMemory struct {
	IDs     []string
	Replies []wire.Reply
	Until   []time.Time `json:"until,omitempty"` // when each may be forgotten
}

func (m *commandMemory) find(id string) (wire.Reply, bool) {
	for i := len(m.IDs) - 1; i >= 0; i-- {
		if m.IDs[i] == id {
			return m.Replies[i], true
		}
	}
	return wire.Reply{}, false
}

// forget drops the ids whose Until has passed.
func (m *commandMemory) forget(now time.Time) {
	n := 0
	for i := range m.IDs {
		if now.After(m.Until[i]) {
			continue
		}
		m.IDs[n], m.Replies[n], m.Until[n] = m.IDs[i], m.Replies[i], m.Until[i]
		n++
	}
	clear(m.IDs[n:])
	clear(m.Replies[n:])
	m.IDs, m.Replies, m.Until = m.IDs[:n], m.Replies[:n], m.Until[:n]
}

func (m *commandMemory) remember(r wire.Reply, until time.Time) {
	m.IDs = append(m.IDs, r.ID)
	m.Replies = append(m.Replies, r)
	m.Until = append(m.Until, until)
}

// restored makes a snapshot's memory consistent: entries saved before Until
// existed (or with a damaged list) are kept until now + keep.
func (m commandMemory) restored(now time.Time, keep time.Duration) commandMemory {
	n := min(len(m.IDs), len(m.Replies))
	out := commandMemory{IDs: m.IDs[:n:n], Replies: m.Replies[:n:n], Until: make([]time.Time, n)}
	for i := range out.Until {
		if i < len(m.Until) && !m.Until[i].IsZero() {
			out.Until[i] = m.Until[i]
		} else {
			out.Until[i] = now.Add(keep)
		}
	}
	return out
}

// errBusy refuses a command while the id memory is full of ids too young
// to forget: forgetting one could apply its redelivery twice, so the new
// command is refused instead, and may be sent again later.
var errBusy = fmt.Errorf("busy: %d commands answered within max_age; send it again later", rememberedCmds)

// Command handles a command: it checks it (malformed, duplicate, retained,
// age, allowed), applies it, and answers with exactly one wire.Reply (unless
// local) and an Audit entry naming who asked (none for a redelivery, which
// gets its first reply again).
func (e *Engine) Command(now time.Time, c Command) []Event {
	e.begin(now)
	if c.Invalid != nil {
		e.refuse(c, c.Invalid)
		return e.finish()
	}
	if !c.Local && c.ID != "" {
		if r, ok := e.cmds.find(c.ID); ok {
			e.emit(r) // redelivery: answer again, apply once
			return e.finish()
		}
	}
	if err := e.checkCommand(c); err != nil {
		e.refuse(c, err)
		return e.finish()
	}
	if !c.Local {
		e.cmds.forget(e.now)
		if len(e.cmds.IDs) >= rememberedCmds {
			e.refuse(c, errBusy)
			return e.finish()
		}
	}
	err := e.apply(c)
	reply := wire.Reply{V: wire.Version, ID: c.ID, OK: err == nil}
	detail := describeCommand(c)
	if err == nil && c.Action == wire.ActionSessionStart {
		detail += " session=" + e.sess.ID
	}
	if err != nil {
		reply.Error = err.Error()
		detail += ": refused: " + err.Error()
	}
	e.emit(Audit{T: e.now, By: c.By, Action: c.Action, Detail: detail, OK: err == nil})
	if !c.Local {
		e.cmds.remember(reply, e.rememberUntil(c))
		e.markDirty(StateChanged)
		e.emit(reply)
	}
	return e.finish()
}

// refuse answers a command that is not applied (and not remembered), and
// logs it. Its text fields may be anything the sender put there: the log
// gets them quoted when they are not plain printable text.
func (e *Engine) refuse(c Command, err error) {
	by, action := c.By, c.Action
	if !printable(by, wire.MaxByLen) {
		by = quoted(by)
	}
	if !printable(action, 32) {
		action = quoted(action)
	}
	e.emit(Audit{T: e.now, By: by, Action: action, Detail: describeCommand(c) + ": refused: " + err.Error(), OK: false})
	if !c.Local {
		e.emit(wire.Reply{V: wire.Version, ID: c.ID, OK: false, Error: err.Error()})
	}
}

// rememberUntil is when a checked command's id may be forgotten: once a
// redelivery would be refused as older than max_age (at t + max_age; t may
// lie up to max_age ahead), and never sooner than max_age from now (a clock
// stepped back).
func (e *Engine) rememberUntil(c Command) time.Time {
	until := e.now.Add(e.cfg.MaxCommandAge)
	if t := c.T.Add(e.cfg.MaxCommandAge); t.After(until) {
		until = t
	}
	return until
}

// describeCommand is the alarm log's detail of a command. Every field from
// the sender that is not plain printable text is quoted, so no command can
// put a control character (a newline, an escape sequence) into the log.
func describeCommand(c Command) string {
	var b strings.Builder
	if printable(c.Action, 32) {
		b.WriteString(c.Action)
	} else {
		b.WriteString("command " + quoted(c.Action))
	}
	if c.ID != "" {
		b.WriteString(" id=" + safeText(c.ID, wire.MaxIDLen))
	}
	if c.Local {
		b.WriteString(" (bedside)")
	}
	switch {
	case c.Alarm != "":
		b.WriteString(" alarm=" + safeText(c.Alarm, wire.MaxIDLen))
	case c.Override:
		b.WriteString(" override")
	case c.Limit != nil:
		// JSON escapes every control character; a table too long for a
		// log line is cut.
		j, _ := json.Marshal(c.Limit)
		if len(j) > maxLoggedLimit {
			j = append(j[:maxLoggedLimit:maxLoggedLimit], "..."...)
		}
		b.WriteString(" limit=" + safeText(string(j), maxLoggedLimit+3))
	}
	return b.String()
}

// maxLoggedLimit bounds the limit table written into an alarm-log entry.
const maxLoggedLimit = 512

// printable reports whether s is at most max characters of printable text,
// by the same rule the wire applies to a command's text fields.
func printable(s string, max int) bool { return wire.CheckText(s, max, true) == nil }

// safeText is s when printable, else quoted.
func safeText(s string, max int) string {
	if printable(s, max) {
		return s
	}
	return quoted(s)
}

// quoted is s as a Go string literal, every non-printable or non-ASCII
// character escaped, cut to a bounded length first.
func quoted(s string) string {
	const maxQuoted = 64
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	return strconv.QuoteToASCII(s)
}

func (e *Engine) checkCommand(c Command) error {
	if c.Retained {
		return errors.New("retained commands are refused: publish commands without retain")
	}
	if err := c.Command.Check(); err != nil {
		return err
	}
	if c.Local {
		return nil
	}
	// Compared as times, not as a duration: the age of a t in year 1 or
	// 9999 does not fit a time.Duration (it saturates, and its negation
	// overflows).
	maxAge := e.cfg.MaxCommandAge
	if c.T.Before(e.now.Add(-maxAge)) {
		return fmt.Errorf("command is %s old, more than max_age %s (t %s)", spanBetween(c.T.Time, e.now), formatDuration(maxAge), c.T.UTC().Format(wire.TimeLayout))
	}
	if c.T.After(e.now.Add(maxAge)) {
		return fmt.Errorf("command time is %s in the future: check the station's clock (t %s)", spanBetween(e.now, c.T.Time), c.T.UTC().Format(wire.TimeLayout))
	}
	if !e.remote[c.Action] {
		return fmt.Errorf("action %s is not allowed from the station on this chair ([commands] remote)", c.Action)
	}
	return nil
}

// spanBetween says how far apart two times are (from before to), in words
// past a year (and past what a time.Duration holds).
func spanBetween(from, to time.Time) string {
	const year = 365 * 24 * time.Hour
	if to.After(from.Add(year)) {
		return "more than a year"
	}
	return formatDuration(to.Sub(from))
}

// apply carries out a checked command.
func (e *Engine) apply(c Command) error {
	inSession := e.sess.Phase.InSession()
	needSession := func() error {
		if !inSession {
			return fmt.Errorf("no session is running")
		}
		return nil
	}
	switch c.Action {
	case wire.ActionAck:
		return e.ackCommand(c.Alarm, c.By)
	case wire.ActionPauseAudio:
		var top protocol.Priority
		for _, a := range e.alarms {
			if e.audio(a) != wire.AudioOff && a.Priority > top {
				top = a.Priority
			}
		}
		e.pause = audioPause{Until: e.now.Add(e.proto.Alarm.AudioPause), Max: top}
		e.changed = true
		e.markDirty(StateChanged)
	case wire.ActionNIBPNow:
		if err := needSession(); err != nil {
			return err
		}
		return e.nibpNow()
	case wire.ActionSessionStart:
		if inSession {
			return fmt.Errorf("session %s is already running", e.sess.ID)
		}
		e.startSession(c.Encounter, c.By)
	case wire.ActionInfusionStart:
		if e.sess.Phase != protocol.Baseline {
			return fmt.Errorf("infusion_start needs the baseline phase; the session is %s", e.sess.Phase)
		}
		if a := e.findKey(condGate); a != nil && a.Present {
			if !c.Override {
				return fmt.Errorf("%s: send infusion_start with \"override\": true to proceed", a.Message)
			}
			e.sess.GateOverrideBy = c.By
		}
		if !e.sess.Baseline.Systolic.Valid {
			// The gate cannot be judged without a baseline blood pressure:
			// starting anyway is a decision someone must own, like the gate.
			if !c.Override {
				return fmt.Errorf("no baseline blood pressure (%s): send infusion_start with \"override\": true to start without one", e.noBaselineBP())
			}
			e.sess.GateOverrideBy = c.By
		}
		e.enterPhase(protocol.Infusion)
	case wire.ActionInfusionEnd:
		if e.sess.Phase != protocol.Infusion {
			return fmt.Errorf("infusion_end needs the infusion phase; the session is %s", e.sess.Phase)
		}
		e.enterPhase(protocol.Observation)
	case wire.ActionSessionEnd:
		if err := needSession(); err != nil {
			return err
		}
		e.endSession()
	case wire.ActionMark:
		if err := needSession(); err != nil {
			return err
		}
		if len(e.sess.Marks) >= maxMarks {
			return fmt.Errorf("this session already has %d marks", maxMarks)
		}
		e.sess.Marks = append(e.sess.Marks, wire.Mark{T: wire.At(e.now), Note: c.Note, By: c.By})
		e.markDirty(StateChanged)
	case wire.ActionLimits:
		if err := needSession(); err != nil {
			return err
		}
		return e.setSessionLimit(c.Limit)
	default:
		return fmt.Errorf("action %q is not handled", c.Action)
	}
	return nil
}

func (e *Engine) ackCommand(target, by string) error {
	if target == "*" {
		for _, a := range e.alarms {
			e.acknowledge(a, by)
		}
		return nil
	}
	a := e.findID(target)
	if a == nil {
		return fmt.Errorf("alarm %s is not current", target)
	}
	e.acknowledge(a, by)
	return nil
}

// setSessionLimit replaces or adds one limit for the rest of the session,
// refusing one that contradicts the limits it joins in any phase.
func (e *Engine) setSessionLimit(m map[string]any) error {
	l, err := protocol.ParseLimit(m)
	if err != nil {
		return err
	}
	next := make([]protocol.Limit, 0, len(e.sess.Limits)+1)
	for _, s := range e.sess.Limits {
		if s.Condition != l.Condition || s.Priority != l.Priority {
			next = append(next, s)
		}
	}
	next = append(next, l)
	for _, ph := range []protocol.Phase{protocol.Baseline, protocol.Infusion, protocol.Observation} {
		if msgs := protocol.Contradictions(e.proto.LimitsFor(ph, next)); len(msgs) > 0 {
			return fmt.Errorf("limit refused: %s", strings.Join(msgs, "; "))
		}
	}
	e.sess.Limits = next
	e.buildRules()
	e.markDirty(StateChanged)
	return nil
}
