package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entry is one audited action in the store's audit bucket: who did what,
// when, and whether it was done. Older daemons kept their alarm log here
// (actions only, no alarm changes); the daemon now writes the alarm log to
// its own file (monitor/alarmlog), readable while it runs, and reads this
// bucket only to copy its entries into a new alarm log file once.
type Entry struct {
	T      time.Time `json:"t"`
	By     string    `json:"by"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
	OK     bool      `json:"ok"`
}

// auditPage is how many entries AuditLog reads per transaction, so that a slow
// reader (a terminal) never holds a read transaction for long.
const auditPage = 512

// LogAudit appends e to the alarm log, durably: the entry and everything
// queued with it are fsynced before it returns. A zero T is set to now. The
// log keeps the newest MaxAudit entries. On a write error the entry stays
// queued and goes out with the next commit that succeeds: do not log it again.
func (s *Store) LogAudit(e Entry) error {
	if e.T.IsZero() {
		e.T = s.opts.Now()
	}
	if _, err := json.Marshal(e); err != nil {
		return fmt.Errorf("store %s: audit entry: %w", s.path, err)
	}
	return s.commitNow(func() { s.audit = append(s.audit, e) })
}

// writeAudit appends entries inside a group commit and drops the oldest past
// MaxAudit. Keys are the bucket's sequence, so they are contiguous and the
// count is last-first+1 without a scan.
func (s *Store) writeAudit(b *bolt.Bucket, entries []Entry, res *result) error {
	if len(entries) == 0 {
		return nil
	}
	b.FillPercent = fillPercent
	for _, e := range entries {
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("audit entry: %w", err)
		}
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		k := seqKey(id)
		v := frame(k, data)
		if err := b.Put(k, v); err != nil {
			return err
		}
		res.put += uint64(len(k) + len(v))
	}
	c := b.Cursor()
	fk, _ := c.First()
	lk, _ := c.Last()
	if len(fk) != 8 || len(lk) != 8 {
		return nil
	}
	first, last := binary.BigEndian.Uint64(fk), binary.BigEndian.Uint64(lk)
	for n := last - first + 1; n > uint64(s.opts.MaxAudit); n-- {
		if err := b.Delete(seqKey(first)); err != nil {
			return err
		}
		first++
	}
	return nil
}

// AuditLog calls fn with each alarm-log entry, oldest first (for chairside
// -alarm-log). A corrupt entry is reported to OnFault and skipped. An error
// from fn stops the walk and is returned.
func (s *Store) AuditLog(fn func(Entry) error) error {
	after := uint64(0)
	for {
		var page []Entry
		var bad []error
		seen := 0
		err := guard("audit log", func() error {
			return s.db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketAudit)
				if b == nil {
					return fmt.Errorf("%w: no audit bucket", ErrCorrupt)
				}
				c := b.Cursor()
				for k, v := c.Seek(seqKey(after + 1)); k != nil && seen < auditPage; k, v = c.Next() {
					seen++
					after = seqOf(k)
					var e Entry
					data, err := unframe(k, v)
					if err == nil {
						err = json.Unmarshal(data, &e)
					}
					if err != nil || len(k) != 8 {
						bad = append(bad, &CorruptError{File: s.path, What: fmt.Sprintf("audit entry %x", k), Err: err})
						continue
					}
					page = append(page, e)
				}
				return nil
			})
		})
		s.report(bad)
		if err != nil {
			return fmt.Errorf("store %s: audit log: %w", s.path, err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if seen < auditPage || after == 0 {
			return nil
		}
	}
}
