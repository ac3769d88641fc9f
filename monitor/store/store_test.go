package store

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "chairside")
	s := openT(t, dir, quiet())
	defer closeT(t, s)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s mode %v, want at most %v", path, got, want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(s.Stream()) {
		t.Errorf("stream %q, want 16 hex characters", s.Stream())
	}
	if s.Boot() != 1 {
		t.Errorf("first boot %d, want 1", s.Boot())
	}
}

func TestBootCountsOpensAndStreamStays(t *testing.T) {
	dir := t.TempDir()
	var stream string
	for want := uint64(1); want <= 4; want++ {
		s := openT(t, dir, quiet())
		if s.Boot() != want {
			t.Errorf("boot %d, want %d", s.Boot(), want)
		}
		if stream == "" {
			stream = s.Stream()
		} else if s.Stream() != stream {
			t.Errorf("stream changed: %q then %q", stream, s.Stream())
		}
		closeT(t, s)
	}
	other := openT(t, t.TempDir(), quiet())
	defer closeT(t, other)
	if other.Stream() == stream {
		t.Error("two stores share a stream id")
	}
}

func TestSeqContinuesAcrossCloseAndOpen(t *testing.T) {
	dir := t.TempDir()
	var last uint64
	for boot := 0; boot < 3; boot++ {
		s, k := openS(t, dir, quiet())
		for i := 0; i < 4; i++ {
			commitT(t, s, root+"/vitals/spo2", vital(97), false)
		}
		a := commitT(t, s, root+"/alarm", alarm("a"), true)
		// The four queued before the alarm reached OnCommitted before the
		// alarm's Commit returned, in seq order.
		if got, want := seqs(k.all()), seqRange(last+1, last+4); !slices.Equal(got, want) || a.Seq != last+5 {
			t.Fatalf("boot %d: OnCommitted got %v, the alarm %d; want %v then %d", s.Boot(), got, a.Seq, want, last+5)
		}
		last = a.Seq
		commitT(t, s, root+"/vitals/spo2", vital(97), false) // written by Close
		closeT(t, s)
		if r := k.last(); r.Seq != last+1 {
			t.Fatalf("boot %d: Close's group commit gave %+v, want seq %d", s.Boot(), r, last+1)
		}
		last++
	}
	s := openT(t, dir, quiet())
	defer closeT(t, s)
	recs := pendingT(t, s)
	if !slices.Equal(seqs(recs), seqRange(1, 18)) {
		t.Fatalf("pending %v, want 1..18 and no gap record after clean closes", seqs(recs))
	}
}

func TestCommitStampsRecordFields(t *testing.T) {
	s, k := openS(t, t.TempDir(), quiet())
	defer closeT(t, s)
	v := vital(97)
	r := commitNowT(t, s, k, root+"/vitals/spo2", v)
	if r.Topic != root+"/vitals/spo2" || r.Seq != 1 {
		t.Fatalf("record %+v", r)
	}
	want := wire.Record{V: 1, Stream: s.Stream(), Seq: 1, Boot: 1, ClockSynced: true}
	if v.Record != want {
		t.Errorf("payload stamped %+v, want %+v", v.Record, want)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Payload, &got); err != nil {
		t.Fatal(err)
	}
	for k, w := range map[string]any{"v": 1.0, "stream": s.Stream(), "seq": 1.0, "boot": 1.0, "clock_synced": true, "value": 97.0} {
		if got[k] != w {
			t.Errorf("payload %s = %v, want %v (%s)", k, got[k], w, r.Payload)
		}
	}
	if _, err := s.Commit(root+"/vitals/pulse", vital(70), false, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if r2 := k.last(); r2.Seq != 2 || !strings.Contains(string(r2.Payload), `"clock_synced":false`) {
		t.Errorf("clock_synced false not stamped: %d %s", r2.Seq, r2.Payload)
	}
	a := commitT(t, s, root+"/alarm", alarm("a"), true)
	if stored := pendingT(t, s); len(stored) != 3 || string(stored[2].Payload) != string(a.Payload) || a.Seq != 3 {
		t.Errorf("urgent record %d %s; stored %v", a.Seq, a.Payload, seqs(stored))
	}
}

func TestCommitRefusesBadInputWithoutUsingASeq(t *testing.T) {
	s := openT(t, t.TempDir(), quiet())
	var nilVital *wire.Vital
	bad := []struct {
		topic string
		p     wire.Stamped
	}{
		{root + "/vitals/spo2", nil},
		{root + "/vitals/spo2", nilVital},
		{"", vital(1)},
		{root + "/+/spo2", vital(1)},
		{root + "/vitals/spo2", &wire.Vital{Value: wire.N(math.NaN())}}, // not JSON
	}
	for _, b := range bad {
		if _, err := s.Commit(b.topic, b.p, true, true); err == nil {
			t.Errorf("Commit(%q, %v) accepted", b.topic, b.p)
		}
	}
	if r := commitT(t, s, root+"/vitals/spo2", vital(1), true); r.Seq != 1 {
		t.Errorf("a refused commit used a seq: next is %d", r.Seq)
	}
	closeT(t, s)
	if _, err := s.Commit(root+"/alarm", alarm("a"), true, true); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Pending(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Pending after Close: %v", err)
	}
	s.Ack(1) // ignored, no panic
}

func TestOpenDirThatIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f, quiet()); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("Open under a file: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for topic, want := range map[string]class{
		root + "/vitals/spo2":      classDroppable,
		root + "/vitals/pulse":     classDroppable,
		root + "/pleth":            classDroppable,
		root + "/vitals/nibp":      classVital,
		root + "/alarm":            classAlarm,
		root + "/alarms":           classKept,
		root + "/session":          classKept,
		root + "/session/summary":  classKept,
		root + "/gap":              classKept,
		"x/myalarm":                classKept,
		"vitals/spo2":              classDroppable,
		root + "/vitals/spo2/more": classVital,
	} {
		if got := classify(topic); got != want {
			t.Errorf("classify(%q) = %d, want %d", topic, got, want)
		}
	}
	for topic, want := range map[string]string{
		root + "/vitals/spo2": root, root + "/session/summary": root, root + "/alarm": root,
		root + "/vitals/other": root, "alarm": "", "x/unknown": "",
	} {
		if got := rootOf(topic); got != want {
			t.Errorf("rootOf(%q) = %q, want %q", topic, got, want)
		}
	}
}

