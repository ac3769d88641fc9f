package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/chairside/chairside/monitor"
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
// waits for the disk or the network: records go to the writer goroutine.
type outputs struct {
	ctx    context.Context
	log    *slog.Logger
	root   string
	stream string
	boot   uint64
	st     *store.Store // nil when the store failed to open
	synced func() bool
	ann    annunciator
	nibp   nibpDriver
	in     chan<- any // back to the engine (NIBP start failures)
	pub    *publisher

	writes chan writeReq

	mu          sync.Mutex
	lastAlarms  []byte // retained state, republished on every connect
	lastSession []byte
	state       wire.State
}

type writeReq struct {
	audit    *monitor.Audit // an alarm-log entry instead of a record
	topic    string
	rec      wire.Stamped
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
			if b := o.encode(v); b != nil {
				o.pub.send(outMsg{topic: o.topic(wire.TopicCmdReply), payload: b})
			}
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
			o.write(writeReq{audit: &v})
		}
	}
}

// queueRecord hands a record payload to the writer. It blocks only if the
// writer is thousands of records behind (a dead disk), never on the network.
func (o *outputs) queueRecord(topic string, ev any, urgent, retained bool) {
	var p wire.Stamped
	switch v := ev.(type) {
	case wire.Vital:
		p = &v
	case wire.NIBP:
		p = &v
	case wire.Alarm:
		p = &v
	case wire.Session:
		p = &v
		o.mu.Lock()
		o.state.Session, o.state.Phase = v.ID, v.Phase
		o.mu.Unlock()
	case wire.Summary:
		p = &v
	}
	o.write(writeReq{topic: topic, rec: p, urgent: urgent, retained: retained})
}

func (o *outputs) write(r writeReq) {
	select {
	case o.writes <- r:
	case <-o.ctx.Done():
	}
}

func (o *outputs) topic(suffix string) string { return o.root + "/" + suffix }

// runWriter commits records to the store; the publisher gets them once they
// are committed, with their seqs: non-urgent ones from the store's
// OnCommitted after their group commit, urgent ones (alarms, session, NIBP)
// from Commit, after the fsync and after everything committed before them, so
// the live records reach the publisher in seq order. With no store, or when
// a commit fails, the record is stamped in memory (seq 0) and published
// anyway: an alarm never waits for a broken disk.
func (o *outputs) runWriter(done chan<- struct{}, fault func(error)) {
	defer close(done)
	if o.st != nil {
		o.st.SetOnCommitted(o.committed)
	}
	for req := range o.writes {
		if req.audit != nil {
			o.audit(*req.audit)
			continue
		}
		synced := o.synced()
		if o.st != nil {
			rec, err := o.st.Commit(req.topic, req.rec, synced, req.urgent)
			switch {
			case err == nil && req.urgent:
				o.emit(outMsg{record: true, seq: rec.Seq, topic: rec.Topic, payload: rec.Payload, retained: req.retained})
				continue
			case err == nil:
				continue // queued: o.committed publishes it after its group commit
			case errors.Is(err, store.ErrNotDurable):
				// Not written (yet): the store gives it stamped, without a
				// seq, and keeps req.rec, which must not be touched again.
				fault(err)
				o.emit(outMsg{record: true, topic: rec.Topic, payload: rec.Payload, retained: req.retained})
				continue
			default:
				fault(err) // refused, not kept: stamp it here
			}
		}
		req.rec.SetRecord(wire.Record{V: wire.Version, Stream: o.stream, Boot: o.boot, ClockSynced: synced})
		msg := outMsg{record: true, topic: req.topic, payload: o.encode(req.rec), retained: req.retained}
		if msg.payload == nil {
			continue
		}
		o.emit(msg)
	}
}

// committed is the store's OnCommitted: records of non-urgent commits (and
// urgent ones whose first write failed), in seq order, once they are in the
// file. It runs on the store's goroutines and never blocks.
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

// audit writes an alarm-log entry (on the writer goroutine: it is fsynced).
func (o *outputs) audit(a monitor.Audit) {
	if o.st != nil {
		if err := o.st.LogAudit(store.Entry{T: a.T, By: a.By, Action: a.Action, Detail: a.Detail, OK: a.OK}); err != nil {
			o.log.Error("alarm log write failed", "err", err)
		}
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
