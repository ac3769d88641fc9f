// Package delivery gets the engine's events durably to the broker: records
// stamped and committed to the store (the outbox) and published with their
// seq, live state and command replies published, alarm changes and audited
// actions written to the alarm log, and the engine's snapshot saved, with
// each command's reply held until the snapshot holding its effect is
// durable.
//
// Nothing here makes the engine wait for the disk or the network: Handle and
// AfterStep hand their work to goroutines of their own (a writer, a disk
// goroutine, a snapshot saver, a publisher). When the disk fails or hangs,
// records go out stamped in memory, without a seq, and the fault is reported
// (the daemon raises store_fault); when the broker is away, records wait in
// the store and go out with the backlog once it is back.
//
// The daemon wires it:
//
//	d := delivery.New(delivery.Config{...})
//	d.Start(ctx)                        // before the link runs
//	link.OnConnect(d.Connected)
//	monitor.RunLoop(..., handle, after) // handle calls d.Handle, after d.AfterStep
//	d.Drain(engine, deadline)           // at shutdown, after the engine loop
//	cancel()                            // ends ctx
//	<-d.Done()
package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/alarmlog"
	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// Store is what delivery needs of the store (*store.Store). It is an
// interface so tests can give it a disk that fails or hangs: nothing that
// alarms or publishes may wait on it.
type Store interface {
	Commit(topic string, p wire.Stamped, clockSynced, urgent bool) (store.Record, error)
	SetOnCommitted(fn func([]store.Record))
	SaveSnapshot(b []byte) error
	Pending(after uint64, max int) ([]store.Record, error)
	Ack(seq uint64)
}

// Link is what delivery needs of the broker connection (*mqttlink.Link).
type Link interface {
	Publish(topic string, qos byte, retained bool, payload []byte, done func(error))
	PublishProven(topic string, retained bool, payload []byte, acked func(), done func(error))
	Up() bool
	Status() mqttlink.LinkDown
}

// AlarmLog is what delivery needs of the alarm log file
// (*alarmlog.Writer); an interface so tests can give it a disk that fails or
// hangs. Only the disk goroutine calls it.
type AlarmLog interface {
	Open() (created bool, err error)
	Append(entries ...alarmlog.Entry) error
	Close() error
}

// DefaultStallAfter is how long a disk write may take before it counts as
// hung: the fault is reported and what waited for the write goes out without
// it (records stamped in memory, replies with "durable": false). A healthy SD
// card commits in tens of milliseconds.
const DefaultStallAfter = 2 * time.Second

// Config is what New needs. Link and Fault are required; a nil Store or
// AlarmLog means there is none.
type Config struct {
	// Root is the chair's topic root (prefix/chair); every topic is under it.
	Root string
	// Stream and Boot stamp the records published without the store.
	Stream string
	Boot   uint64
	// Store is the outbox and the snapshot's home; nil: records go out
	// stamped in memory and no snapshot is saved.
	Store Store
	// AlarmLog is the alarm log file; nil: none.
	AlarmLog AlarmLog
	// Legacy gives the entries an older version kept in the store, copied
	// into a newly created alarm log once; nil: none.
	Legacy func() ([]alarmlog.Entry, error)
	// Link is the broker connection.
	Link Link
	// ClockSynced says whether the system clock is synchronised (stamped
	// into every record); nil: always true.
	ClockSynced func() bool
	// Fault reports a store or alarm-log failure (the daemon raises
	// store_fault, see FaultRaiser). It must not block.
	Fault func(error)
	// Logger gets delivery's log lines; nil: discarded.
	Logger *slog.Logger
	// StallAfter bounds a disk write before it counts as hung; 0:
	// DefaultStallAfter.
	StallAfter time.Duration
}

// Delivery carries the engine's events out. Handle, AfterStep and Drain run
// on the engine's goroutine; the rest may be called from any goroutine.
type Delivery struct {
	ctx    context.Context
	log    *slog.Logger
	root   string
	stream string
	boot   uint64
	st     Store // nil when there is no store
	// alog is the alarm log file (nil: none); only the disk goroutine
	// touches it. legacy gives the entries an older version kept in the
	// store, copied into a new alarm log once (nil: none).
	alog   AlarmLog
	legacy func() ([]alarmlog.Entry, error)
	synced func() bool
	fault  func(error)
	pub    *publisher
	snaps  *snapshotter

	writes     chan writeReq
	writerDone chan struct{}
	stallAfter time.Duration
	replies    []wire.Reply // the current step's, for the snapshotter (engine goroutine)
	snapStep   func(stepped, time.Time)
	done       chan struct{} // closed once the publisher and the snapshot saver ended

	mu          sync.Mutex
	lastAlarms  []byte // retained state, republished on every connect
	lastSession []byte
}

