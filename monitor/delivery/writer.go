package delivery

import (
	"fmt"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor/alarmlog"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

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
// has not finished within Config.StallAfter (then every record queued behind
// it too, and every new one while it lasts) sends the record's copy stamped in
// memory (seq 0) to the publisher at once, and store_fault is raised. The
// record stays queued for the store (bounded, see maxDiskJobs): when the disk
// comes back it gets its seq and is published again, in the record stream.
// With no store at all every record goes out stamped in memory (the alarm
// log, a file of its own, is still written).
//
// Alarm-log entries (every alarm change, every audited action) take the same
// queue, in order with the records, to the alarm log file (d.alog); the
// first job opens that file and, when it is new, copies into it the entries
// an older version kept in the store (d.legacy).
func (d *Delivery) runWriter(done chan<- struct{}, fault func(error)) {
	defer close(done)
	if d.st == nil && d.alog == nil {
		for req := range d.writes {
			if req.rec != nil {
				d.emitUnstored(&diskJob{req: req, synced: d.synced()})
			}
		}
		return
	}
	if d.st != nil {
		d.st.SetOnCommitted(d.committed)
	}
	bound := d.stallAfter
	q := newDiskQueue()
	if d.alog != nil {
		q.jobs = append(q.jobs, &diskJob{req: writeReq{openLog: true}})
	}
	diskDone := make(chan struct{})
	go d.runDisk(q, diskDone, fault)
	t := time.NewTicker(bound / 4)
	defer t.Stop()
	for {
		select {
		case req, ok := <-d.writes:
			if !ok {
				q.close()
				<-diskDone // bounded by the daemon's shutdown budget
				return
			}
			j := &diskJob{req: req, synced: d.synced()}
			if d.st == nil && req.rec != nil {
				d.emitUnstored(j)
				continue
			}
			if d.alog == nil && req.entry != nil {
				continue
			}
			stalled := d.checkStall(q, bound, fault)
			// Decided under q.mu: once queued, j belongs to the disk
			// goroutine too, whose failed commit may claim it meanwhile.
			q.mu.Lock()
			full := len(q.jobs) >= maxDiskJobs
			publishNow := !full && stalled && req.rec != nil
			if !full {
				j.published = publishNow
				q.jobs = append(q.jobs, j)
			}
			q.mu.Unlock()
			switch {
			case full:
				fault(fmt.Errorf("%d writes wait for the disk; %s not kept", maxDiskJobs, req.what()))
				if req.rec != nil {
					d.emitUnstored(j)
				}
			case publishNow:
				d.emitUnstored(j)
			}
			q.signal()
		case <-t.C:
			d.checkStall(q, bound, fault)
		}
	}
}

// checkStall publishes, stamped in memory, the records a hung write holds
// back, and raises store_fault once per stall.
func (d *Delivery) checkStall(q *diskQueue, bound time.Duration, fault func(error)) bool {
	stalled, report, claimed := q.stalled(bound)
	if report {
		fault(fmt.Errorf("%w: a write has not finished after %s (the disk hangs?); records are published without a seq meanwhile", store.ErrStalled, bound))
	}
	for _, j := range claimed {
		d.emitUnstored(j)
	}
	return stalled
}

// runDisk is the only goroutine that writes records and alarm-log entries,
// in order; it may hang with the disk, nothing waits for it.
func (d *Delivery) runDisk(q *diskQueue, done chan<- struct{}, fault func(error)) {
	defer close(done)
	if d.alog != nil {
		defer d.alog.Close()
	}
	for j := q.next(); j != nil; j = q.next() {
		d.commit(q, j, fault)
		q.done()
	}
}

func (d *Delivery) commit(q *diskQueue, j *diskJob, fault func(error)) {
	switch {
	case j.req.openLog:
		d.openAlarmLog(fault)
		return
	case j.req.entry != nil:
		// A failed write keeps the entry in the writer for the next
		// one; the daemon's own log has it meanwhile.
		if err := d.alog.Append(*j.req.entry); err != nil {
			fault(fmt.Errorf("alarm log write failed: %w", err))
		}
		return
	}
	rec, err := d.st.Commit(j.req.topic, j.req.rec, j.synced, j.req.urgent)
	switch {
	case err == nil && j.req.urgent:
		d.emit(outMsg{record: true, seq: rec.Seq, topic: rec.Topic, payload: rec.Payload, retained: j.req.retained})
	case err == nil:
		// queued: d.committed publishes it after its group commit
	default:
		// Not written (ErrNotDurable: kept by the store, which publishes
		// it again with its seq once written), or refused: out now,
		// stamped in memory, unless that happened already.
		fault(err)
		if q.claim(j) {
			d.emitUnstored(j)
		}
	}
}

// emitUnstored publishes a record's in-memory copy, stamped without a seq.
func (d *Delivery) emitUnstored(j *diskJob) {
	p := j.req.fb
	p.SetRecord(wire.Record{V: wire.Version, Stream: d.stream, Boot: d.boot, ClockSynced: j.synced})
	b := d.encode(p)
	if b == nil {
		return
	}
	d.emit(outMsg{record: true, topic: j.req.topic, payload: b, retained: j.req.retained})
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

// LegacyEntries reads the entries an older version kept in the store's audit
// bucket (Config.Legacy).
func LegacyEntries(st *store.Store) func() ([]alarmlog.Entry, error) {
	return func() ([]alarmlog.Entry, error) {
		var out []alarmlog.Entry
		err := st.AuditLog(func(e store.Entry) error {
			out = append(out, alarmlog.FromStore(e))
			return nil
		})
		return out, err
	}
}

// openAlarmLog opens the alarm log file (the disk goroutine's first job)
// and, when it is new, copies the store's older entries into it, so that
// -alarm-log shows them while the daemon runs. A failure raises store_fault;
// the writer tries to open the file again at the next entry.
func (d *Delivery) openAlarmLog(fault func(error)) {
	created, err := d.alog.Open()
	if err != nil {
		fault(fmt.Errorf("alarm log not opened: %w", err))
		return
	}
	if !created || d.legacy == nil {
		return
	}
	old, err := d.legacy()
	if err != nil {
		fault(fmt.Errorf("alarm log: the store's older entries not copied: %w", err))
	}
	if len(old) == 0 {
		return
	}
	if err := d.alog.Append(old...); err != nil {
		fault(fmt.Errorf("alarm log: the store's older entries not copied: %w", err))
	}
}
