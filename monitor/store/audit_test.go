package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func auditT(t *testing.T, s *Store) []Entry {
	t.Helper()
	var out []Entry
	if err := s.AuditLog(func(e Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditLogOrderSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := quiet()
	opts.Now = clk.Now
	s := openT(t, dir, opts)
	for i := 0; i < 600; i++ { // more than one page of AuditLog's reads
		clk.Add(time.Second)
		e := Entry{By: "nurse@station", Action: "ack", Detail: fmt.Sprintf("a-1-%d", i), OK: i%2 == 0}
		if i == 7 {
			e.T = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // given times are kept
		}
		if err := s.LogAudit(e); err != nil {
			t.Fatal(err)
		}
	}
	closeT(t, s)
	s = openT(t, dir, opts)
	defer closeT(t, s)
	got := auditT(t, s)
	if len(got) != 600 {
		t.Fatalf("%d entries, want 600", len(got))
	}
	for i, e := range got {
		if e.Detail != fmt.Sprintf("a-1-%d", i) || e.OK != (i%2 == 0) || e.By != "nurse@station" {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
	if want := newClock().Now().Add(time.Second); !got[0].T.Equal(want) {
		t.Errorf("zero T became %v, want the store clock's %v", got[0].T, want)
	}
	if !got[7].T.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("given T became %v", got[7].T)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.AuditLog(func(Entry) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("AuditLog did not stop at fn's error: %v after %d", err, n)
	}
}

func TestAuditLogIsBounded(t *testing.T) {
	opts := quiet()
	opts.MaxAudit = 10
	dir := t.TempDir()
	s := openT(t, dir, opts)
	for i := 0; i < 25; i++ {
		if err := s.LogAudit(Entry{Action: fmt.Sprint(i), OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	got := auditT(t, s)
	if len(got) != 10 || got[0].Action != "15" || got[9].Action != "24" {
		t.Fatalf("kept %v, want the newest 10 (15..24)", got)
	}
	closeT(t, s)
	s = openT(t, dir, opts)
	defer closeT(t, s)
	if err := s.LogAudit(Entry{Action: "25"}); err != nil {
		t.Fatal(err)
	}
	if got := auditT(t, s); len(got) != 10 || got[0].Action != "16" || got[9].Action != "25" {
		t.Fatalf("after reopen kept %v", got)
	}
}

func TestAuditLogSkipsCorruptEntry(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	for i := 0; i < 3; i++ {
		if err := s.LogAudit(Entry{Action: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	closeT(t, s)
	db, err := bolt.Open(s.Path(), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Put(seqKey(2), []byte("junk!")) })
	db.Close()
	var f faults
	opts := quiet()
	opts.OnFault = f.on
	s = openT(t, dir, opts)
	defer closeT(t, s)
	got := auditT(t, s)
	if len(got) != 2 || got[0].Action != "0" || got[1].Action != "2" {
		t.Errorf("entries %v", got)
	}
	if errs := f.list(); len(errs) != 1 || !isCorrupt(errs[0]) {
		t.Errorf("faults %v", errs)
	}
}

func TestLogAuditRejectsUnencodableEntry(t *testing.T) {
	s := openT(t, t.TempDir(), quiet())
	defer closeT(t, s)
	if err := s.LogAudit(Entry{T: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("year 10000 accepted")
	}
	if got := auditT(t, s); len(got) != 0 {
		t.Errorf("entries %v", got)
	}
}
