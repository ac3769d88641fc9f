package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeRecord: any key and value decode to a record or an error wrapping
// errBadRecord, never a panic; a record that decodes re-encodes to exactly
// the stored bytes, with the class its topic implies. Seeds (valid records of
// each class, damaged ones) are in testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(seqKey(1), encodeRecord(1, classDroppable, root+"/vitals/spo2", []byte(`{"v":1,"seq":1}`)))
	f.Fuzz(func(t *testing.T, key, val []byte) {
		r, cls, err := decodeRecord(key, val)
		if _, ferr := unframe(key, val); ferr != nil && !errors.Is(ferr, errBadRecord) {
			t.Fatalf("unframe error %v does not wrap errBadRecord", ferr)
		}
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("error %v does not wrap errBadRecord", err)
			}
			return
		}
		if !bytes.Equal(seqKey(r.Seq), key) {
			t.Fatalf("seq %d from key %x", r.Seq, key)
		}
		if cls != classify(r.Topic) {
			t.Fatalf("class %d for topic %q", cls, r.Topic)
		}
		if got := encodeRecord(r.Seq, cls, r.Topic, r.Payload); !bytes.Equal(got, val) {
			t.Fatalf("re-encoded %x, stored %x", got, val)
		}
	})
}

// FuzzOpenFile: any file content gives an error from Open or a store that
// works; never a panic or a fault of the process. The seed is a real store
// file with records, an audit entry and a snapshot.
func FuzzOpenFile(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir, quiet())
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		s.Commit(root+"/vitals/spo2", vital(97), true, false)
	}
	s.Commit(root+"/alarm", alarm("a-1-1"), true, true)
	s.LogAudit(Entry{By: "nurse", Action: "ack"})
	s.SaveSnapshot([]byte(`{"session":"s-1"}`))
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, file []byte) {
		if len(file) > 1<<20 {
			return
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), file, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{CommitEvery: 1, OnFault: func(error) {}})
		if err != nil {
			return
		}
		s.Pending(0, 100)
		s.AuditLog(func(Entry) error { return nil })
		s.LoadSnapshot()
		s.Commit(root+"/alarm", alarm("x"), true, true)
		s.Close()
	})
}