// New makes a Delivery; Start starts it.
func New(cfg Config) *Delivery {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	synced := cfg.ClockSynced
	if synced == nil {
		synced = func() bool { return true }
	}
	bound := cfg.StallAfter
	if bound <= 0 {
		bound = DefaultStallAfter
	}
	d := &Delivery{ctx: context.Background(), log: log.With("part", "out"), root: cfg.Root, stream: cfg.Stream, boot: cfg.Boot,
		st: cfg.Store, alog: cfg.AlarmLog, legacy: cfg.Legacy, synced: synced, fault: cfg.Fault,
		writes: make(chan writeReq, 4096), writerDone: make(chan struct{}), stallAfter: bound, done: make(chan struct{})}
	var backlog backlogStore
	if cfg.Store != nil {
		backlog = cfg.Store
	}
	d.pub = newPublisher(cfg.Link, backlog, log.With("part", "publish"))
	d.snaps = newSnapshotter(cfg.Store, log.With("part", "snapshot"), cfg.Fault, d.pub.send, d.topic(wire.TopicCmdReply))
	d.snaps.bound = bound
	d.snapStep = d.snapshotStep()
	return d
}

// Start starts the writer, the disk goroutine, the snapshot saver and the
// publisher. The publisher and the snapshot saver end with ctx (Done); the
// writer ends with Drain. Call it once, before the link runs and before
// Handle.
func (d *Delivery) Start(ctx context.Context) {
	d.ctx = ctx
	d.pub.ctx = ctx
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.pub.run() }()
	go func() { defer wg.Done(); d.snaps.run(ctx) }()
	go func() { wg.Wait(); close(d.done) }()
	go d.runWriter(d.writerDone, d.fault)
}

// Done is closed once the goroutines that end with Start's ctx have ended.
func (d *Delivery) Done() <-chan struct{} { return d.done }

// Drain ends delivery after the engine loop stopped: it hands over the
// engine's last snapshot and replies, waits for their save until a second
// before deadline, then lets the writer commit what it holds and waits for
// it until deadline. Handle must not be called after.
func (d *Delivery) Drain(e *monitor.Engine, deadline time.Time) {
	d.snaps.submit(d.snapshot(e), d.takeReplies())
	d.snaps.wait(deadline.Add(-time.Second))
	close(d.writes)
	waitUntil(d.writerDone, deadline)
}

// recordTopic maps each record payload to its topic suffix.
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

type writeReq struct {
	entry    *alarmlog.Entry // an alarm-log entry instead of a record
	openLog  bool            // open the alarm log (the disk goroutine's first job)
	topic    string
	rec      wire.Stamped // for the store, which owns it once committed
	fb       wire.Stamped // a copy of rec, stamped in memory if the store cannot take rec in time
	urgent   bool
	retained bool
}

// Handle takes one step's events, in order, on the engine's goroutine, and
// never waits for the disk or the network: records and alarm-log entries go
// to the writer, replies wait in the snapshotter for their effect to be
// durable (see AfterStep), the alarm list goes to the publisher. Events that
// are not delivery's (annunciation, NIBP requests) are left to the caller.
func (d *Delivery) Handle(evs []monitor.Event) {
	for _, ev := range evs {
		if a, ok := ev.(wire.Alarm); ok {
			// The log is the local trace of every alarm, also while the
			// link is down or the annunciator is "none".
			d.log.Warn("alarm", "id", a.ID, "condition", a.Condition, "priority", a.Priority, "phase", a.Phase,
				"state", a.State, "audio", a.Audio, "message", a.Message)
			e := alarmlog.FromAlarm(a)
			d.write(writeReq{entry: &e})
		}
		if suffix, urgent, retained, ok := recordTopic(ev); ok {
			d.queueRecord(d.topic(suffix), ev, urgent, retained)
			continue
		}
		switch v := ev.(type) {
		case wire.Alarms:
			b := d.encode(v)
			if b == nil {
				continue
			}
			d.mu.Lock()
			d.lastAlarms = b
			d.mu.Unlock()
			d.pub.send(outMsg{topic: d.topic(wire.TopicAlarms), payload: b, retained: true})
		case wire.Reply:
			d.replies = append(d.replies, v) // published once the step's effect is durable
		case monitor.Audit:
			d.log.Info("audit", "by", v.By, "action", v.Action, "ok", v.OK, "detail", v.Detail)
			e := auditEntry(v)
			d.write(writeReq{entry: &e})
		}
	}
}

