package store

import (
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

func TestCorruptSnapshotIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	if err := s.SaveSnapshot([]byte(`{"phase":"infusion"}`)); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	db, err := bolt.Open(s.Path(), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		v := append([]byte(nil), b.Get(keySnapshot)...)
		v[len(v)-2] ^= 1
		return b.Put(keySnapshot, v)
	})
	db.Close()
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if b, err := s.LoadSnapshot(); b != nil || !isCorrupt(err) {
		t.Errorf("corrupt snapshot: %q, %v", b, err)
	}
}
