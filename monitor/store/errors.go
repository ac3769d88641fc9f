package store

import (
	"errors"
	"fmt"
	"runtime/debug"
)

var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrFull: the store is over MaxBytes and holds only records it never
	// drops (alarms, session, NIBP, gaps), so it refuses new vitals.
	ErrFull = errors.New("store full of records that are never dropped; vitals refused")
	// ErrCorrupt is wrapped by every error about a damaged file or record.
	ErrCorrupt = errors.New("corrupt")
	// ErrReadOnly: a writing method on a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("store opened read-only")
	// ErrNotDurable is wrapped when Commit could not write the record: its
	// group commit failed (urgent), or the last group commit failed or is
	// stalled (non-urgent). The Record returned with it is the stamped
	// payload without a seq (Seq 0): publish it anyway (CONTRACT §3
	// store_fault). The record stays queued and gets its seq when a later
	// commit succeeds (then it goes to Options.OnCommitted), except a
	// non-urgent one that found the queue over its bound: that one is not
	// kept.
	ErrNotDurable = errors.New("record not durable")
	// ErrStalled is wrapped when a group commit has been running for longer
	// than Options.StallAfter: the disk hangs (an SD card that stops
	// answering), which counts as failing.
	ErrStalled = errors.New("a disk write has not finished")
)

// CorruptError reports a stored item that failed its CRC or JSON check. An
// outbox record is skipped and deleted, an audit entry skipped; a snapshot is
// not returned. The daemon raises store_fault.
type CorruptError struct {
	File string // the store file
	What string // "outbox seq 42", "audit entry 7", "snapshot"
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store %s: %s is corrupt: %v", e.File, e.What, e.Err)
}

// Unwrap lets errors.Is(err, ErrCorrupt) match.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// guard runs fn (a bbolt call) so that a panic, or a memory fault on the
// mapped file in this goroutine, becomes an error instead of ending the
// daemon: bbolt panics on structures it finds broken, and a store fault must
// never take the alarms down with it.
func guard(what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: bbolt panicked: %v", what, ErrCorrupt, r)
		}
	}()
	return fn()
}
