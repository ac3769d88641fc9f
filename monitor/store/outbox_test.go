package store

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPendingOrderAndAckDeletes(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	for i := 0; i < 20; i++ {
		topic := root + "/vitals/spo2"
		if i%5 == 0 {
			topic = root + "/alarm"
		}
		commitT(t, s, topic, vital(float64(i)), false)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	recs := pendingT(t, s)
	if want := seqRange(1, 20); !slices.Equal(seqs(recs), want) {
		t.Fatalf("pending %v, want %v", seqs(recs), want)
	}
	for _, seq := range []uint64{1, 2, 3, 10, 20, 99} {
		s.Ack(seq)
	}
	// Acked records leave Pending at once, before their deletion is written.
	want := slices.DeleteFunc(seqRange(1, 20), func(q uint64) bool { return q <= 3 || q == 10 || q == 20 })
	if got := seqs(pendingT(t, s)); !slices.Equal(got, want) {
		t.Fatalf("pending after acks %v, want %v", got, want)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != int64(len(want)) {
		t.Errorf("records %d after acks, want %d", st.Records, len(want))
	}
	recs, err := s.Pending(4, 3)
	if err != nil || !slices.Equal(seqs(recs), []uint64{5, 6, 7}) {
		t.Errorf("Pending(4, 3) = %v, %v", seqs(recs), err)
	}
	closeT(t, s)
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if got := seqs(pendingT(t, s)); !slices.Equal(got, want) {
		t.Errorf("after reopen pending %v, want %v", got, want)
	}
	if st := s.Stats(); st.Records != int64(len(want)) || st.Bytes <= 0 {
		t.Errorf("stats after reopen %+v", st)
	}
}

func TestQueuedRecordsHaveNoSeqUntilCommitted(t *testing.T) {
	s, k := openS(t, t.TempDir(), quiet())
	defer closeT(t, s)
	commitT(t, s, root+"/vitals/spo2", vital(1), true) // in the file
	for i := 2; i <= 3; i++ {
		if r := commitT(t, s, root+"/vitals/spo2", vital(float64(i)), false); r.Seq != 0 || r.Payload != nil {
			t.Fatalf("a queued record came back as %+v", r)
		}
	}
	if recs := pendingT(t, s); !slices.Equal(seqs(recs), []uint64{1}) {
		t.Fatalf("pending %v: queued records have no seq yet", seqs(recs))
	}
	if st := s.Stats(); st.Queued != 2 || st.Records != 1 || len(k.all()) != 0 {
		t.Errorf("stats %+v, delivered %v; want 2 queued, 1 stored, none delivered", st, seqs(k.all()))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := seqs(k.all()); !slices.Equal(got, []uint64{2, 3}) {
		t.Errorf("OnCommitted got %v, want [2 3]", got)
	}
	if recs := pendingT(t, s); !slices.Equal(seqs(recs), []uint64{1, 2, 3}) || string(recs[2].Payload) != string(k.last().Payload) {
		t.Errorf("pending %v after the group commit", seqs(recs))
	}
}

// TestLiveFeedHasEverySeqOnce: with concurrent committers, the live feed
// (OnCommitted, and urgent Commits' returns) has every seq once, however
// background and urgent group commits interleave; OnCommitted calls never
// overlap.
func TestLiveFeedHasEverySeqOnce(t *testing.T) {
	var mu sync.Mutex
	var live []uint64
	var busy, overlaps, calls atomic.Int32
	opts := Options{CommitEvery: time.Millisecond, OnCommitted: func(recs []Record) {
		if busy.Add(1) != 1 {
			overlaps.Add(1)
		}
		calls.Add(1)
		time.Sleep(50 * time.Microsecond) // widen the window for an overlap
		mu.Lock()
		live = append(live, seqs(recs)...)
		mu.Unlock()
		busy.Add(-1)
	}}
	s := openT(t, t.TempDir(), opts)
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ { // the engine, and two more committers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				if i%7 == 3 {
					r, err := s.Commit(root+"/alarm", alarm("a"), true, true)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					live = append(live, r.Seq)
					mu.Unlock()
					continue
				}
				if _, err := s.Commit(root+"/vitals/spo2", vital(97), true, false); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	closeT(t, s)
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d OnCommitted calls overlapped another", n)
	}
	// Three committers race, so one's urgent record may be appended after
	// another's later delivery: only "each seq once" holds across goroutines
	// (TestUrgentCommitReturnsAfterEarlierDeliveries checks the order).
	if !slices.Equal(slices.Sorted(slices.Values(live)), seqRange(1, 1200)) {
		t.Fatalf("live feed has %d records, not seqs 1..1200 once each", len(live))
	}
	if calls.Load() < 2 {
		t.Errorf("%d OnCommitted calls: the test did not exercise group commits", calls.Load())
	}
}

// TestUrgentCommitReturnsAfterEarlierDeliveries: from one committer (the
// daemon's writer goroutine) the live feed is exactly seq order.
func TestUrgentCommitReturnsAfterEarlierDeliveries(t *testing.T) {
	var mu sync.Mutex
	var live []uint64
	opts := Options{CommitEvery: time.Millisecond, OnCommitted: func(recs []Record) {
		time.Sleep(100 * time.Microsecond) // a slow delivery must still come first
		mu.Lock()
		live = append(live, seqs(recs)...)
		mu.Unlock()
	}}
	s := openT(t, t.TempDir(), opts)
	for i := 0; i < 1500; i++ {
		if i%9 == 8 {
			r := commitT(t, s, root+"/alarm", alarm("a"), true)
			mu.Lock()
			live = append(live, r.Seq)
			mu.Unlock()
			continue
		}
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond) // let background group commits run
		}
	}
	closeT(t, s)
	if !slices.Equal(live, seqRange(1, 1500)) {
		for i := range live {
			if live[i] != uint64(i+1) {
				t.Fatalf("live feed out of order at %d: ...%v...", i, live[max(0, i-3):min(len(live), i+4)])
			}
		}
		t.Fatalf("live feed has %d records, want 1500", len(live))
	}
	if st := s.Stats(); st.Commits < 3 {
		t.Errorf("%d transactions: the test did not exercise background group commits", st.Commits)
	}
}

