package store

import (
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The snapshot is kept twice, under keySnapshotA and keySnapshotB, both
// written by every save in its one transaction, each framed with its own CRC:
// a damaged copy (a flipped bit, a bad sector under one value) is reported
// and the other restores the session. keySnapshot is the single copy older
// files hold; it is read when neither new key is there and removed by the
// next save.
var (
	keySnapshotA = []byte("snapshot.a")
	keySnapshotB = []byte("snapshot.b")
)

// SaveSnapshot replaces the saved engine snapshot (session, phase, baseline,
// limits) atomically and durably: when it returns nil, a power cut leaves
// either this snapshot or, had it failed, the previous one; never a mix. It
// goes out in one transaction with everything else queued, both copies in it.
// A failure is also reported to OnFault.
func (s *Store) SaveSnapshot(b []byte) error {
	return s.commitNow(func() {
		s.snap, s.snapSet = slices.Clone(b), true
		if s.snap == nil {
			s.snap = []byte{}
		}
	})
}

// putSnapshot writes both copies of a snapshot (in a group commit's
// transaction) and removes an older file's single copy.
func (s *Store) putSnapshot(meta *bolt.Bucket, snap []byte, res *result) error {
	for _, k := range [][]byte{keySnapshotA, keySnapshotB} {
		v := frame(k, snap)
		if err := meta.Put(k, v); err != nil {
			return err
		}
		res.put += uint64(len(k) + len(v))
	}
	if meta.Get(keySnapshot) != nil {
		return meta.Delete(keySnapshot)
	}
	return nil
}

// LoadSnapshot returns the saved snapshot, or nil, nil when there is none.
// A damaged copy is reported to OnFault as a *CorruptError (the daemon raises
// store_fault) and the other copy is returned. When every copy is damaged it
// returns a *CorruptError: start afresh and raise store_fault.
func (s *Store) LoadSnapshot() ([]byte, error) {
	var out []byte
	var bad []error
	err := guard("load snapshot", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				return fmt.Errorf("%w: no meta bucket", ErrCorrupt)
			}
			keys := [][]byte{keySnapshotA, keySnapshotB}
			if meta.Get(keySnapshotA) == nil && meta.Get(keySnapshotB) == nil {
				keys = [][]byte{keySnapshot}
			}
			found := false
			for _, k := range keys {
				v := meta.Get(k)
				if v == nil {
					if len(keys) > 1 {
						bad = append(bad, &CorruptError{File: s.path, What: "snapshot copy " + string(k), Err: errors.New("missing while the other copy is there")})
					}
					continue
				}
				found = true
				data, err := unframe(k, v)
				if err != nil {
					bad = append(bad, &CorruptError{File: s.path, What: "snapshot copy " + string(k), Err: err})
					continue
				}
				if out == nil {
					out = append([]byte{}, data...)
				}
			}
			if found && out == nil {
				return &CorruptError{File: s.path, What: "snapshot", Err: fmt.Errorf("every copy is damaged: %w", errors.Join(bad...))}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: load snapshot: %w", s.path, err)
	}
	s.report(bad)
	return out, nil
}
