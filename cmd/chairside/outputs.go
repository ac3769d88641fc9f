package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/alarmlog"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// annunciator shows the engine's wanted lamp and buzzer state.
type annunciator interface {
	Show(monitor.Annunciation)
	Remind()
}

// logAnnunciator stands in when kind = "none": the log is the only local trace.
type logAnnunciator struct{ log *slog.Logger }

func (a logAnnunciator) Show(s monitor.Annunciation) {
	a.log.Info("annunciation", "lamp", s.Lamp.String(), "flashing", s.Flashing, "tone", s.Tone.String())
}
func (a logAnnunciator) Remind() { a.log.Info("reminder tone") }

// recordTopics maps each record payload to its topic suffix.
func recordTopic(ev any) (suffix string, urgent, retained bool, ok bool) {
	switch v := ev.(type) {
	case wire.Vital:
		if v.Param == vitals.SpO2.String() {
			return wire.TopicSpO2, false, false, true
		}
		return wire.TopicPulse, false, false, true
	case wire.NIBP:
		return wire.TopicNIBP, true, false, true
	case wire.Alarm:
		return wire.TopicAlarm, true, false, true
	case wire.Session:
		return wire.TopicSession, true, true, true
	case wire.Summary:
		return wire.TopicSummary, true, false, true
	}
	return "", false, false, false
}

// outMsg is a message on its way to the broker. A record-stream message is
// committed (seq > 0, in the store until acknowledged) or, with the store
// down or failing, stamped in memory (seq 0: nothing to acknowledge).
type outMsg struct {
	record   bool // a record-stream message (not live state or a reply)
	seq      uint64
	topic    string
	payload  []byte
	retained bool
}

// outputs carries the engine's events out: records to the store and the
// broker, live state to the broker, requests to the NIBP driver, the
// annunciation to the lamps. handle runs on the engine's goroutine and never
// waits for the disk or the network: records go to the writer goroutine,
// replies wait in the snapshotter for their effect to be durable.
type outputs struct {
	ctx    context.Context
	log    *slog.Logger
	root   string
	stream string
	boot   uint64
	st     storage // nil when the store failed to open
	// alog is the alarm log file (nil: none, in tests); only the disk
	// goroutine touches it. legacy gives the entries an older version
	// kept in the store, copied into a new alarm log once (nil: none).
	alog   alarmLogger
	legacy func() ([]alarmlog.Entry, error)
	synced func() bool
	ann    annunciator
	nibp   nibpDriver
	in     chan<- any // back to the engine (NIBP start failures)
	pub    *publisher

	writes     chan writeReq
	stallAfter time.Duration // 0: stallAfter
	replies    []wire.Reply  // the current step's, for the snapshotter (engine goroutine)

	mu          sync.Mutex
	lastAlarms  []byte // retained state, republished on every connect
	lastSession []byte
	state       wire.State
}

type writeReq struct {
	entry    *alarmlog.Entry // an alarm-log entry instead of a record
	openLog  bool            // open the alarm log (the disk goroutine's first job)
	topic    string
	rec      wire.Stamped // for the store, which owns it once committed
	fb       wire.Stamped // a copy of rec, stamped in memory if the store cannot take rec in time
	urgent   bool
	retained bool
}

