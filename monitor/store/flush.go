package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// batch is what one group commit writes, taken from the queues under s.mu.
type batch struct {
	recs           []queued
	acks           map[uint64]struct{}
	purge          map[string]struct{}
	audit          []Entry
	corrupt        []uint64 // seqs of corrupt records deleted by this batch: a gap names them
	snap           []byte
	snapSet        bool
	bytes, records int64 // outbox totals before the batch
}

// result is what a group commit did; it becomes the Store's state only if the
// transaction commits.
type result struct {
	bytes, records         int64
	put                    uint64
	last                   uint64   // the last seq used, including a gap record's
	committed              []Record // for OnCommitted, in seq order
	mine                   Record   // the record of the urgent Commit waiting for this one
	mineErr                error    // why it was not written
	gaps, dropped, corrupt uint64
	full, rootSaved        bool
	faults                 []error
}

// wake asks the writer goroutine for a group commit, without blocking.
func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// loop is the writer goroutine: it runs the group commits the window timer
// and Commit ask for, so the engine's goroutine never waits for an fsync of
// non-urgent records.
func (s *Store) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.quit:
			return
		case <-s.kick:
		}
		_ = s.flush() // a failure is reported by commitLocked
	}
}

// commitNow queues what add puts in the queues (under s.mu) and runs the
// group commit at once: the durable writes that do not wait for a window
// (audit entries, snapshots). A failure is also reported to OnFault.
func (s *Store) commitNow(add func()) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.readOnly:
		s.mu.Unlock()
		return ErrReadOnly
	}
	s.queueLocked()
	add()
	s.mu.Unlock()
	return s.flush()
}

// flush is one group commit: every queued record, ack, audit entry and
// snapshot in one transaction (bbolt fdatasyncs the pages, then the meta
// page). On failure everything goes back to the queues for the next attempt,
// and the failure goes to OnFault at once, whatever asked for the commit (the
// writer, Flush, an urgent Commit, LogAudit or SaveSnapshot): store_fault is
// raised by the first failed write, not by the first failed background one.
func (s *Store) flush() error {
	s.writeMu.Lock()
	_, err := s.commitLocked()
	return err
}

// commitLocked runs one group commit with writeMu held, and releases it.
// After a successful transaction it hands the records of non-urgent Commits
// to OnCommitted, and returns the record of the urgent Commit waiting in it,
// if any (a zero Record otherwise). Whatever happened, it returns only after
// every earlier transaction's records reached OnCommitted: an urgent Commit
// returns after them, and Flush is a barrier for the callback.
func (s *Store) commitLocked() (Record, error) {
	if s.dbClosed {
		s.writeMu.Unlock()
		return Record{}, ErrClosed
	}
	var res result
	var err error
	var told []Record
	if b, ok := s.take(); ok {
		err = s.update("group commit", func(tx *bolt.Tx) error {
			res = result{}
			return s.write(tx, &b, &res)
		})
		told = s.settle(&b, &res, err)
	}
	s.deliverMu.Lock()
	s.writeMu.Unlock()
	if fn := s.onCommitted.Load(); err == nil && fn != nil && len(res.committed) > 0 {
		(*fn)(res.committed)
	}
	s.deliverMu.Unlock()
	if err != nil {
		err = fmt.Errorf("store %s: group commit: %w", s.path, err)
		s.report([]error{err})
		s.tell(told)
		return Record{}, err
	}
	s.report(res.faults)
	return res.mine, res.mineErr
}

// take moves the queues into a batch; false when there is nothing to write.
func (s *Store) take() (batch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idle := len(s.pend) == 0 && len(s.acks) == 0 && len(s.purge) == 0 && len(s.audit) == 0 && !s.snapSet &&
		(s.st.Bytes <= s.opts.MaxBytes || s.full) // over the bound (a smaller MaxBytes): trim
	if idle {
		s.disarm()
		return batch{}, false
	}
	b := batch{
		recs: s.pend, acks: s.acks, purge: s.purge, audit: s.audit, snap: s.snap, snapSet: s.snapSet,
		corrupt: s.corruptSeqs, bytes: s.st.Bytes, records: s.st.Records,
	}
	s.inflight, s.inflightN, s.inflightSize = s.pend, len(s.pend), s.pendSize
	s.writingSince = s.opts.Now()
	s.pend, s.pendSize, s.audit, s.snap, s.snapSet, s.corruptSeqs = nil, 0, nil, nil, false, nil
	s.acks, s.purge = map[uint64]struct{}{}, map[string]struct{}{}
	s.disarm()
	return b, true
}