func TestSeqContinuesAfterEveryRecordIsAcked(t *testing.T) {
	dir := t.TempDir()
	s, k := openS(t, dir, quiet())
	for i := 0; i < 3; i++ {
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
	}
	a := commitT(t, s, root+"/alarm", alarm("a"), true)
	for _, r := range append(k.all(), a) {
		s.Ack(r.Seq)
	}
	if err := s.Flush(); err != nil { // the outbox is empty now
		t.Fatal(err)
	}
	crashed := copyStore(t, s) // and the power goes
	closeT(t, s)
	for _, d := range []string{dir, crashed} {
		s := openT(t, d, quiet())
		if n := len(pendingT(t, s)); n != 0 {
			t.Errorf("%d records pending", n)
		}
		if r := commitT(t, s, root+"/alarm", alarm("b"), true); r.Seq != 5 {
			t.Errorf("seq %d after 4 acked ones, want 5", r.Seq)
		}
		closeT(t, s)
	}
}

// TestMetaUntouchedWhileTheNewestIsStored: a group commit that leaves its
// newest record in the outbox does not rewrite seq_done.
func TestMetaUntouchedWhileTheNewestIsStored(t *testing.T) {
	s, k := openS(t, t.TempDir(), quiet())
	defer closeT(t, s)
	commitNowT(t, s, k, root+"/vitals/spo2", vital(97))
	before := s.Stats().BytesPut
	r := commitNowT(t, s, k, root+"/vitals/spo2", vital(97))
	put := s.Stats().BytesPut - before
	if want := uint64(8 + recordHeader + len(r.Topic) + len(r.Payload)); put != want {
		t.Errorf("put %d bytes, want only the record's %d", put, want)
	}
	s.Ack(r.Seq)
	before = s.Stats().BytesPut
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if put := s.Stats().BytesPut - before; put != uint64(len(keySeqDone)+8) {
		t.Errorf("acking the newest put %d bytes, want seq_done's %d", put, len(keySeqDone)+8)
	}
}

func TestGroupCommitIsOneTransaction(t *testing.T) {
	s := openT(t, t.TempDir(), quiet())
	defer closeT(t, s)
	before := s.Stats().Commits
	for i := 0; i < 300; i++ {
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
	}
	if st := s.Stats(); st.Commits != before || st.Queued != 300 {
		t.Fatalf("before the window: %d commits, %d queued; want none written", st.Commits-before, st.Queued)
	}
	onDisk := copyStore(t, s)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Commits != before+1 || st.Records != 300 {
		t.Errorf("after Flush: %d transactions, %d stored; want 1 and 300", st.Commits-before, st.Records)
	}
	// What the disk held before the group commit: none of them, and no
	// hole for them either.
	c := openT(t, onDisk, quiet())
	defer closeT(t, c)
	if recs := pendingT(t, c); len(recs) != 0 {
		t.Errorf("%v on disk before their group commit", seqs(recs))
	}
	if r := commitT(t, c, root+"/alarm", alarm("a"), true); r.Seq != 1 {
		t.Errorf("seq %d after a cut that lost only queued records, want 1", r.Seq)
	}
}

