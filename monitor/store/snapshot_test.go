package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	if b, err := s.LoadSnapshot(); b != nil || err != nil {
		t.Fatalf("fresh store: %q, %v; want nil, nil", b, err)
	}
	for _, v := range []string{`{"session":"s-1","phase":"baseline"}`, `{"session":"s-1","phase":"infusion"}`} {
		if err := s.SaveSnapshot([]byte(v)); err != nil {
			t.Fatal(err)
		}
		if b, err := s.LoadSnapshot(); string(b) != v || err != nil {
			t.Fatalf("load %q, %v; want %q", b, err, v)
		}
	}
	// Durable at return: a power cut right now keeps it.
	c := openT(t, copyStore(t, s), quiet())
	if b, _ := c.LoadSnapshot(); string(b) != `{"session":"s-1","phase":"infusion"}` {
		t.Errorf("after a cut: %q", b)
	}
	closeT(t, c)
	closeT(t, s)
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if b, _ := s.LoadSnapshot(); string(b) != `{"session":"s-1","phase":"infusion"}` {
		t.Errorf("after reopen: %q", b)
	}
	if err := s.SaveSnapshot(nil); err != nil {
		t.Fatal(err)
	}
	if b, err := s.LoadSnapshot(); b == nil || len(b) != 0 || err != nil {
		t.Errorf("empty snapshot loads as %q, %v", b, err)
	}
}

// damageSnapshot edits the snapshot copies of a closed store.
func damageSnapshot(t *testing.T, path string, fn func(meta *bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { fn(tx.Bucket(bucketMeta)); return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func flip(meta *bolt.Bucket, k []byte) {
	v := append([]byte(nil), meta.Get(k)...)
	v[len(v)-2] ^= 1
	meta.Put(k, v)
}

// TestOneDamagedSnapshotCopyStillRestores: a bit flip in one copy is
// reported (store_fault) and the other copy restores the session; only when
// both are damaged is the snapshot lost, and that is an error.
func TestOneDamagedSnapshotCopyStillRestores(t *testing.T) {
	const snap = `{"phase":"infusion"}`
	for name, damage := range map[string]func(meta *bolt.Bucket){
		"first copy flipped":  func(meta *bolt.Bucket) { flip(meta, keySnapshotA) },
		"second copy flipped": func(meta *bolt.Bucket) { flip(meta, keySnapshotB) },
		"first copy missing":  func(meta *bolt.Bucket) { meta.Delete(keySnapshotA) },
		"first copy empty":    func(meta *bolt.Bucket) { meta.Put(keySnapshotA, []byte{}) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir, quiet())
			if err := s.SaveSnapshot([]byte(snap)); err != nil {
				t.Fatal(err)
			}
			closeT(t, s)
			damageSnapshot(t, s.Path(), damage)
			var f faults
			opts := quiet()
			opts.OnFault = f.on
			s = openT(t, dir, opts)
			defer closeT(t, s)
			if b, err := s.LoadSnapshot(); string(b) != snap || err != nil {
				t.Errorf("load %q, %v; want the good copy", b, err)
			}
			if errs := f.list(); len(errs) != 1 || !isCorrupt(errs[0]) || !strings.Contains(errs[0].Error(), "snapshot copy") {
				t.Errorf("faults %v, want the damaged copy reported", errs)
			}
			// The next save repairs both.
			if err := s.SaveSnapshot([]byte(snap)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.LoadSnapshot(); err != nil || len(f.list()) != 1 {
				t.Errorf("after a new save: %v, faults %v", err, f.list())
			}
		})
	}
}

func TestCorruptSnapshotIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	if err := s.SaveSnapshot([]byte(`{"phase":"infusion"}`)); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	damageSnapshot(t, s.Path(), func(meta *bolt.Bucket) { flip(meta, keySnapshotA); flip(meta, keySnapshotB) })
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if b, err := s.LoadSnapshot(); b != nil || !isCorrupt(err) {
		t.Errorf("corrupt snapshot: %q, %v", b, err)
	}
}

// TestLegacySingleSnapshotIsRead: a file written before the two copies holds
// one under "snapshot"; it restores, and the next save replaces it by two.
func TestLegacySingleSnapshotIsRead(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	closeT(t, s)
	damageSnapshot(t, s.Path(), func(meta *bolt.Bucket) { meta.Put(keySnapshot, frame(keySnapshot, []byte("old"))) })
	s = openT(t, dir, quiet())
	if b, err := s.LoadSnapshot(); string(b) != "old" || err != nil {
		t.Fatalf("legacy snapshot: %q, %v", b, err)
	}
	if err := s.SaveSnapshot([]byte("new")); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	damageSnapshot(t, s.Path(), func(meta *bolt.Bucket) {
		if meta.Get(keySnapshot) != nil || meta.Get(keySnapshotA) == nil || meta.Get(keySnapshotB) == nil {
			t.Errorf("after a save: legacy %v, a %v, b %v", meta.Get(keySnapshot) != nil, meta.Get(keySnapshotA) != nil, meta.Get(keySnapshotB) != nil)
		}
	})
}

// TestEmptyStoreFileIsDamageNotNew: an existing 0-byte store file is an
// ErrCorrupt error naming it (the daemon moves it aside and raises
// store_fault), not a silent new store.
func TestEmptyStoreFileIsDamageNotNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, quiet())
	if err == nil {
		s.Close()
		t.Fatal("a 0-byte store file opened as a new store")
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want ErrCorrupt naming %s", err, path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the file must be left as it was: %v, %v", fi, err)
	}
}