func (s *Store) disarm() {
	s.armed = false
	s.timer.Stop()
}

// write is the body of a group commit's transaction. With writeMu held,
// s.last is the last seq of the last committed transaction: the queued
// records get the seqs after it, in queue order.
func (s *Store) write(tx *bolt.Tx, b *batch, res *result) error {
	meta, outbox, audit := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox), tx.Bucket(bucketAudit)
	if meta == nil || outbox == nil || audit == nil {
		return fmt.Errorf("%w: a bucket is missing", ErrCorrupt)
	}
	outbox.FillPercent = fillPercent
	res.bytes, res.records, res.last = b.bytes, b.records, s.last
	acks := make([]uint64, 0, len(b.acks))
	for seq := range b.acks {
		acks = append(acks, seq)
	}
	slices.Sort(acks)
	for _, seq := range acks {
		k := seqKey(seq)
		if v := outbox.Get(k); v != nil {
			res.bytes -= int64(len(k) + len(v))
			res.records--
			if err := outbox.Delete(k); err != nil {
				return err
			}
		}
	}
	for k := range b.purge {
		if v := outbox.Get([]byte(k)); v != nil {
			res.bytes -= int64(len(k) + len(v))
			res.records--
			if err := outbox.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	res.committed = make([]Record, 0, len(b.recs))
	for _, q := range b.recs {
		seq := res.last + 1
		payload, err := s.encode(q.topic, q.p, seq, q.synced)
		if err != nil {
			// Only a payload changed after its Commit (which encoded it)
			// gets here. It is dropped without using a seq.
			res.faults = append(res.faults, err)
			if q.wait {
				res.mineErr = err
			}
			continue
		}
		res.last = seq
		if err := res.putRecord(outbox, seq, q.cls, q.topic, payload); err != nil {
			return err
		}
		r := Record{Seq: seq, Topic: q.topic, Payload: payload}
		if q.wait {
			res.mine = r
		} else {
			res.committed = append(res.committed, r)
		}
	}
	if err := s.writeAudit(audit, b.audit, res); err != nil {
		return err
	}
	if err := s.putGaps(outbox, b.corrupt, ReasonCorrupt, res); err != nil {
		return err
	}
	if b.snapSet {
		if err := s.putSnapshot(meta, b.snap, res); err != nil {
			return err
		}
	}
	if res.bytes > s.opts.MaxBytes {
		if err := s.trim(outbox, res); err != nil {
			return err
		}
	}
	res.full = res.bytes > s.opts.MaxBytes
	if err := s.writeMeta(meta, outbox, res); err != nil {
		return err
	}
	if s.failHook != nil {
		return s.failHook()
	}
	return nil
}

func (r *result) putRecord(outbox *bolt.Bucket, seq uint64, cls class, topic string, payload []byte) error {
	k, v := seqKey(seq), encodeRecord(seq, cls, topic, payload)
	if err := outbox.Put(k, v); err != nil {
		return err
	}
	n := int64(len(k) + len(v))
	r.bytes += n
	r.records++
	r.put += uint64(n)
	return nil
}

// writeMeta keeps the last seq used findable by the next Open, which starts
// after max(seq_done, the outbox's last seq). While the newest record is in
// the outbox its key says it, so seq_done is written only when the newest is
// gone (acknowledged, or nothing is left): most transactions leave the meta
// bucket alone. It also saves the topic root once.
func (s *Store) writeMeta(meta, outbox *bolt.Bucket, res *result) error {
	done, err := getU64(meta, keySeqDone)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// The newest record is gone when its key is: a lookup, not lastSeq,
	// because this transaction may have emptied every leaf (see lastSeq).
	if res.last > done && outbox.Get(seqKey(res.last)) == nil {
		if err := res.putU64(meta, keySeqDone, res.last); err != nil {
			return err
		}
	}
	s.mu.Lock()
	root, rootSet := s.root, s.rootSet
	s.mu.Unlock()
	if !rootSet && root != "" {
		if err := meta.Put(keyRoot, []byte(root)); err != nil {
			return err
		}
		res.put += uint64(len(keyRoot) + len(root))
		res.rootSaved = true
	}
	return nil
}

func (r *result) putU64(b *bolt.Bucket, k []byte, v uint64) error {
	r.put += uint64(len(k) + 8)
	return putU64(b, k, v)
}

// lastSeq is the highest seq key in the outbox (0 when there is none),
// stepping back over malformed keys, which sort anywhere. Only for a
// transaction that has deleted nothing: bbolt v1.5.0's Cursor.Last loops
// forever when every leaf of a multi-page bucket was emptied in the current
// transaction (its Last climbs to the root and calls first, which lands on
// an empty leaf again), as a group commit acknowledging a whole backlog does.
func lastSeq(outbox *bolt.Bucket) uint64 {
	c := outbox.Cursor()
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		if len(k) == 8 {
			return seqOf(k)
		}
	}
	return 0
}

