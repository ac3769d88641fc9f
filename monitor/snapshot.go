package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/wire"
)

// SnapshotVersion is bumped when the snapshot's meaning changes.
const SnapshotVersion = 1

// Snapshot is the engine state that survives a restart: the session, the
// current alarms, the NIBP schedule, the audio pause, remembered command ids
// and id counters. Condition delays, sensor timers and the latest readings
// are not kept: they start afresh from new data.
type Snapshot struct {
	Version  int             `json:"version"`
	Taken    time.Time       `json:"taken"`
	Protocol string          `json:"protocol"`
	Session  session         `json:"session"`
	Counters counters        `json:"counters"`
	Alarms   []snapshotAlarm `json:"alarms"`
	NIBP     nibpSchedule    `json:"nibp"`
	Pause    audioPause      `json:"pause"`
	Commands commandMemory   `json:"commands"`
	AutoArm  bool            `json:"auto_start_armed"`
}

// snapshotAlarm is an alarm with the levels of its condition that held.
type snapshotAlarm struct {
	alarm
	MetLevels []protocol.Priority `json:"met_levels,omitempty"`
}

// Snapshot captures the state to save.
func (e *Engine) Snapshot() Snapshot {
	s := Snapshot{
		Version: SnapshotVersion, Taken: e.now, Protocol: e.proto.Name, Session: e.sess, Counters: e.ids,
		NIBP: e.nibp, Pause: e.pause, Commands: e.cmds, AutoArm: e.auto.armed,
	}
	s.Session.Limits = append([]protocol.Limit(nil), e.sess.Limits...)
	s.Session.Marks = append([]wire.Mark(nil), e.sess.Marks...)
	s.Commands.IDs = append([]string(nil), e.cmds.IDs...)
	s.Commands.Replies = append([]wire.Reply(nil), e.cmds.Replies...)
	s.Commands.Until = append([]time.Time(nil), e.cmds.Until...)
	for _, a := range e.alarms {
		sa := snapshotAlarm{alarm: *a}
		if pc := e.physByName(a.Key); pc != nil {
			for _, l := range pc.levels {
				if l.met {
					sa.MetLevels = append(sa.MetLevels, l.limit.Priority)
				}
			}
		}
		s.Alarms = append(s.Alarms, sa)
	}
	return s
}

func (e *Engine) physByName(name string) *physCondition {
	for _, pc := range e.phys {
		if pc.name == name {
			return pc
		}
	}
	return nil
}

// MarshalJSON / decoding use the exported fields; the snapshot is plain JSON
// so a person can read what the chair remembered after a power cut.
func (s Snapshot) Encode() ([]byte, error) { return json.Marshal(s) }

// DecodeSnapshot reads a saved snapshot, refusing one of another version.
func DecodeSnapshot(b []byte) (Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("snapshot: %w", err)
	}
	if s.Version != SnapshotVersion {
		return s, fmt.Errorf("snapshot: version %d, this chairside reads %d", s.Version, SnapshotVersion)
	}
	return s, nil
}

// Restore makes an engine that carries on from a snapshot at time now: the
// same session and phase, the same alarms (republished as updates), the NIBP
// schedule (a measurement that was running is aborted and retried). It
// returns the events that tell subscribers the state again.
func Restore(cfg Config, snap Snapshot, now time.Time) (*Engine, []Event, error) {
	e, err := New(cfg, now)
	if err != nil {
		return nil, nil, err
	}
	if snap.Version != SnapshotVersion {
		return nil, nil, fmt.Errorf("monitor: snapshot version %d, want %d", snap.Version, SnapshotVersion)
	}
	if snap.Session.Phase >= protocol.NumPhases || snap.Session.Phase == protocol.Ended {
		return nil, nil, fmt.Errorf("monitor: snapshot phase %d is not one to resume", snap.Session.Phase)
	}
	if snap.Session.Phase.InSession() && snap.Session.ID == "" {
		return nil, nil, errors.New("monitor: snapshot has a session phase but no session id")
	}
	e.begin(now)
	e.sess = snap.Session
	e.ids = snap.Counters
	sameLimb := e.nibp.sameLimb
	e.nibp = snap.NIBP
	e.nibp.sameLimb = sameLimb
	e.pause = snap.Pause
	e.cmds = snap.Commands.restored(now, 2*e.cfg.MaxCommandAge)
	e.auto.armed = snap.AutoArm
	for i := range e.sensors {
		e.sensors[i].sessionStart = now // give every sensor its stale_after again
	}
	e.nextVit = now
	e.buildRules()
	for _, sa := range snap.Alarms {
		a := sa.alarm
		a.pub = published{done: true} // known to subscribers: republish as an update
		a.pubPhase = wire.PhaseUpdate
		e.alarms = append(e.alarms, &a)
		if pc := e.physByName(a.Key); pc != nil {
			for i := range pc.levels {
				for _, p := range sa.MetLevels {
					if pc.levels[i].limit.Priority == p {
						pc.levels[i].met = true
					}
				}
			}
			if a.Present {
				pc.since = now
			}
		}
	}
	// The daemon's own observations (annunciator, store, clock, link) are
	// judged again at every start: a fault fixed before the restart (the
	// config changed, the disk replaced) must not be restored as present,
	// with nothing left to end it. One still there is raised again.
	for _, a := range e.alarms {
		if _, external := externalPriority[a.Key]; external && a.Present {
			e.end(a.Key)
			a.Message += " (judged again at restart)"
		}
	}
	if req := e.nibp.InFlight; req != "" && e.nibpIdx >= 0 {
		e.emit(NIBPAbort{Sensor: e.nibpIdx, Request: req, Reason: "chairside restarted during the measurement"})
		e.nibp.InFlight, e.nibp.HoldUntil = "", time.Time{}
		e.nibp.Next = now
	}
	e.publishSession()
	e.changed = true
	e.emit(Audit{T: now, By: "chairside", Action: "restore", OK: true,
		Detail: fmt.Sprintf("resumed session %q in phase %s with %d alarms (snapshot of %s)", e.sess.ID, e.sess.Phase, len(e.alarms), snap.Taken.UTC().Format(time.RFC3339))})
	ev := e.finish()
	return e, append([]Event(nil), ev...), nil
}
