package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chairside/chairside/monitor/wire"
)

// Record is one committed record-stream message, ready to publish as is. The
// caller must not modify Payload.
type Record struct {
	Seq     uint64
	Topic   string
	Payload []byte // the JSON to publish, with v, stream, seq, boot, clock_synced
}

// queued is a record waiting in memory for its group commit. It has no seq
// yet: the transaction that writes it assigns one, then stamps and encodes p.
type queued struct {
	topic  string
	p      wire.Stamped
	cls    class
	synced bool
	size   int  // its share of pendSize
	wait   bool // its urgent Commit waits for it: returned there, not given to OnCommitted
	// unsequenced is the payload stamped without a seq, and told says a
	// caller has had it (an urgent Commit's failure, an ErrNotDurable,
	// OnNotDurable): a record is given out without a seq at most once.
	unsequenced []byte
	told        bool
}

// DefaultPendingMax is how many records Pending returns when asked for max <= 0.
const DefaultPendingMax = 1000

// seqRoom is what a seq can add to an encoded payload: `"seq":` and 20
// digits and a comma (the unsequenced encoding omits the field).
const seqRoom = 27

// Commit queues p, a record-stream message, for the next group commit, which
// gives it the next seq (continuing across restarts and power cuts, never
// reused), stamps its record fields (v, stream, seq, boot, clock_synced) and
// encodes it inside the transaction that writes it. p belongs to the store
// from then on: the caller must not touch it again (nor commit the same p
// twice), except to publish the Record an error below gives back.
//
// A non-urgent record reaches the file within CommitEvery, together with
// everything else queued, in one transaction; Commit returns a zero Record at
// once, and the record, with its seq, goes to Options.OnCommitted after the
// fsync. An urgent one (alarms, session changes) is written and fsynced with
// everything queued before it; Commit returns it with its seq, after the
// records committed before it reached OnCommitted, so a publisher fed by both
// sees them in seq order.
//
// Errors: ErrClosed, ErrReadOnly; ErrFull for a vital while the store is full
// of records it never drops; encoding or topic errors. None of these queues
// the record or uses a seq; the caller may stamp p itself to publish it
// anyway.
//
// An error wrapping ErrNotDurable comes with a Record to publish anyway
// (alarms and vitals never wait for a broken disk): the stamped payload with
// Seq 0 (no "seq" field), like a message of a daemon without a store. For an
// urgent record it means its group commit failed; for a non-urgent one that
// the last group commit failed, or has been running for longer than
// StallAfter (ErrStalled: a hung disk). The record stays queued and, when a
// later commit succeeds, gets its seq then and goes to OnCommitted like a
// non-urgent one (a second message, now in the record stream); only a
// non-urgent record that finds the queue over its bound is not kept. A
// non-urgent Commit that finds the store failing first hands the records
// queued before, which no caller has had, to OnNotDurable.
func (s *Store) Commit(topic string, p wire.Stamped, clockSynced, urgent bool) (Record, error) {
	if p == nil || isNilPointer(p) {
		return Record{}, fmt.Errorf("store %s: commit %s: nil payload", s.path, topic)
	}
	if err := checkTopic(topic); err != nil {
		return Record{}, fmt.Errorf("store %s: commit: %w", s.path, err)
	}
	// Encoding it now, without a seq, refuses a payload that cannot be
	// encoded (no seq is used) and gives what to publish if it cannot be
	// written.
	unsequenced, err := s.encode(topic, p, 0, clockSynced)
	if err != nil {
		return Record{}, err
	}
	q := queued{topic: topic, p: p, cls: classify(topic), synced: clockSynced, size: recordHeader + len(topic) + 2*len(unsequenced) + seqRoom,
		wait: urgent, unsequenced: unsequenced, told: urgent}
	notDurable := func(what string, err error) (Record, error) {
		return Record{Topic: topic, Payload: unsequenced}, fmt.Errorf("store %s: commit %s: %s: %w: %w", s.path, topic, what, ErrNotDurable, err)
	}
	if urgent {
		// Holding writeMu from before it is queued, this call's group
		// commit is the one that writes it.
		s.writeMu.Lock()
		s.mu.Lock()
		err := s.enqueue(q)
		s.mu.Unlock()
		if err != nil {
			s.writeMu.Unlock()
			return Record{}, err
		}
		rec, err := s.commitLocked()
		if err != nil {
			return notDurable("not written", err)
		}
		return rec, nil
	}
	s.mu.Lock()
	err = s.admit(q.cls)
	over := s.overQueued()
	trouble := s.troubleLocked()
	var told []Record
	if err == nil && trouble != nil {
		told = s.untoldLocked()
	}
	s.mu.Unlock()
	s.tell(told) // before this record: they were queued first
	switch {
	case err != nil:
		return Record{}, err
	case over && trouble != nil:
		// The disk keeps failing; the writer retries once a window.
		return notDurable("queue full and the disk is failing; not kept", trouble)
	case over:
		// The writer has fallen behind: write now.
		if err := s.flush(); err != nil {
			return notDurable("queue full and the group commit failed; not kept", err)
		}
	}
	q.told = trouble != nil
	s.mu.Lock()
	err = s.enqueue(q)
	kick := err == nil && s.shouldKick()
	s.mu.Unlock()
	if err != nil {
		return Record{}, err
	}
	if kick {
		s.wake()
	}
	if trouble != nil {
		return notDurable("the disk is failing; kept for a later group commit", trouble)
	}
	return Record{}, nil
}

