// Package store is the daemon's durable state: one bbolt file (FileName) in
// the store directory holding the outbox of record-stream messages, the alarm
// log and the engine snapshot (CONTRACT §4, §6).
//
// # Outbox and the publisher
//
// The engine's goroutine calls Commit for every record-stream message
// (vitals/*, alarm, session, session/summary). The seq (CONTRACT §4: +1 per
// message, continuing across restarts and power cuts, never reused) is
// assigned when the record is committed: inside the group commit's
// transaction that writes it, which also stamps v, stream, seq, boot and
// clock_synced into the payload and encodes it. A record therefore reaches the
// publisher only once it is in the file:
//
//   - a non-urgent record (vitals) is queued by Commit, which returns at once
//     with a zero Record; after its group commit it is handed, with its seq,
//     to Options.OnCommitted (one call per transaction, in seq order, calls
//     never overlapping);
//   - an urgent record (alarms, session changes) is written with everything
//     queued before it, and Commit returns it with its seq after the fsync,
//     and after those earlier records reached OnCommitted: fed by both, the
//     publisher sees the live records in seq order.
//
// The publisher goroutine publishes them at QoS 1 and calls Ack(seq) when the
// PUBACK comes; the deletion is written with the next group commit. After a
// (re)connect or a restart it walks the backlog with Pending(after, max),
// paging in seq order, and skips what it already has in flight: live
// messages go first, the backlog follows in seq order. Gap records the store
// writes itself (store full) have no live path; they reach the broker through
// Pending. A store fills only while records are not being acknowledged, so
// that backlog walk is coming anyway.
//
//	st, _ := store.Open(dir, store.Options{OnCommitted: func(recs []store.Record) { for _, r := range recs { publish(r) } }})
//	rec, err := st.Commit(root+"/alarm", &a, synced, true)
//	if err == nil || errors.Is(err, store.ErrNotDurable) { publish(rec) } // seq 0 when not durable
//	...                                                                   // on PUBACK: st.Ack(rec.Seq)
//	for after := uint64(0); ; { recs, _ := st.Pending(after, 256); if len(recs) == 0 { break }; ...; after = recs[len(recs)-1].Seq }
//
// When the disk fails, alarms and vitals are still published at once: an
// urgent Commit whose group commit fails, and a non-urgent Commit while the
// last group commit has failed or has been running longer than StallAfter
// (ErrStalled: a hung disk), return an error wrapping ErrNotDurable together
// with the stamped payload without a seq (Seq 0), to publish at once; the
// non-urgent records queued before the store found out go to OnNotDurable the
// same way, each record once. The records stay queued; when a later group
// commit succeeds they get their seqs and go to OnCommitted, so they reach
// the record stream too (a second message). Only a non-urgent record that
// finds the queue over its bound is refused without being kept (it never had
// a seq: no hole). Every failed group commit, whatever asked for it, is
// reported to OnFault at once: store_fault comes with the first failed write.
// The daemon calls Commit from a goroutine of its own and never waits for it,
// so an urgent Commit that hangs with the disk holds up nothing else.
//
// # Group commit and crash semantics
//
// Every bbolt transaction ends in two fdatasyncs, the slow and wearing part
// on an SD card, so records are group-committed: a non-urgent record waits in
// memory at most CommitEvery (1 s) and then goes to the file with everything
// else queued in one transaction, run by the store's writer goroutine. An
// urgent record (alarms, session changes; also LogAudit and SaveSnapshot) is
// written and fsynced, with everything queued before it, before the call
// returns. Acks are batched the same way.
//
// What a power cut (or kill -9) can do:
//
//   - A record with a seq is in the file: every record given to OnCommitted,
//     and every one an urgent Commit returned without error, is found again
//     after the cut, unless it was acknowledged.
//   - The non-urgent records queued in the last CommitEvery window are lost.
//     They never had a seq and were never published, so subscribers see no
//     hole: the next Open continues at the last committed seq + 1.
//   - An Ack not yet written is lost: the record is published again. The
//     stream is at least once; subscribers keep the first copy by
//     (stream, seq).
//   - Records never appear half-written: bbolt's transactions are atomic and
//     every stored value carries a CRC-32C over its key and bytes.
//
// The last seq used is the outbox's last key while that record is stored, and
// the meta value seq_done, written only by a transaction that leaves the
// outbox without it; Open starts after the larger.
//
// # Bound
//
// The outbox is bounded by MaxBytes (keys and values; the default holds more
// than 7 days of one chair at the daemon's rate). Over it, the oldest
// vitals/spo2, vitals/pulse and pleth records are dropped until the outbox is
// 10 % under the bound, and one gap record (reason "store_full") names the
// first and last seq dropped; records of other classes inside that range were
// kept. Alarms, session records, NIBP and gaps are never dropped. When only
// those remain and the store is still over the bound, it refuses new vitals
// (ErrFull, no seq used) and still takes alarms and session records.
//
// # Corruption
//
// Open walks an existing file's page structure with plain reads before bbolt
// maps it (bbolt trusts its page pointers, and a bad one faults the process
// where no recover reaches), so a truncated or garbled file is an error
// naming the file, never a crash. Every bbolt call runs under recover with
// SetPanicOnFault. A stored record that fails its CRC or JSON check is
// reported to Options.OnFault as a *CorruptError, skipped and deleted; the
// backlog goes on past it, and the transaction that deletes it writes a gap
// record (reason "store_corrupt") naming its seq, so no hole is left
// unexplained. An existing empty (0-byte) file is damage (ErrCorrupt), not a
// new store: a store that was used is never empty.
//
// The engine snapshot is kept twice (meta keys snapshot.a and snapshot.b,
// written together by every save, each framed with its own CRC): LoadSnapshot
// reports a damaged copy to OnFault and returns the other; only when both are
// damaged is it an error.
//
// # Reading only
//
// Options.ReadOnly opens an existing store for chairside -alarm-log: no boot
// is counted and nothing is written. bbolt's file lock still excludes a
// running daemon (Open then fails after 2 s, naming the lock).
//
// # Size on disk
//
// bbolt never shrinks its file. The store opens it with NoFreelistSync, so
// the free pages a drained backlog leaves behind cost no writes per commit
// (Open rebuilds the freelist by walking the tree instead), and Open compacts
// a file over 8 MiB that is more than half free: a copy is written and renamed
// over the original. Stats counts the page bytes every transaction writes,
// for the daemon's "bytes written per hour".
package store
