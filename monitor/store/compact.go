package store

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// bbolt never gives pages back to the file system: after a week-long outage
// fills the outbox and the backlog drains, the file keeps its size, mostly
// free pages. With NoFreelistSync those free pages cost no writes, but they
// cost the SD card its space, so Open compacts a file that is large and
// mostly free: bbolt's Compact copies the live data into a new file, which
// replaces the old one by rename. A power cut during it leaves the old file
// intact (the copy is removed at the next Open); after the rename, the new.
const (
	compactSuffix  = ".compact"
	compactMinFile = 8 << 20 // smaller files are not worth a rewrite
	compactTxBytes = 4 << 20 // commit the copy in chunks to bound memory
)

// maybeCompact compacts at Open when over half the file is unused. It only
// logs failures: an uncompacted store works.
func (s *Store) maybeCompact() {
	size := fileSize(s.path)
	var used int64
	err := guard("measure", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			used = tx.Size() - int64(s.db.Stats().FreePageN)*int64(s.db.Info().PageSize)
			return nil
		})
	})
	if err != nil || size < compactMinFile || used*2 > size {
		return
	}
	if err := s.compact(); err != nil {
		s.log.Warn("compaction failed; going on with the uncompacted file", "err", err)
		return
	}
	s.log.Info("compacted the store file", "bytes_before", size, "bytes_after", fileSize(s.path))
}

// compact copies the file into path+".compact", then renames it over the
// original and reopens. On failure s.db is the original file, open, or nil
// when even reopening it failed.
func (s *Store) compact() error {
	tmp := s.path + compactSuffix
	_ = os.Remove(tmp)
	dst, err := openBolt(tmp, false)
	if err != nil {
		return err
	}
	err = guard("compact", func() error { return bolt.Compact(dst, s.db, compactTxBytes) })
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", s.path, err)
	}
	if err := s.db.Close(); err != nil {
		_ = os.Remove(tmp)
		s.db = nil
		return fmt.Errorf("close %s for compaction: %w", s.path, err)
	}
	renameErr := os.Rename(tmp, s.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(s.path))
	} else {
		_ = os.Remove(tmp)
	}
	s.db, err = openBolt(s.path, false)
	if err != nil {
		s.db = nil
		return err
	}
	return renameErr
}
