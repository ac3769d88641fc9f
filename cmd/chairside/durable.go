package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// storage is what the daemon needs of its store (*store.Store). It is an
// interface so tests can give the daemon a disk that fails or hangs: nothing
// that alarms, annunciates or publishes may wait on it.
type storage interface {
	Commit(topic string, p wire.Stamped, clockSynced, urgent bool) (store.Record, error)
	SetOnCommitted(fn func([]store.Record))
	SaveSnapshot(b []byte) error
	Pending(after uint64, max int) ([]store.Record, error)
	Ack(seq uint64)
	Flush() error
	Stats() store.Stats
}

// stallAfter is how long a disk write may take before the daemon counts the
// disk as hung: store_fault is raised and what waited for the write goes out
// without it (records stamped in memory, replies with "durable": false). A
// healthy SD card commits in tens of milliseconds.
const stallAfter = 2 * time.Second

// openBound is how long opening the store may take before the daemon starts
// without it (store_fault): an SD card that hangs must not keep the chair
// from alarming. Generous, since Open may compact a large file.
const openBound = 15 * time.Second

// openStoreBounded opens the store, giving up after bound. A store that
// opens later is closed at once (releasing its file lock): this run goes on
// without it, with store_fault raised, and the next start tries again.
func openStoreBounded(dir string, opts store.Options, bound time.Duration) (*store.Store, error) {
	type opened struct {
		st  *store.Store
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		st, err := store.Open(dir, opts)
		ch <- opened{st, err}
	}()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.st, r.err
	case <-t.C:
		go func() {
			if r := <-ch; r.st != nil {
				_ = r.st.Close()
			}
		}()
		return nil, fmt.Errorf("store %s: opening has not finished after %s (the disk hangs?)", dir, bound)
	}
}

// faultRaiser raises store_fault for a store error: at once for the first,
// then at most once a minute with a new message, so a disk failing on every
// write does not turn into an alarm update per write (each an urgent record
// that fails again).
type faultRaiser struct {
	log   *slog.Logger
	raise func(msg string)

	mu      sync.Mutex
	last    string
	lastAt  time.Time
	pending bool
}

func (f *faultRaiser) fault(err error) {
	msg := "store: " + err.Error()
	f.log.Error("store fault", "err", err)
	f.mu.Lock()
	now := time.Now()
	send := f.lastAt.IsZero() || (msg != f.last && now.Sub(f.lastAt) >= time.Minute)
	if send {
		f.last, f.lastAt = msg, now
	}
	f.mu.Unlock()
	if send {
		f.raise(msg)
	}
}

// diskJob is one write on its way to the store: a record or an alarm-log
// entry.
type diskJob struct {
	req    writeReq
	synced bool
	// published: the record's copy stamped in memory (seq 0) has gone to
	// the publisher, because the store could not take it in time. Under
	// diskQueue.mu; a record is published without a seq at most once.
	published bool
}

// diskQueue holds the writes between the writer (runWriter, which takes the
// engine's events and never waits) and the disk goroutine (runDisk, the only
// caller of Commit and of the alarm log's Append, which may hang with the
// disk).
type diskQueue struct {
	mu       sync.Mutex
	jobs     []*diskJob
	cur      *diskJob  // the job in the store now
	since    time.Time // when cur went in; zero when none
	reported bool      // cur's stall was reported
	closed   bool
	wake     chan struct{}
}

// maxDiskJobs bounds the writes waiting for a hung disk. Past it a record is
// published without a seq and not kept (it never had a seq, so it leaves no
// hole in the record stream), and an alarm-log entry stays in the log only.
const maxDiskJobs = 8192

func newDiskQueue() *diskQueue { return &diskQueue{wake: make(chan struct{}, 1)} }

func (q *diskQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for a job; nil once the queue is closed and empty.
func (q *diskQueue) next() *diskJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.jobs) == 0 {
		if q.closed {
			return nil
		}
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
	j := q.jobs[0]
	q.jobs[0] = nil
	q.jobs = q.jobs[1:]
	q.cur, q.since, q.reported = j, time.Now(), false
	return j
}

func (q *diskQueue) done() {
	q.mu.Lock()
	q.cur, q.since = nil, time.Time{}
	q.mu.Unlock()
}

func (q *diskQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// claim marks j's record as published without a seq; false if it was
// already, or if j is no record.
func (q *diskQueue) claim(j *diskJob) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if j.req.rec == nil || j.published {
		return false
	}
	j.published = true
	return true
}

