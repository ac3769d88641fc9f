package monitor

import (
	"errors"
	"fmt"
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
}

// commandMemory remembers the replies to recent command ids, so a redelivered
// command is answered again but not applied twice, across restarts too.
type commandMemory struct {
	IDs     []string
	Replies []wire.Reply
}

func (m *commandMemory) find(id string) (wire.Reply, bool) {
	for i := len(m.IDs) - 1; i >= 0; i-- {
		if m.IDs[i] == id {
			return m.Replies[i], true
		}
	}
	return wire.Reply{}, false
}

func (m *commandMemory) remember(r wire.Reply) {
	if len(m.IDs) >= rememberedCmds {
		n := copy(m.IDs, m.IDs[1:])
		m.IDs = m.IDs[:n]
		copy(m.Replies, m.Replies[1:])
		m.Replies = m.Replies[:n]
	}
	m.IDs = append(m.IDs, r.ID)
	m.Replies = append(m.Replies, r)
}

// Command handles a command: it checks it (duplicate, retained, age,
// allowed), applies it, and answers with a wire.Reply (unless local) and an
// Audit entry naming who asked.
func (e *Engine) Command(now time.Time, c Command) []Event {
	e.begin(now)
	if !c.Local && c.ID != "" {
		if r, ok := e.cmds.find(c.ID); ok {
			e.emit(r) // redelivery: answer again, apply once
			return e.finish()
		}
	}
	err := e.checkCommand(c)
	if err == nil {
		err = e.apply(c)
	}
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
	if !c.Local && c.ID != "" {
		e.cmds.remember(reply)
		e.markDirty(StateChanged)
		e.emit(reply)
	}
	return e.finish()
}

func describeCommand(c Command) string {
	var b strings.Builder
	b.WriteString(c.Action)
	if c.ID != "" {
		b.WriteString(" id=" + c.ID)
	}
	if c.Local {
		b.WriteString(" (bedside)")
	}
	switch {
	case c.Alarm != "":
		b.WriteString(" alarm=" + c.Alarm)
	case c.Override:
		b.WriteString(" override")
	case c.Limit != nil:
		fmt.Fprintf(&b, " limit=%v", c.Limit)
	}
	return b.String()
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
	if age := e.now.Sub(c.T.Time); age > e.cfg.MaxCommandAge {
		return fmt.Errorf("command is %s old, more than max_age %s", formatDuration(age), formatDuration(e.cfg.MaxCommandAge))
	} else if -age > e.cfg.MaxCommandAge {
		return fmt.Errorf("command time is %s in the future: check the station's clock", formatDuration(-age))
	}
	if !e.remote[c.Action] {
		return fmt.Errorf("action %s is not allowed from the station on this chair ([commands] remote)", c.Action)
	}
	return nil
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