func TestGroupCommitAfterWindowByInjectedClock(t *testing.T) {
	clk := newClock()
	opts := quiet()
	opts.Now = clk.Now
	s := openT(t, t.TempDir(), opts)
	defer closeT(t, s)
	before := s.Stats().Commits
	commitT(t, s, root+"/vitals/spo2", vital(97), false)
	clk.Add(59 * time.Minute)
	commitT(t, s, root+"/vitals/pulse", vital(70), false)
	if st := s.Stats(); st.Commits != before {
		t.Fatalf("written before the window ended")
	}
	clk.Add(time.Minute) // the window (1 h) is over: the next call wakes the writer
	commitT(t, s, root+"/vitals/spo2", vital(96), false)
	waitFor(t, "the group commit", func() bool { return s.Stats().Commits == before+1 })
	if st := s.Stats(); st.Records != 3 || st.Queued != 0 {
		t.Errorf("stats %+v, want 3 stored in one transaction", st)
	}
}

func TestGroupCommitAfterWindowByTimer(t *testing.T) {
	s := openT(t, t.TempDir(), Options{CommitEvery: 20 * time.Millisecond})
	defer closeT(t, s)
	before := s.Stats().Commits
	for i := 0; i < 5; i++ {
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
	}
	waitFor(t, "the window's group commit", func() bool { return s.Stats().Records == 5 })
	if n := s.Stats().Commits - before; n < 1 || n > 5 {
		t.Errorf("%d transactions for 5 records", n)
	}
	// Acks alone are written after a window too.
	s.Ack(1)
	s.Ack(2)
	waitFor(t, "the acks' group commit", func() bool { return s.Stats().Records == 3 })
}

func TestUrgentCommitIsDurableAtReturn(t *testing.T) {
	s, k := openS(t, t.TempDir(), quiet())
	defer closeT(t, s)
	for i := 0; i < 4; i++ {
		commitT(t, s, root+"/vitals/spo2", vital(97), false)
	}
	a := commitT(t, s, root+"/alarm", alarm("a-1-1"), true)
	commitT(t, s, root+"/vitals/spo2", vital(97), false) // queued when the power goes
	crashed := copyStore(t, s)                           // a power cut right now
	c := openT(t, crashed, quiet())
	defer closeT(t, c)
	recs := pendingT(t, c)
	if !slices.Equal(seqs(recs), []uint64{1, 2, 3, 4, 5}) || a.Seq != 5 {
		t.Fatalf("after the cut: %v, alarm %d; want the alarm as 5 and everything queued before it, no gap", seqs(recs), a.Seq)
	}
	if string(recs[4].Payload) != string(a.Payload) {
		t.Errorf("stored %s, published %s", recs[4].Payload, a.Payload)
	}
	for i, r := range k.all() {
		if string(recs[i].Payload) != string(r.Payload) {
			t.Errorf("stored %s, delivered %s", recs[i].Payload, r.Payload)
		}
	}
	// The queued vital had no seq: the next one is 6, with no gap record.
	if r := commitT(t, c, root+"/alarm", alarm("a-2-1"), true); r.Seq != 6 {
		t.Errorf("seq %d after the cut, want 6", r.Seq)
	}
}

func TestConcurrentCommitAckPending(t *testing.T) {
	published := make(chan Record, 4096) // never full: OnCommitted must not block
	s := openT(t, t.TempDir(), Options{CommitEvery: 5 * time.Millisecond, OnCommitted: func(recs []Record) {
		for _, r := range recs {
			published <- r
		}
	}})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the engine
		defer wg.Done()
		defer close(published)
		defer func() {
			if err := s.Flush(); err != nil { // the last deliveries, before the close
				t.Error(err)
			}
		}()
		for i := 0; i < 2000; i++ {
			topic := root + "/vitals/spo2"
			if i%100 == 0 {
				topic = root + "/alarm"
			}
			r, err := s.Commit(topic, vital(97), true, i%100 == 0)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Seq != 0 {
				published <- r
			}
		}
	}()
	go func() { // the publisher: acks every other record, reads the backlog
		defer wg.Done()
		n := 0
		for r := range published {
			n++
			if r.Seq%2 == 0 {
				s.Ack(r.Seq)
			}
			if r.Seq%250 == 0 {
				if _, err := s.Pending(0, 100); err != nil {
					t.Error(err)
				}
			}
		}
		if n != 2000 {
			t.Errorf("published %d records, want 2000", n)
		}
	}()
	wg.Wait()
	closeT(t, s)
	s = openT(t, filepathDir(s.Path()), quiet())
	defer closeT(t, s)
	recs := pendingT(t, s)
	if len(recs) != 1000 {
		t.Fatalf("%d records left, want the 1000 odd ones", len(recs))
	}
	for i, r := range recs {
		if r.Seq != uint64(2*i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
}

func seqRange(a, b uint64) []uint64 {
	var out []uint64
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}