// stalled says whether the store has held the current write for longer than
// bound. If so it claims every record waiting (the one in the store and
// those queued behind it), to be published now, and says whether this stall
// is new (to report).
func (q *diskQueue) stalled(bound time.Duration) (stalled, report bool, claimed []*diskJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.since.IsZero() || time.Since(q.since) < bound {
		return false, false, nil
	}
	report = !q.reported
	q.reported = true
	for _, j := range append([]*diskJob{q.cur}, q.jobs...) {
		if j != nil && j.req.rec != nil && !j.published {
			j.published = true
			claimed = append(claimed, j)
		}
	}
	return true, report, claimed
}

// runWriter takes the engine's records and alarm-log entries and hands them
// to the disk goroutine, never waiting for the disk. The publisher gets a
// record once it is committed, with its seq: non-urgent ones from the store's
// OnCommitted after their group commit, urgent ones (alarms, session, NIBP)
// from Commit, after the fsync and after everything committed before them,
// so on a healthy disk the live records reach the publisher in seq order.
//
// When the disk fails or hangs, records do not wait for it: a failed Commit
// (ErrNotDurable, or a refusal), the store's OnNotDurable, or a write that
// has not finished within stallAfter (then every record queued behind it
// too, and every new one while it lasts) sends the record's copy stamped in
// memory (seq 0) to the publisher at once, and store_fault is raised. The
// record stays queued for the store (bounded, see maxDiskJobs): when the disk
// comes back it gets its seq and is published again, in the record stream.
// With no store at all every record goes out stamped in memory (the alarm
// log, a file of its own, is still written).
//
// Alarm-log entries (every alarm change, every audited action) take the same
// queue, in order with the records, to the alarm log file (o.alog); the
// first job opens that file and, when it is new, copies into it the entries
// an older version kept in the store (o.legacy).
func (o *outputs) runWriter(done chan<- struct{}, fault func(error)) {
	defer close(done)
	if o.st == nil && o.alog == nil {
		for req := range o.writes {
			if req.rec != nil {
				o.emitUnstored(&diskJob{req: req, synced: o.synced()})
			}
		}
		return
	}
	if o.st != nil {
		o.st.SetOnCommitted(o.committed)
	}
	bound := o.stallAfter
	if bound <= 0 {
		bound = stallAfter
	}
	q := newDiskQueue()
	if o.alog != nil {
		q.jobs = append(q.jobs, &diskJob{req: writeReq{openLog: true}})
	}
	diskDone := make(chan struct{})
	go o.runDisk(q, diskDone, fault)
	t := time.NewTicker(bound / 4)
	defer t.Stop()
	for {
		select {
		case req, ok := <-o.writes:
			if !ok {
				q.close()
				<-diskDone // bounded by the daemon's shutdown budget
				return
			}
			j := &diskJob{req: req, synced: o.synced()}
			if o.st == nil && req.rec != nil {
				o.emitUnstored(j)
				continue
			}
			if o.alog == nil && req.entry != nil {
				continue
			}
			stalled := o.checkStall(q, bound, fault)
			q.mu.Lock()
			full := len(q.jobs) >= maxDiskJobs
			if !full {
				if stalled && req.rec != nil {
					j.published = true
				}
				q.jobs = append(q.jobs, j)
			}
			q.mu.Unlock()
			switch {
			case full:
				fault(fmt.Errorf("%d writes wait for the disk; %s not kept", maxDiskJobs, req.what()))
				if req.rec != nil {
					o.emitUnstored(j)
				}
			case j.published:
				o.emitUnstored(j)
			}
			q.signal()
		case <-t.C:
			o.checkStall(q, bound, fault)
		}
	}
}

// checkStall publishes, stamped in memory, the records a hung write holds
// back, and raises store_fault once per stall.
func (o *outputs) checkStall(q *diskQueue, bound time.Duration, fault func(error)) bool {
	stalled, report, claimed := q.stalled(bound)
	if report {
		fault(fmt.Errorf("%w: a write has not finished after %s (the disk hangs?); records are published without a seq meanwhile", store.ErrStalled, bound))
	}
	for _, j := range claimed {
		o.emitUnstored(j)
	}
	return stalled
}

// runDisk is the only goroutine that writes records and alarm-log entries,
// in order; it may hang with the disk, nothing waits for it.
func (o *outputs) runDisk(q *diskQueue, done chan<- struct{}, fault func(error)) {
	defer close(done)
	if o.alog != nil {
		defer o.alog.Close()
	}
	for j := q.next(); j != nil; j = q.next() {
		o.commit(q, j, fault)
		q.done()
	}
}