func TestReadOnlyReadsWithoutCountingABoot(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, Options{ReadOnly: true}); err == nil {
		t.Error("read-only Open made a store")
	}
	s := openT(t, dir, quiet())
	commitT(t, s, root+"/alarm", alarm("a"), true)
	if err := s.LogAudit(Entry{Action: "ack"}); err != nil {
		t.Fatal(err)
	}
	stream := s.Stream()
	closeT(t, s)
	before, _ := os.ReadFile(s.Path())

	r := openT(t, dir, Options{ReadOnly: true})
	if r.Boot() != 1 || r.Stream() != stream {
		t.Errorf("read-only boot %d stream %q", r.Boot(), r.Stream())
	}
	if got := auditT(t, r); len(got) != 1 {
		t.Errorf("audit %v", got)
	}
	if recs := pendingT(t, r); len(recs) != 1 {
		t.Errorf("pending %v", seqs(recs))
	}
	if _, err := r.Commit(root+"/alarm", alarm("b"), true, true); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Commit: %v", err)
	}
	for name, err := range map[string]error{
		"LogAudit": r.LogAudit(Entry{}), "SaveSnapshot": r.SaveSnapshot(nil), "Flush": r.Flush(),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v", name, err)
		}
	}
	r.Ack(1)
	closeT(t, r)
	if after, _ := os.ReadFile(s.Path()); string(after) != string(before) {
		t.Error("a read-only Open changed the file")
	}
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if s.Boot() != 2 {
		t.Errorf("boot %d after a read-only open, want 2", s.Boot())
	}
}

func TestSecondOpenIsLockedNotCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	defer closeT(t, s)
	_, err := Open(dir, quiet())
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("second Open: %v; want a lock error naming the file, not corruption", err)
	}
}

// TestAckingAWholeMultiPageBacklogInOneCommit is a backlog of several leaf
// pages acknowledged in one group commit: every leaf empties in one
// transaction, where bbolt v1.5.0's Cursor.Last never returns. The daemon
// hung at shutdown this way after a long outage.
func TestAckingAWholeMultiPageBacklogInOneCommit(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	const n = 600 // about 40 leaf pages of vitals
	for i := 0; i < n; i++ {
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, r := range pendingT(t, s) {
		s.Ack(r.Seq)
	}
	done := make(chan error, 1)
	go func() { done <- s.Flush() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the group commit acknowledging the whole backlog did not return")
	}
	if got := pendingT(t, s); len(got) != 0 {
		t.Fatalf("%d records still pending", len(got))
	}
	closeT(t, s)
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if r := commitT(t, s, root+"/alarm", alarm("a"), true); r.Seq != n+1 {
		t.Fatalf("seq %d after reopen, want %d: seq_done not kept", r.Seq, n+1)
	}
}