// troubleLocked says why non-urgent records must not wait for the disk: the
// last group commit failed, or the running one has taken longer than
// StallAfter (a hung disk). Nil when the disk is keeping up; under s.mu.
func (s *Store) troubleLocked() error {
	if s.failErr != nil {
		return s.failErr
	}
	if !s.writingSince.IsZero() {
		if d := s.opts.Now().Sub(s.writingSince); d >= s.opts.StallAfter {
			return fmt.Errorf("store %s: %w after %s", s.path, ErrStalled, d.Round(time.Millisecond))
		}
	}
	return nil
}

// untoldLocked marks the queued records (and those the running group commit
// holds) that no caller has had yet as told, and returns them without a
// seq, in queue order; under s.mu.
func (s *Store) untoldLocked() []Record {
	var out []Record
	for _, list := range [][]queued{s.inflight, s.pend} {
		for i := range list {
			if q := &list[i]; !q.told {
				q.told = true
				out = append(out, Record{Topic: q.topic, Payload: q.unsequenced})
			}
		}
	}
	return out
}

// tell hands records that are not durable (yet) to OnNotDurable, outside
// every lock.
func (s *Store) tell(recs []Record) {
	if len(recs) == 0 {
		return
	}
	if fn := s.opts.OnNotDurable; fn != nil {
		fn(recs)
	}
}

// overQueued says whether what waits in memory, counting the records the
// running group commit holds (they come back if it fails), is over the
// queue's bound; under s.mu.
func (s *Store) overQueued() bool {
	return len(s.pend)+s.inflightN >= maxQueuedRecords || s.pendSize+s.inflightSize >= maxQueuedBytes
}

// encode stamps p's record fields with seq and encodes it, checking its size
// (with room for a seq when seq is 0).
func (s *Store) encode(topic string, p wire.Stamped, seq uint64, synced bool) ([]byte, error) {
	p.SetRecord(wire.Record{V: wire.Version, Stream: s.stream, Seq: seq, Boot: s.boot, ClockSynced: synced})
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("store %s: commit %s: encode: %w", s.path, topic, err)
	}
	limit := MaxPayload
	if seq == 0 {
		limit -= seqRoom
	}
	if len(payload) > limit {
		return nil, fmt.Errorf("store %s: commit %s: payload is %d bytes, more than %d", s.path, topic, len(payload), limit)
	}
	return payload, nil
}

// admit says whether a record of class cls may be queued now, under s.mu.
func (s *Store) admit(cls class) error {
	switch {
	case s.closed:
		return ErrClosed
	case s.readOnly:
		return ErrReadOnly
	case s.full && cls.refusedWhenFull():
		s.st.Refused++
		return fmt.Errorf("store %s: %w", s.path, ErrFull)
	}
	return nil
}

// enqueue queues q, under s.mu.
func (s *Store) enqueue(q queued) error {
	if err := s.admit(q.cls); err != nil {
		return err
	}
	s.synced = q.synced
	if s.root == "" {
		s.root = rootOf(q.topic)
	}
	s.queueLocked()
	s.pend = append(s.pend, q)
	s.pendSize += q.size
	return nil
}