func (o *outputs) commit(q *diskQueue, j *diskJob, fault func(error)) {
	switch {
	case j.req.openLog:
		o.openAlarmLog(fault)
		return
	case j.req.entry != nil:
		// A failed write keeps the entry in the writer for the next
		// one; the daemon's own log has it meanwhile.
		if err := o.alog.Append(*j.req.entry); err != nil {
			fault(fmt.Errorf("alarm log write failed: %w", err))
		}
		return
	}
	rec, err := o.st.Commit(j.req.topic, j.req.rec, j.synced, j.req.urgent)
	switch {
	case err == nil && j.req.urgent:
		o.emit(outMsg{record: true, seq: rec.Seq, topic: rec.Topic, payload: rec.Payload, retained: j.req.retained})
	case err == nil:
		// queued: o.committed publishes it after its group commit
	default:
		// Not written (ErrNotDurable: kept by the store, which publishes
		// it again with its seq once written), or refused: out now,
		// stamped in memory, unless that happened already.
		fault(err)
		if q.claim(j) {
			o.emitUnstored(j)
		}
	}
}

// emitUnstored publishes a record's in-memory copy, stamped without a seq.
func (o *outputs) emitUnstored(j *diskJob) {
	p := j.req.fb
	p.SetRecord(wire.Record{V: wire.Version, Stream: o.stream, Boot: o.boot, ClockSynced: j.synced})
	b := o.encode(p)
	if b == nil {
		return
	}
	o.emit(outMsg{record: true, topic: j.req.topic, payload: b, retained: j.req.retained})
}

// what names a write for a log line.
func (r writeReq) what() string {
	switch {
	case r.openLog:
		return "alarm log opening"
	case r.entry != nil && r.entry.Alarm != nil:
		return "alarm-log entry alarm " + r.entry.Phase
	case r.entry != nil && r.entry.Audit != nil:
		return "alarm-log entry " + r.entry.Action
	}
	return "record " + r.topic
}

// snapshotter saves the engine's snapshot on its own goroutine, so the engine
// never waits on the disk, and holds the command replies until the snapshot
// with their effect is durable (a reply is a promise the station shows a
// nurse: "session ended" must not come back as the infusion after a power
// cut). It keeps only the latest snapshot: a slow disk saves fewer, never
// older ones.
//
// A reply goes out:
//   - at once, when no snapshot is waiting to be saved (nothing of it is
//     pending);
//   - after the save of the latest snapshot taken with or after its step;
//   - with "durable": false when that save fails, when a save has not
//     finished within stallAfter (a hung disk; then also every reply while
//     it lasts), or when there is no store. The command did take effect in
//     the chair (its alarms and state already show it), so the reply says
//     ok, and store_fault (raised at the same time) says why it may not
//     survive a restart: answering "failed" would invite the nurse to send
//     it again.
type snapshotter struct {
	st      storage // nil: no store
	log     *slog.Logger
	bound   time.Duration
	fault   func(error)
	publish func(outMsg)
	topic   string // cmd/reply

	mu      sync.Mutex
	latest  []byte
	want    uint64 // generation of the latest snapshot taken
	tried   uint64 // generation of the latest save started
	saved   uint64 // generation of the latest save that succeeded
	since   time.Time
	stalled bool // the running save has taken longer than bound
	held    []heldReply
	wake    chan struct{}
	idle    *sync.Cond // broadcast when a save ends
}

type heldReply struct {
	gen   uint64
	reply wire.Reply
}

func newSnapshotter(st storage, log *slog.Logger, fault func(error), publish func(outMsg), topic string) *snapshotter {
	s := &snapshotter{st: st, log: log, bound: stallAfter, fault: fault, publish: publish, topic: topic, wake: make(chan struct{}, 1)}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// submit takes a step's snapshot (nil when the step changed nothing worth
// saving) and replies, on the engine's goroutine; it never waits.
func (s *snapshotter) submit(snap []byte, replies []wire.Reply) {
	s.mu.Lock()
	if snap != nil && s.st != nil {
		s.want++
		s.latest = snap
	}
	var durable, notDurable []wire.Reply
	for _, r := range replies {
		switch {
		case s.st == nil || s.stalled:
			notDurable = append(notDurable, r)
		case s.want == s.tried && s.since.IsZero():
			// No save pending: the latest snapshot's fate is known. (A
			// reply whose step took no snapshot, such as a redelivery
			// answered again, must not wait for a save that may never come.)
			if s.saved == s.want {
				durable = append(durable, r)
			} else {
				notDurable = append(notDurable, r)
			}
		default:
			s.held = append(s.held, heldReply{gen: s.want, reply: r})
		}
	}
	s.mu.Unlock()
	if snap != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.send(durable, true)
	s.send(notDurable, false)
}

func (s *snapshotter) send(replies []wire.Reply, durable bool) {
	for _, r := range replies {
		m := r
		if !durable {
			m.Durable = new(bool)
		}
		b, err := json.Marshal(m)
		if err != nil {
			s.log.Error("reply does not encode", "id", r.ID, "err", err)
			continue
		}
		s.publish(outMsg{topic: s.topic, payload: b})
	}
}

// releaseLocked takes the held replies of generations up to gen.
func (s *snapshotter) releaseLocked(gen uint64) []wire.Reply {
	var out []wire.Reply
	kept := s.held[:0]
	for _, h := range s.held {
		if h.gen <= gen {
			out = append(out, h.reply)
		} else {
			kept = append(kept, h)
		}
	}
	s.held = kept
	return out
}

// run saves the latest snapshot whenever there is a newer one, until ctx
// ends.
func (s *snapshotter) run(ctx context.Context) {
	if s.st == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for s.saveLatest() {
		}
	}
}

