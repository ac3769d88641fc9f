package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// precheck reports whether the file is new (there is no file), and checks an
// existing one's structure before bbolt maps it (see checkFile). An existing
// empty file is damage, not a new store: bbolt writes a new file's first pages
// and fsyncs them before Open returns, so a store that was ever used is never
// empty, and treating it as new would silently lose the session and backlog
// it held (a truncation, a file system repair).
func precheck(path string) (created bool, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("store %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return false, fmt.Errorf("store file %s cannot be used: %w: the file is empty (0 bytes)", path, ErrCorrupt)
	}
	if err := checkFile(f); err != nil {
		return false, fmt.Errorf("store file %s cannot be used: %w", path, err)
	}
	return false, nil
}

// openBolt opens the file with the options this store depends on:
// NoFreelistSync (the freelist is not rewritten by every commit, the main
// write amplification on an SD card; Open rebuilds it by walking the tree),
// a hash-map freelist, and a lock timeout.
func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	var file *os.File
	bo := &bolt.Options{
		Timeout:        lockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		ReadOnly:       readOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	var db *bolt.DB
	err := guard("open", func() (err error) {
		db, err = bolt.Open(path, 0o600, bo)
		return err
	})
	if err != nil {
		if db == nil && file != nil {
			_ = file.Close() // bbolt panicked before closing it: release the file lock
		}
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store file %s is locked by another process (a second chairside?): %w", path, err)
		}
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("store file %s cannot be opened: %w", path, err)
	}
	return db, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// start runs the Open transaction: buckets, stream id, boot counter and the
// last seq used. A run that ended without Close (power cut, kill -9) needs
// nothing more: a record gets its seq in the transaction that writes it, so
// the seqs of the file are all that were ever used, and the next one follows
// them with no gap.
func (s *Store) start() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.update("open", func(tx *bolt.Tx) error {
		var bs [3]*bolt.Bucket
		for i, name := range [][]byte{bucketMeta, bucketOutbox, bucketAudit} {
			b, err := tx.CreateBucketIfNotExists(name)
			if errors.Is(err, berrors.ErrIncompatibleValue) {
				return fmt.Errorf("%w: %q is not a bucket", ErrCorrupt, name)
			}
			if err != nil {
				return err
			}
			bs[i] = b
		}
		meta, outbox := bs[0], bs[1]
		if err := s.loadIdentity(meta); err != nil {
			return err
		}
		done, err1 := getU64(meta, keySeqDone)
		legacy, err2 := getU64(meta, keyLegacyReserved)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%w: seq counters unreadable", ErrCorrupt)
		}
		s.last = max(done, lastSeq(outbox))
		if meta.Get(keyLegacyReserved) != nil {
			s.last = max(s.last, legacy)
			if err := putU64(meta, keySeqDone, s.last); err != nil {
				return err
			}
			if err := meta.Delete(keyLegacyReserved); err != nil {
				return err
			}
		}
		s.root = s.opts.Root
		if r := meta.Get(keyRoot); s.root == "" && r != nil && checkTopic(string(r)) == nil {
			s.root, s.rootSet = string(r), true
		}
		return outbox.ForEach(func(k, v []byte) error {
			s.st.Records++
			s.st.Bytes += int64(len(k) + len(v))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store file %s cannot be used: %w", s.path, err)
	}
	return nil
}

// loadIdentity reads (or makes) the stream id and counts this boot.
func (s *Store) loadIdentity(meta *bolt.Bucket) error {
	if v := meta.Get(keyStream); v != nil {
		if len(v) == 0 || len(v) > 64 || checkTopic(string(v)) != nil {
			return fmt.Errorf("%w: stream id unreadable", ErrCorrupt)
		}
		s.stream = string(v)
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("stream id: %w", err)
		}
		s.stream = hex.EncodeToString(b[:])
		if err := meta.Put(keyStream, []byte(s.stream)); err != nil {
			return err
		}
	}
	boot, err := getU64(meta, keyBoot)
	if err != nil {
		return fmt.Errorf("%w: boot counter unreadable", ErrCorrupt)
	}
	s.boot = boot + 1
	return putU64(meta, keyBoot, s.boot)
}
