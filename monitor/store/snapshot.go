package store

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// SaveSnapshot replaces the saved engine snapshot (session, phase, baseline,
// limits) atomically and durably: when it returns nil, a power cut leaves
// either this snapshot or, had it failed, the previous one; never a mix. It
// goes out in one transaction with everything else queued.
func (s *Store) SaveSnapshot(b []byte) error {
	return s.commitNow(func() {
		s.snap, s.snapSet = slices.Clone(b), true
		if s.snap == nil {
			s.snap = []byte{}
		}
	})
}

// LoadSnapshot returns the saved snapshot, or nil, nil when there is none. A
// snapshot that fails its CRC gives a *CorruptError: start afresh and raise
// store_fault.
func (s *Store) LoadSnapshot() ([]byte, error) {
	var out []byte
	err := guard("load snapshot", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				return fmt.Errorf("%w: no meta bucket", ErrCorrupt)
			}
			v := meta.Get(keySnapshot)
			if v == nil {
				return nil
			}
			data, err := unframe(keySnapshot, v)
			if err != nil {
				return &CorruptError{File: s.path, What: "snapshot", Err: err}
			}
			out = append([]byte{}, data...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: load snapshot: %w", s.path, err)
	}
	return out, nil
}
