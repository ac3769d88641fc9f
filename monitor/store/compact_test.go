package store

import (
	"os"
	"strings"
	"testing"
)

func TestOpenCompactsAMostlyFreeFile(t *testing.T) {
	dir := t.TempDir()
	s, k := openS(t, dir, quiet())
	big := strings.Repeat("x", 4000)
	for i := 0; i < 4000; i++ { // about 16 MB: a long outage
		v := vital(97)
		v.Source = big
		commitT(t, s, root+"/vitals/spo2", v, false)
		if i%500 == 499 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	last := k.last()
	if err := s.LogAudit(Entry{Action: "kept"}); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq < last.Seq; seq++ { // the backlog drains, but one
		s.Ack(seq)
	}
	closeT(t, s)
	before := fileSize(s.Path())
	if before < compactMinFile {
		t.Fatalf("file %d bytes, too small for the test", before)
	}
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	after := fileSize(s.Path())
	if after*4 > before {
		t.Errorf("file %d bytes after compaction, was %d", after, before)
	}
	if _, err := os.Stat(s.Path() + compactSuffix); !os.IsNotExist(err) {
		t.Errorf("compaction copy left behind: %v", err)
	}
	if s.Boot() != 2 {
		t.Errorf("boot %d after compaction", s.Boot())
	}
	recs := pendingT(t, s)
	if len(recs) != 1 || recs[0].Seq != last.Seq || string(recs[0].Payload) != string(last.Payload) {
		t.Errorf("pending after compaction %v", seqs(recs))
	}
	if got := auditT(t, s); len(got) != 1 || got[0].Action != "kept" {
		t.Errorf("audit after compaction %v", got)
	}
	if r := commitT(t, s, root+"/alarm", alarm("a"), true); r.Seq != last.Seq+1 {
		t.Errorf("seq %d after compaction, want %d", r.Seq, last.Seq+1)
	}
}

func TestLeftoverCompactionCopyIsRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	commitT(t, s, root+"/alarm", alarm("a"), true)
	closeT(t, s)
	if err := os.WriteFile(s.Path()+compactSuffix, []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if _, err := os.Stat(s.Path() + compactSuffix); !os.IsNotExist(err) {
		t.Errorf("leftover copy kept: %v", err)
	}
	if n := len(pendingT(t, s)); n != 1 {
		t.Errorf("%d records", n)
	}
}