// auditEntry makes the alarm-log entry of an audited action.
func auditEntry(a monitor.Audit) alarmlog.Entry {
	return alarmlog.Entry{T: wire.At(a.T), Kind: alarmlog.KindAudit, Audit: &alarmlog.Audit{By: a.By, Action: a.Action, OK: a.OK, Detail: a.Detail}}
}

// queueRecord hands a record payload to the writer, which never waits for
// the disk (see runWriter), so neither does this, nor the network.
func (d *Delivery) queueRecord(topic string, ev any, urgent, retained bool) {
	d.write(writeReq{topic: topic, rec: stampable(ev), fb: stampable(ev), urgent: urgent, retained: retained})
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

func (d *Delivery) write(r writeReq) {
	select {
	case d.writes <- r:
	case <-d.ctx.Done():
	}
}

func (d *Delivery) topic(suffix string) string { return d.root + "/" + suffix }

// committed is the store's OnCommitted: records of non-urgent commits (and
// urgent ones whose first write failed), in seq order, once they are in the
// file. It is also its OnNotDurable (see NotDurable). It runs on the store's
// goroutines and never blocks.
func (d *Delivery) committed(recs []store.Record) {
	session := d.topic(wire.TopicSession)
	for _, r := range recs {
		d.emit(outMsg{record: true, seq: r.Seq, topic: r.Topic, payload: r.Payload, retained: r.Topic == session})
	}
}

// NotDurable is the store's OnNotDurable: the records a failing disk holds,
// without a seq (Seq 0), go out at once. It never blocks.
func (d *Delivery) NotDurable(recs []store.Record) { d.committed(recs) }

// emit hands a record to the publisher, keeping the latest session record to
// republish at every connect.
func (d *Delivery) emit(msg outMsg) {
	if msg.topic == d.topic(wire.TopicSession) {
		d.mu.Lock()
		d.lastSession = msg.payload
		d.mu.Unlock()
	}
	d.pub.send(msg)
}

// Connected is the link's OnConnect: the retained live state (the alarm list
// and the latest session record) goes out again, then the store's backlog.
func (d *Delivery) Connected() {
	d.mu.Lock()
	alarms, session := d.lastAlarms, d.lastSession
	d.mu.Unlock()
	if alarms != nil {
		d.pub.send(outMsg{topic: d.topic(wire.TopicAlarms), payload: alarms, retained: true})
	}
	if session != nil {
		d.pub.send(outMsg{topic: d.topic(wire.TopicSession), payload: session, retained: true})
	}
	d.pub.resend()
}

// Resend asks for a backlog pass now, e.g. when the link delivers again
// after a broker that acknowledged and dropped (an ACL fixed), rather than
// at the next sweep.
func (d *Delivery) Resend() { d.pub.resend() }

// ReplyNow publishes a reply at once, not held for any snapshot: the answer
// to a command the engine never saw (refused as busy). It never blocks.
func (d *Delivery) ReplyNow(r wire.Reply) {
	b := d.encode(r)
	if b == nil {
		return
	}
	d.pub.send(outMsg{topic: d.topic(wire.TopicCmdReply), payload: b})
}

// encode makes a payload's JSON; a payload that cannot be encoded is logged
// and skipped (nil), never a crash.
func (d *Delivery) encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		d.log.Error("payload does not encode", "type", fmt.Sprintf("%T", v), "err", err)
		return nil
	}
	return b
}

// takeReplies hands over the replies the last step produced (engine
// goroutine only).
func (d *Delivery) takeReplies() []wire.Reply {
	r := d.replies
	d.replies = nil
	return r
}

func waitUntil(ch <-chan struct{}, deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}
