package store

import (
	"log/slog"
	"time"
)

// Defaults. DefaultMaxBytes holds 8.3 days of one chair's records at the
// daemon's real rate (2 vitals/s of about 280 stored bytes each, plus NIBP,
// alarms and session records; TestDefaultMaxBytesHoldsSevenDays measures it),
// so even just after a trim to 90 % it holds more than 7 days. On disk that
// is a file of about 450 MB, reached only after a week without a broker.
const (
	DefaultMaxBytes    = 384 << 20
	DefaultMaxAudit    = 100_000
	DefaultCommitEvery = time.Second
	// DefaultStallAfter: a group commit running longer than this means a
	// hung disk (a healthy SD card commits in tens of milliseconds).
	DefaultStallAfter = 2 * time.Second
)

const (
	// flushAtRecords, flushAtBytes: wake the writer before the window ends
	// when this much waits.
	flushAtRecords = 512
	flushAtBytes   = 1 << 20
	// maxQueuedRecords, maxQueuedBytes bound what waits in memory: past them
	// a non-urgent Commit runs the group commit itself (back-pressure on a
	// writer that has fallen behind) and, when that fails (a dead disk),
	// refuses the record with ErrNotDurable instead of queueing it.
	maxQueuedRecords = 8 * flushAtRecords
	maxQueuedBytes   = 4 * flushAtBytes
	// lockTimeout: another process holding the file (a second daemon) is an
	// error, not a hang.
	lockTimeout = 2 * time.Second
	// fillPercent: keys are appended in order, so pack pages full.
	fillPercent = 1.0
)

// Options tune a Store; the zero value is the daemon's configuration.
type Options struct {
	// MaxBytes bounds the outbox's stored records (keys and values); 0 means
	// DefaultMaxBytes. Over it, the oldest droppable vitals go.
	MaxBytes int64
	// MaxAudit bounds the alarm log; 0 means DefaultMaxAudit entries.
	MaxAudit int
	// CommitEvery is the group-commit window: the longest a non-urgent record
	// waits in memory before its transaction; 0 means DefaultCommitEvery.
	CommitEvery time.Duration
	// StallAfter: a group commit running longer than this (by Now) counts
	// as failing, so non-urgent records stop waiting for it (ErrStalled,
	// ErrNotDurable); 0 means DefaultStallAfter.
	StallAfter time.Duration
	// Root is the chair's topic root (<topic_prefix>/<chair>) for the gap
	// records the store writes itself. Empty: learned from committed topics
	// and kept in the file.
	Root string
	// Logger gets notices (compaction, gaps, faults); nil discards them.
	Logger *slog.Logger
	// Now is the clock for group-commit windows and the times of gap records
	// and audit entries without one; nil is time.Now.
	Now func() time.Time
	// ReadOnly opens an existing store to read it (chairside -alarm-log):
	// no boot is counted, nothing is written, and the writing methods return
	// ErrReadOnly. bbolt's file lock still excludes a running daemon.
	ReadOnly bool
	// OnFault is called, outside the store's locks, with each corrupt record
	// or snapshot copy found (a *CorruptError) and each failed group commit,
	// whatever asked for it (so also when Commit, LogAudit or SaveSnapshot
	// return the error). The daemon raises store_fault. It must not block
	// for long.
	OnFault func(error)
	// OnNotDurable gets, once each, the records of non-urgent Commits that
	// were queued before the store found itself failing (a failed group
	// commit, a stalled one): stamped without a seq (Seq 0), to publish at
	// once, as an ErrNotDurable Commit gives its own. They stay queued and
	// reach OnCommitted with their seqs when a later commit succeeds. Called
	// outside the store's locks, from the goroutine of the failed commit or
	// of a Commit; it must not block and must not call the store's writing
	// methods.
	OnNotDurable func([]Record)
	// OnCommitted gets the records of non-urgent Commits once they are in
	// the file (fsynced), with their seqs: the daemon's live path. It is
	// called after each group commit that wrote any, in seq order (one call
	// per transaction, calls never overlap, each after every earlier one),
	// outside the store's data locks. It may call Ack, Pending and Stats;
	// it must not call Commit, Flush, LogAudit, SaveSnapshot or Close (they
	// would wait for it), and it must not block for long: the next group
	// commit's delivery waits for it. It may keep the slice; it must not
	// modify the payloads. Records of urgent Commits are returned by Commit
	// instead (but one whose first write failed comes here once written, see
	// ErrNotDurable), and gap records the store writes itself reach the
	// broker through Pending. Nil: the records reach the broker through Pending
	// only. See also SetOnCommitted.
	OnCommitted func([]Record)
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAudit <= 0 {
		o.MaxAudit = DefaultMaxAudit
	}
	if o.CommitEvery <= 0 {
		o.CommitEvery = DefaultCommitEvery
	}
	if o.StallAfter <= 0 {
		o.StallAfter = DefaultStallAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnFault == nil {
		o.OnFault = func(error) {}
	}
	return o
}