// queueLocked notes that something is about to be queued: the first item
// starts the group-commit window.
func (s *Store) queueLocked() {
	if s.armed || s.closed || s.readOnly {
		return
	}
	s.armed = true
	s.pendAt = s.opts.Now()
	s.timer.Reset(s.opts.CommitEvery)
}

// shouldKick: wake the writer before the window ends when much is queued
// (unless the last group commit failed: then it retries once a window), or
// when the window is over by the injected clock (the timer runs on real time).
func (s *Store) shouldKick() bool {
	return (s.failErr == nil && (len(s.pend) >= flushAtRecords || s.pendSize >= flushAtBytes)) ||
		(s.armed && s.opts.Now().Sub(s.pendAt) >= s.opts.CommitEvery)
}

func isNilPointer(p wire.Stamped) bool {
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// Ack says the broker has the record (PUBACK): it is deleted with the next
// group commit. Unknown or repeated seqs are ignored. If the deletion is lost
// (a power cut before the next commit), the record is sent again: the stream
// is at least once.
func (s *Store) Ack(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.readOnly || seq == 0 {
		return
	}
	s.queueLocked()
	s.acks[seq] = struct{}{}
	if s.shouldKick() {
		s.wake()
	}
}

// Pending returns up to max unacknowledged records with seq > after, in seq
// order: those in the file (a queued record has no seq yet). It is the backlog
// the publisher sends after a reconnect or restart, paging with after = the
// last seq it got. A corrupt record is reported to OnFault, skipped and
// deleted.
func (s *Store) Pending(after uint64, max int) ([]Record, error) {
	if max <= 0 {
		max = DefaultPendingMax
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	acked := make(map[uint64]struct{}, len(s.acks))
	for k := range s.acks {
		acked[k] = struct{}{}
	}
	purged := make(map[string]struct{}, len(s.purge))
	for k := range s.purge {
		purged[k] = struct{}{}
	}
	s.mu.Unlock()

	var disk []Record
	var bad []error
	err := guard("pending", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketOutbox)
			if b == nil {
				return fmt.Errorf("%w: no outbox bucket", ErrCorrupt)
			}
			c := b.Cursor()
			for k, v := c.Seek(seqKey(after + 1)); k != nil && len(disk) < max; k, v = c.Next() {
				if _, gone := purged[string(k)]; gone {
					continue
				}
				r, _, err := decodeRecord(k, v)
				if err != nil {
					if e := s.corrupt(k, err); e != nil {
						bad = append(bad, e)
					}
					continue
				}
				if _, gone := acked[r.Seq]; gone {
					continue
				}
				disk = append(disk, Record{Seq: r.Seq, Topic: r.Topic, Payload: slices.Clone(r.Payload)})
			}
			return nil
		})
	})
	s.report(bad)
	if err != nil {
		return nil, fmt.Errorf("store %s: pending: %w", s.path, err)
	}
	return disk, nil
}

// corrupt builds the error for a bad outbox entry and queues its deletion;
// nil when it is already reported and queued.
func (s *Store) corrupt(key []byte, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	what := fmt.Sprintf("outbox seq %d", seqOf(key))
	if len(key) == 8 {
		if _, queued := s.acks[seqOf(key)]; queued {
			return nil
		}
		s.acks[seqOf(key)] = struct{}{}
	} else {
		if _, queued := s.purge[string(key)]; queued {
			return nil
		}
		what = fmt.Sprintf("outbox key %x", key)
		s.purge[string(key)] = struct{}{}
	}
	if seq := seqOf(key); seq != 0 {
		s.corruptSeqs = append(s.corruptSeqs, seq) // its deletion writes a gap naming it
	}
	s.queueLocked()
	s.st.Corrupt++
	return &CorruptError{File: s.path, What: what, Err: err}
}

// report hands faults to OnFault and the log, outside every lock.
func (s *Store) report(errs []error) {
	for _, err := range errs {
		s.log.Error("store fault", "err", err)
		s.opts.OnFault(err)
	}
}

// Flush runs a group commit now: everything queued is written and fsynced,
// and its records reach OnCommitted before Flush returns.
func (s *Store) Flush() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if s.readOnly {
		return ErrReadOnly
	}
	return s.flush()
}
