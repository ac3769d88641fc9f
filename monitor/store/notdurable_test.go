package store

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// told collects what OnNotDurable hands out.
type told struct {
	mu   sync.Mutex
	recs []Record
}

func (k *told) on(recs []Record) {
	k.mu.Lock()
	k.recs = append(k.recs, recs...)
	k.mu.Unlock()
}

func (k *told) all() []Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.recs)
}

// TestFailedSnapshotSaveIsReported: the first failed write raises the fault,
// whatever asked for it. A full disk used to be reported only by a failed
// background commit, which the snapshot saves (failing too, silently) kept
// pushing back: store_fault came seconds late.
func TestFailedSnapshotSaveIsReported(t *testing.T) {
	var f faults
	opts := quiet()
	opts.OnFault = f.on
	s := openT(t, t.TempDir(), opts)
	defer closeT(t, s)
	var broken atomic.Bool
	failing(s, &broken)
	broken.Store(true)
	defer broken.Store(false) // before the deferred Close
	if err := s.SaveSnapshot([]byte("snap")); !errors.Is(err, errDisk) {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if errs := f.list(); len(errs) != 1 || !errors.Is(errs[0], errDisk) {
		t.Fatalf("faults after a failed snapshot save: %v, want it reported", errs)
	}
	if err := s.LogAudit(Entry{Action: "ack"}); !errors.Is(err, errDisk) {
		t.Fatalf("LogAudit: %v", err)
	}
	if n := len(f.list()); n != 2 {
		t.Errorf("%d faults after a failed audit write, want 2", n)
	}
}

// TestVitalsDoNotWaitForAFailingDisk: once a group commit has failed, the
// vitals queued before it are handed out at once (OnNotDurable), later ones
// come back from Commit to publish (ErrNotDurable), and all of them are kept
// and reach OnCommitted with seqs when the disk is back.
func TestVitalsDoNotWaitForAFailingDisk(t *testing.T) {
	var f faults
	var k told
	opts := quiet()
	opts.OnFault = f.on
	opts.OnNotDurable = k.on
	s, c := openS(t, t.TempDir(), opts)
	defer closeT(t, s)
	var broken atomic.Bool
	failing(s, &broken)
	broken.Store(true)

	commitT(t, s, root+"/vitals/spo2", vital(97), false) // queued: the disk looks fine
	commitT(t, s, root+"/vitals/pulse", vital(70), false)
	if err := s.Flush(); !errors.Is(err, errDisk) { // the window's commit fails
		t.Fatalf("Flush: %v", err)
	}
	if got := k.all(); len(got) != 2 || got[0].Seq != 0 || !strings.Contains(string(got[0].Payload), `"value":97`) ||
		!strings.Contains(string(got[1].Payload), `"value":70`) || strings.Contains(string(got[0].Payload), `"seq"`) {
		t.Fatalf("OnNotDurable after the failed commit: %v", got)
	}
	if len(f.list()) != 1 {
		t.Errorf("faults %v", f.list())
	}
	r, err := s.Commit(root+"/vitals/spo2", vital(96), true, false)
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, errDisk) || r.Seq != 0 || !strings.Contains(string(r.Payload), `"value":96`) {
		t.Fatalf("Commit on a failing disk: %+v, %v; want it back at once to publish", r, err)
	}
	if err := s.Flush(); !errors.Is(err, errDisk) {
		t.Fatalf("Flush: %v", err)
	}
	if n := len(k.all()); n != 2 {
		t.Errorf("OnNotDurable got %d records; each is handed out once", n)
	}
	broken.Store(false)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := seqs(c.all()); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("OnCommitted after recovery %v, want 1..3", got)
	}
	if _, err := s.Commit(root+"/vitals/spo2", vital(95), true, false); err != nil {
		t.Errorf("Commit after recovery: %v", err)
	}
}

// TestVitalsDoNotWaitForAHungDisk: a group commit that does not return (an
// SD card that hangs) holds no vital back longer than StallAfter: the next
// Commit hands out everything queued and in the hung commit (OnNotDurable)
// and returns its own record, ErrStalled, without waiting.
func TestVitalsDoNotWaitForAHungDisk(t *testing.T) {
	clk := newClock()
	var k told
	opts := quiet()
	opts.Now = clk.Now
	opts.OnNotDurable = k.on
	s, c := openS(t, t.TempDir(), opts)
	hang, entered := make(chan struct{}), make(chan struct{}, 1)
	s.writeMu.Lock()
	s.failHook = func() error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-hang
		return nil
	}
	s.writeMu.Unlock()

	commitT(t, s, root+"/vitals/spo2", vital(97), false)
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush() }() // the window's commit: hangs
	<-entered
	commitT(t, s, root+"/vitals/pulse", vital(70), false) // within StallAfter: queued
	if len(k.all()) != 0 {
		t.Fatalf("handed out before the stall: %v", k.all())
	}
	clk.Add(DefaultStallAfter)
	r, err := s.Commit(root+"/vitals/spo2", vital(96), true, false)
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, ErrStalled) || r.Seq != 0 || !strings.Contains(string(r.Payload), `"value":96`) {
		t.Fatalf("Commit with a hung commit running: %+v, %v", r, err)
	}
	if got := k.all(); len(got) != 2 || !strings.Contains(string(got[0].Payload), `"value":97`) || !strings.Contains(string(got[1].Payload), `"value":70`) {
		t.Fatalf("OnNotDurable %v, want the hung commit's record, then the queued one", got)
	}
	close(hang)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := seqs(c.all()); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("OnCommitted once the disk answers %v, want 1..3", got)
	}
	closeT(t, s)
}
