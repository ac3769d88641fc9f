package store

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the store's one file inside its directory.
const FileName = "chairside.db"

var (
	bucketMeta   = []byte("meta")
	bucketOutbox = []byte("outbox")
	bucketAudit  = []byte("audit")

	keyStream   = []byte("stream")
	keyBoot     = []byte("boot")
	keySeqDone  = []byte("seq_done") // the last seq used, when the outbox's last key is not (see writeMeta)
	keyRoot     = []byte("root")
	keySnapshot = []byte("snapshot")
	// keyLegacyReserved: files written before seqs were assigned at commit
	// reserved seqs ahead of use; Open starts past such a reservation once
	// and removes the key, so a seq that build may have published is never
	// used again.
	keyLegacyReserved = []byte("seq_reserved")
)

// Store is the daemon's durable state in one bbolt file: the outbox of
// record-stream messages, the alarm log and the engine snapshot. It is safe
// for concurrent use.
type Store struct {
	path   string
	db     *bolt.DB
	opts   Options
	log    *slog.Logger
	stream string
	boot   uint64

	// writeMu serialises write transactions, so each one's page statistics
	// are its own and seqs are assigned in commit order. Lock order:
	// writeMu, then bbolt's writer lock, then mu; nothing holding mu waits
	// for bbolt, so a transaction may take mu. deliverMu is taken while
	// writeMu is still held and kept, after writeMu is released, for the
	// OnCommitted call: calls follow the transactions' order and never
	// overlap, and no data lock is held during one.
	writeMu   sync.Mutex
	dbClosed  bool   // under writeMu
	last      uint64 // under writeMu: the last seq in a committed transaction
	deliverMu sync.Mutex

	onCommitted atomic.Pointer[func([]Record)]

	readOnly bool

	mu           sync.Mutex
	closed       bool
	pend         []queued
	pendSize     int
	pendAt       time.Time // when the oldest queued item arrived
	inflight     []queued  // the records the running group commit holds (their told flags are under mu)
	inflightN    int       // records being written by the running group commit
	inflightSize int       // and their share of pendSize
	writingSince time.Time // when the running group commit took its batch; zero when none runs
	corruptSeqs  []uint64  // corrupt records queued for deletion: the commit deleting them writes their gap
	acks         map[uint64]struct{}
	purge        map[string]struct{} // malformed outbox keys to delete
	audit        []Entry
	snap         []byte
	snapSet      bool
	root         string
	rootSet      bool // root is in the file
	synced       bool // clock_synced of the latest Commit, for gap records
	full         bool
	failErr      error // the last group commit's error; nil after one succeeds
	armed        bool  // the window timer is running
	st           Stats

	// failHook, when set by a test, can fail a group commit's transaction
	// at its end, after everything was put, to exercise the requeue path.
	failHook func() error

	timer *time.Timer
	kick  chan struct{}
	quit  chan struct{}
	done  chan struct{}
}

// Open opens (or creates) the store in dir. The directory is created 0700 and
// the file 0600. Each Open counts a boot. A file that cannot be opened or is
// damaged gives an error naming it and leaves the file as it was; a damaged
// one's error wraps ErrCorrupt (a file locked by another process does not),
// so the daemon can move it aside, raise store_fault and start afresh.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	path := filepath.Join(dir, FileName)
	if opts.ReadOnly {
		return openReadOnly(path, opts)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory %s: %w", dir, err)
	}
	_ = os.Remove(path + compactSuffix) // an interrupted compaction; the original is intact
	created, err := precheck(path)
	if err != nil {
		return nil, err
	}
	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	if created {
		// The new file's name must survive a power cut too.
		if err := syncDir(dir); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("store %s: sync directory: %w", path, err)
		}
	}
	s := newStore(path, db, opts)
	if !created {
		s.maybeCompact()
	}
	if s.db == nil {
		return nil, fmt.Errorf("store %s: reopen after compaction failed", path)
	}
	if err := s.start(); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	go s.loop()
	return s, nil
}

func newStore(path string, db *bolt.DB, opts Options) *Store {
	s := &Store{
		path: path, db: db, opts: opts, log: opts.Logger.With("store", path),
		acks: map[uint64]struct{}{}, purge: map[string]struct{}{},
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	s.timer = time.AfterFunc(time.Hour, s.wake)
	s.timer.Stop()
	if opts.OnCommitted != nil {
		s.onCommitted.Store(&opts.OnCommitted)
	}
	return s
}

// SetOnCommitted replaces Options.OnCommitted, for a caller whose consumer
// exists only after Open (the daemon's publisher); nil stops the calls. A
// call under way finishes with the old function. Records committed while
// none was set reach the broker through Pending.
func (s *Store) SetOnCommitted(fn func([]Record)) {
	if fn == nil {
		s.onCommitted.Store(nil)
		return
	}
	s.onCommitted.Store(&fn)
}

// openReadOnly opens an existing store without writing to it.
func openReadOnly(path string, opts Options) (*Store, error) {
	created, err := precheck(path)
	if err != nil {
		return nil, err
	}
	if created {
		return nil, fmt.Errorf("store %s: no store file to read", path)
	}
	db, err := openBolt(path, true)
	if err != nil {
		return nil, err
	}
	s := newStore(path, db, opts)
	s.readOnly = true
	close(s.done)
	err = guard("open", func() error {
		return db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil || tx.Bucket(bucketOutbox) == nil || tx.Bucket(bucketAudit) == nil {
				return fmt.Errorf("%w: a bucket is missing", ErrCorrupt)
			}
			s.stream = string(meta.Get(keyStream))
			boot, err := getU64(meta, keyBoot)
			if err != nil {
				return fmt.Errorf("%w: boot counter unreadable", ErrCorrupt)
			}
			s.boot = boot
			return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
				s.st.Records++
				s.st.Bytes += int64(len(k) + len(v))
				return nil
			})
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store file %s cannot be used: %w", path, err)
	}
	return s, nil
}

// Stream is the random id of this store's record stream, made when the file
// was created.
func (s *Store) Stream() string { return s.stream }

// Boot is this start's number: 1 on the first Open of a new file, +1 on each.
func (s *Store) Boot() uint64 { return s.boot }

// Path is the store file.
func (s *Store) Path() string { return s.path }

// Close writes everything queued (its records reach OnCommitted) and closes
// the file. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.readOnly {
		if err := guard("close", s.db.Close); err != nil {
			return fmt.Errorf("store %s: close: %w", s.path, err)
		}
		return nil
	}
	s.timer.Stop()
	close(s.quit)
	<-s.done
	err := s.flush()
	s.writeMu.Lock()
	if cerr := guard("close", s.db.Close); err == nil {
		err = cerr
	}
	s.dbClosed = true
	s.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("store %s: close: %w", s.path, err)
	}
	return nil
}

func getU64(b *bolt.Bucket, k []byte) (uint64, error) {
	v := b.Get(k)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%s is %d bytes", k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func putU64(b *bolt.Bucket, k []byte, v uint64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	return b.Put(k, buf[:])
}