// settle applies a group commit's result, or on failure puts its batch back
// in front of what was queued meanwhile (without seqs: the next commit gives
// them theirs, so a failed transaction uses none) and returns the records of
// non-urgent Commits no caller has had without a seq yet, for OnNotDurable.
func (s *Store) settle(b *batch, res *result, err error) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight, s.inflightN, s.inflightSize = nil, 0, 0
	s.writingSince = time.Time{}
	if err == nil {
		s.last = res.last
		s.st.Bytes, s.st.Records = res.bytes, res.records
		s.st.BytesPut += res.put
		s.st.Gaps += res.gaps
		s.st.Dropped += res.dropped
		s.st.Corrupt += res.corrupt
		s.full = res.full
		s.rootSet = s.rootSet || res.rootSaved
		s.failErr = nil
		return nil
	}
	s.failErr = err
	kept := make([]queued, 0, len(b.recs)+len(s.pend))
	for _, q := range b.recs {
		q.wait = false // its urgent Commit returns ErrNotDurable: OnCommitted gets it when written
		kept = append(kept, q)
	}
	s.pend = append(kept, s.pend...)
	s.corruptSeqs = append(b.corrupt, s.corruptSeqs...)
	s.pendSize = 0
	for _, q := range s.pend {
		s.pendSize += q.size
	}
	for k := range b.acks {
		s.acks[k] = struct{}{}
	}
	for k := range b.purge {
		s.purge[k] = struct{}{}
	}
	s.audit = append(b.audit, s.audit...)
	if b.snapSet && !s.snapSet {
		s.snap, s.snapSet = b.snap, true
	}
	s.queueLocked() // retry after a window
	return s.untoldLocked()
}

// update runs a write transaction (with writeMu held) and counts what it
// wrote: the pages bbolt allocated for it (every dirty leaf, branch and
// overflow page is written to a fresh page) plus its meta page, and any
// growth of the file.
func (s *Store) update(what string, fn func(*bolt.Tx) error) error {
	st := s.db.Stats()
	before := st.TxStats.GetPageAlloc()
	sizeBefore := fileSize(s.path)
	if err := guard(what, func() error { return s.db.Update(fn) }); err != nil {
		return err
	}
	st = s.db.Stats()
	written := uint64(st.TxStats.GetPageAlloc()-before) + uint64(s.db.Info().PageSize)
	size := fileSize(s.path)
	s.mu.Lock()
	s.st.Commits++
	s.st.BytesWritten += written
	if size > sizeBefore {
		s.st.FileGrowth += uint64(size - sizeBefore)
	}
	s.st.FileSize = size
	s.mu.Unlock()
	return nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// seqOf reads an outbox key; 0 for a malformed one.
func seqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}