// saveLatest saves the latest snapshot if it is newer than the last tried;
// false when there was none.
func (s *snapshotter) saveLatest() bool {
	s.mu.Lock()
	if s.want == s.tried {
		s.mu.Unlock()
		return false
	}
	gen, b := s.want, s.latest
	s.tried, s.since = gen, time.Now()
	s.mu.Unlock()

	t := time.AfterFunc(s.bound, s.onStall)
	err := s.st.SaveSnapshot(b)
	t.Stop()

	s.mu.Lock()
	s.since, s.stalled = time.Time{}, false
	if err == nil {
		s.saved = gen
	}
	replies := s.releaseLocked(gen)
	s.idle.Broadcast()
	s.mu.Unlock()
	if err != nil {
		s.fault(fmt.Errorf("session snapshot not saved: %w", err))
	}
	s.send(replies, err == nil)
	return true
}

// onStall runs when a save has taken longer than bound: the held replies go
// out as not durable, and so do new ones until the save ends.
func (s *snapshotter) onStall() {
	s.mu.Lock()
	if s.since.IsZero() {
		s.mu.Unlock()
		return
	}
	s.stalled = true
	replies := s.releaseLocked(^uint64(0))
	s.mu.Unlock()
	s.fault(fmt.Errorf("%w: the session snapshot save has not finished after %s (the disk hangs?)", store.ErrStalled, s.bound))
	s.send(replies, false)
}

// wait waits until the latest snapshot was tried (for the shutdown), or
// until deadline.
func (s *snapshotter) wait(deadline time.Time) {
	if s.st == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for s.tried != s.want || !s.since.IsZero() {
			s.idle.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	waitUntil(done, deadline)
}

// takeReplies hands over the replies the last step produced (engine
// goroutine only).
func (o *outputs) takeReplies() []wire.Reply {
	r := o.replies
	o.replies = nil
	return r
}

// restoreSession makes the engine from the saved snapshot, or a fresh one.
// It returns the restore's events and the store faults found on the way
// (a snapshot unreadable, corrupt or refused), for store_fault at start.
func restoreSession(ec monitor.Config, load func() ([]byte, error), now time.Time, log *slog.Logger) (*monitor.Engine, []monitor.Event, []string, error) {
	var faults []string
	if load != nil {
		b, err := load()
		switch {
		case err != nil:
			log.Error("session snapshot unreadable; starting idle", "err", err)
			faults = append(faults, "store: session snapshot unreadable, the session was not restored: "+err.Error())
		case b != nil:
			snap, err := monitor.DecodeSnapshot(b)
			if err == nil {
				e, evs, err := monitor.Restore(ec, snap, now)
				if err == nil {
					return e, append([]monitor.Event(nil), evs...), nil, nil
				}
				log.Error("session snapshot refused; starting idle", "err", err)
				faults = append(faults, "store: session snapshot refused, the session was not restored: "+err.Error())
			} else {
				log.Error("session snapshot corrupt; starting idle", "err", err)
				faults = append(faults, "store: session snapshot corrupt, the session was not restored: "+err.Error())
			}
		}
	}
	e, err := monitor.New(ec, now)
	return e, nil, faults, err
}

// readOnlySnapshot reads the snapshot of a store that cannot be opened for
// writing (a read-only file or file system), so the session survives even
// then; nil, nil when it cannot be read either (the open error is already
// raised).
func readOnlySnapshot(dir string, bound time.Duration) func() ([]byte, error) {
	return func() ([]byte, error) {
		st, err := openStoreBounded(dir, store.Options{ReadOnly: true}, bound)
		if err != nil {
			return nil, nil
		}
		defer st.Close()
		return st.LoadSnapshot()
	}
}
