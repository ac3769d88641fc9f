package store

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

var errDisk = errors.New("simulated write error")

// failing makes every group commit fail while on is set.
func failing(s *Store, on *atomic.Bool) {
	s.writeMu.Lock()
	s.failHook = func() error {
		if on.Load() {
			return errDisk
		}
		return nil
	}
	s.writeMu.Unlock()
}

func TestFailedGroupCommitKeepsEverythingQueued(t *testing.T) {
	dir := t.TempDir()
	var f faults
	opts := quiet()
	opts.OnFault = f.on
	s, k := openS(t, dir, opts)
	var broken atomic.Bool
	failing(s, &broken)
	broken.Store(true)

	for i := 0; i < 3; i++ {
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
	}
	a, err := s.Commit(root+"/alarm", alarm("a-1-1"), true, true)
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, errDisk) {
		t.Fatalf("urgent commit on a failing disk: %+v, %v", a, err)
	}
	// Still publishable: stamped, without a seq.
	var got wire.Alarm
	if err := json.Unmarshal(a.Payload, &got); err != nil || a.Seq != 0 || a.Topic != root+"/alarm" ||
		got.ID != "a-1-1" || got.Record != (wire.Record{V: 1, Stream: s.Stream(), Boot: 1, ClockSynced: true}) ||
		strings.Contains(string(a.Payload), `"seq"`) {
		t.Fatalf("the failed urgent record must still be publishable: %+v %s (%v)", a, a.Payload, err)
	}
	if err := s.LogAudit(Entry{Action: "ack"}); !errors.Is(err, errDisk) {
		t.Errorf("LogAudit: %v", err)
	}
	if err := s.SaveSnapshot([]byte("snap")); !errors.Is(err, errDisk) {
		t.Errorf("SaveSnapshot: %v", err)
	}
	if got := seqs(pendingT(t, s)); len(got) != 0 || len(k.all()) != 0 {
		t.Errorf("pending %v, delivered %v while failing: nothing has a seq", got, seqs(k.all()))
	}
	if st := s.Stats(); st.Records != 0 || st.Queued != 4 {
		t.Errorf("stats while failing %+v", st)
	}

	broken.Store(false)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// The failed seqs were not used: 1..4, the alarm as 4, given to
	// OnCommitted since its Commit has returned.
	if got := k.all(); !slices.Equal(seqs(got), []uint64{1, 2, 3, 4}) || got[3].Topic != root+"/alarm" {
		t.Fatalf("OnCommitted after recovery: %v", seqs(got))
	}
	closeT(t, s)
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if got := seqs(pendingT(t, s)); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("after recovery and reopen %v", got)
	}
	if got := auditT(t, s); len(got) != 1 {
		t.Errorf("audit %v, want the entry written once", got)
	}
	if b, _ := s.LoadSnapshot(); string(b) != "snap" {
		t.Errorf("snapshot %q", b)
	}
	if r := commitT(t, s, root+"/alarm", alarm("a"), true); r.Seq != 5 {
		t.Errorf("seq %d after recovery, want 5", r.Seq)
	}
}

// TestQueueBoundOnAFailingDisk: past its bound the queue stops growing; a
// non-urgent record is refused as not durable, publishable, without a seq.
func TestQueueBoundOnAFailingDisk(t *testing.T) {
	var f faults
	opts := quiet()
	opts.OnFault = f.on
	s, k := openS(t, t.TempDir(), opts)
	defer closeT(t, s)
	var broken atomic.Bool
	failing(s, &broken)
	broken.Store(true)
	for i := 0; i < maxQueuedRecords; i++ {
		// Once the first background commit has failed, each is given back
		// at once to publish, and kept.
		if _, err := s.Commit(root+"/vitals/spo2", vital(97), true, false); err != nil && !errors.Is(err, ErrNotDurable) {
			t.Fatal(err)
		}
	}
	r, err := s.Commit(root+"/vitals/spo2", vital(96), true, false)
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, errDisk) || r.Seq != 0 || !strings.Contains(string(r.Payload), `"value":96`) {
		t.Fatalf("Commit over the bound: %+v, %v", r, err)
	}
	if st := s.Stats(); st.Queued != maxQueuedRecords {
		t.Errorf("%d queued, want the bound %d", st.Queued, maxQueuedRecords)
	}
	broken.Store(false)
	if err := s.Flush(); err != nil { // the retry
		t.Fatal(err)
	}
	commitT(t, s, root+"/vitals/spo2", vital(95), false)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := seqs(k.all()); !slices.Equal(got, seqRange(1, maxQueuedRecords+1)) {
		t.Errorf("OnCommitted got %d records, want 1..%d", len(got), maxQueuedRecords+1)
	}
}

func TestBackgroundFailureIsReportedAndRetried(t *testing.T) {
	var f faults
	s := openT(t, t.TempDir(), Options{CommitEvery: 10 * time.Millisecond, OnFault: f.on})
	defer closeT(t, s)
	var broken atomic.Bool
	failing(s, &broken)
	broken.Store(true)
	commitT(t, s, root+"/vitals/spo2", vital(97), false)
	waitFor(t, "a reported failure", func() bool { return len(f.list()) > 0 })
	if err := f.list()[0]; !errors.Is(err, errDisk) {
		t.Errorf("fault %v", err)
	}
	broken.Store(false)
	waitFor(t, "the retry", func() bool { return s.Stats().Records == 1 })
}

func TestFailedTrimUsesNoSeq(t *testing.T) {
	opts := quiet()
	opts.MaxBytes = 2000
	s := openT(t, t.TempDir(), opts)
	defer closeT(t, s)
	for i := 0; i < 10; i++ {
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
	}
	var broken atomic.Bool
	failing(s, &broken)
	broken.Store(true)
	if err := s.Flush(); !errors.Is(err, errDisk) { // would trim and write a gap as seq 11
		t.Fatalf("Flush: %v", err)
	}
	broken.Store(false)
	if r := commitT(t, s, root+"/alarm", alarm("a"), true); r.Seq != 11 {
		t.Errorf("seq %d, want 11: the failed transaction used seqs", r.Seq)
	}
	recs := pendingT(t, s)
	last := recs[len(recs)-1]
	if last.Topic != root+"/gap" || last.Seq != 12 {
		t.Fatalf("pending %v, want the gap last as 12; %+v", seqs(recs), s.Stats())
	}
}