// handle dispatches one step's events, in order.
func (o *outputs) handle(evs []monitor.Event) {
	for _, ev := range evs {
		if a, ok := ev.(wire.Alarm); ok {
			// The log is the local trace of every alarm, also while the
			// link is down or the annunciator is "none".
			o.log.Warn("alarm", "id", a.ID, "condition", a.Condition, "priority", a.Priority, "phase", a.Phase,
				"state", a.State, "audio", a.Audio, "message", a.Message)
			e := alarmlog.FromAlarm(a)
			o.write(writeReq{entry: &e})
		}
		if suffix, urgent, retained, ok := recordTopic(ev); ok {
			o.queueRecord(o.topic(suffix), ev, urgent, retained)
			continue
		}
		switch v := ev.(type) {
		case wire.Alarms:
			b := o.encode(v)
			if b == nil {
				continue
			}
			o.mu.Lock()
			o.lastAlarms = b
			o.mu.Unlock()
			o.pub.send(outMsg{topic: o.topic(wire.TopicAlarms), payload: b, retained: true})
		case wire.Reply:
			o.replies = append(o.replies, v) // published once the step's effect is durable
		case monitor.NIBPStart:
			o.startNIBP(v)
		case monitor.NIBPAbort:
			if o.nibp != nil {
				if err := o.nibp.Abort(); err != nil {
					o.log.Info("nibp abort", "request", v.Request, "reason", v.Reason, "err", err)
				}
			}
		case monitor.Annunciation:
			o.ann.Show(v)
		case monitor.Reminder:
			o.ann.Remind()
		case monitor.Audit:
			o.log.Info("audit", "by", v.By, "action", v.Action, "ok", v.OK, "detail", v.Detail)
			e := auditEntry(v)
			o.write(writeReq{entry: &e})
		}
	}
}

// queueRecord hands a record payload to the writer, which never waits for
// the disk (see runWriter), so neither does this, nor the network.
func (o *outputs) queueRecord(topic string, ev any, urgent, retained bool) {
	if v, ok := ev.(wire.Session); ok {
		o.mu.Lock()
		o.state.Session, o.state.Phase = v.ID, v.Phase
		o.mu.Unlock()
	}
	o.write(writeReq{topic: topic, rec: stampable(ev), fb: stampable(ev), urgent: urgent, retained: retained})
}

// stampable gives a record payload as a fresh copy to stamp; the store and
// the fallback each get their own, so neither touches the other's.
func stampable(ev any) wire.Stamped {
	switch v := ev.(type) {
	case wire.Vital:
		return &v
	case wire.NIBP:
		return &v
	case wire.Alarm:
		return &v
	case wire.Session:
		return &v
	case wire.Summary:
		return &v
	}
	return nil
}

func (o *outputs) write(r writeReq) {
	select {
	case o.writes <- r:
	case <-o.ctx.Done():
	}
}

func (o *outputs) topic(suffix string) string { return o.root + "/" + suffix }

// committed is the store's OnCommitted: records of non-urgent commits (and
// urgent ones whose first write failed), in seq order, once they are in the
// file. It is also its OnNotDurable: records the failing disk holds, without
// a seq (Seq 0). It runs on the store's goroutines and never blocks.
func (o *outputs) committed(recs []store.Record) {
	session := o.topic(wire.TopicSession)
	for _, r := range recs {
		o.emit(outMsg{record: true, seq: r.Seq, topic: r.Topic, payload: r.Payload, retained: r.Topic == session})
	}
}

// emit hands a record to the publisher, keeping the latest session record to
// republish at every connect.
func (o *outputs) emit(msg outMsg) {
	if msg.topic == o.topic(wire.TopicSession) {
		o.mu.Lock()
		o.lastSession = msg.payload
		o.mu.Unlock()
	}
	o.pub.send(msg)
}

func (o *outputs) startNIBP(s monitor.NIBPStart) {
	if o.nibp == nil {
		return
	}
	if err := o.nibp.Start(o.ctx, s.Request); err != nil {
		// Tell the engine at once rather than let it wait for its time-out.
		go func() {
			select {
			case o.in <- vitals.Result{Sensor: s.Sensor, Request: s.Request, Failure: "could not start: " + err.Error()}:
			case <-o.ctx.Done():
			}
		}()
	}
}

// retained gives the live state to republish after a (re)connect.
func (o *outputs) retained() (alarms, session []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastAlarms, o.lastSession
}

// encode makes a payload's JSON; a payload that cannot be encoded is logged
// and skipped (nil), never a crash.
func (o *outputs) encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		o.log.Error("payload does not encode", "type", fmt.Sprintf("%T", v), "err", err)
		return nil
	}
	return b
}
