package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// failingCommits is a disk that refuses every commit at once (full, or
// read-only since boot) and saves snapshots.
type failingCommits struct {
	mu      sync.Mutex
	commits int
}

func (f *failingCommits) Commit(topic string, p wire.Stamped, clockSynced, urgent bool) (store.Record, error) {
	f.mu.Lock()
	f.commits++
	f.mu.Unlock()
	return store.Record{}, fmt.Errorf("%w: disk full", store.ErrNotDurable)
}
func (f *failingCommits) SetOnCommitted(func([]store.Record))         {}
func (f *failingCommits) SaveSnapshot([]byte) error                   { return nil }
func (f *failingCommits) Pending(uint64, int) ([]store.Record, error) { return nil, nil }
func (f *failingCommits) Ack(uint64)                                  {}

// faultLog collects what delivery reports as store faults.
type faultLog struct {
	mu   sync.Mutex
	errs []string
}

func (f *faultLog) fault(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err.Error())
	f.mu.Unlock()
}

func (f *faultLog) count(substr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.errs {
		if strings.Contains(e, substr) {
			n++
		}
	}
	return n
}

// startDelivery starts a Delivery on st (nil: none) with a fake broker; the
// clock is reported unsynchronised, so the stamp can be told from a default.
func startDelivery(t *testing.T, st Store, bound time.Duration) (*Delivery, *fakeLink, *faultLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	link, faults := &fakeLink{}, &faultLog{}
	d := New(Config{Root: "t/c", Stream: "stream-1", Boot: 7, Store: st, Link: link,
		ClockSynced: func() bool { return false }, Fault: faults.fault, Logger: slog.New(slog.DiscardHandler), StallAfter: bound})
	d.Start(ctx)
	return d, link, faults
}

var at = wire.At(time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC))

// oneOfEach is one record of every kind, with the topic each must go to.
func oneOfEach() ([]monitor.Event, map[string]bool) {
	evs := []monitor.Event{
		wire.Alarm{T: at, Session: "s-1", ID: "a-1", Condition: "spo2_low", Kind: "physiological", Priority: "high",
			Phase: wire.PhaseStart, State: "active", Value: wire.N(85), Limit: wire.N(90), Audio: "on", Started: at},
		wire.Vital{T: at, Session: "s-1", Param: "spo2", Value: wire.N(85), Unit: "%", Source: "nonin", Flags: []string{}},
		wire.Vital{T: at, Session: "s-1", Param: "pulse", Value: wire.N(70), Unit: "bpm", Source: "nonin", Flags: []string{}},
		wire.NIBP{T: at, Session: "s-1"},
		wire.Session{T: at, ID: "s-1", Phase: "infusion"},
		wire.Summary{T: at, ID: "s-1"},
	}
	topics := map[string]bool{"t/c/" + wire.TopicAlarm: false, "t/c/" + wire.TopicSpO2: false, "t/c/" + wire.TopicPulse: false,
		"t/c/" + wire.TopicNIBP: false, "t/c/" + wire.TopicSession: true, "t/c/" + wire.TopicSummary: false}
	return evs, topics
}

// checkUnstored checks that every topic got exactly one record stamped in
// memory: the version, the stream and boot, the clock's state, and no seq
// (a seq the store never wrote would be a lie to the records system).
func checkUnstored(t *testing.T, msgs []sentMsg, topics map[string]bool) {
	t.Helper()
	got := map[string]int{}
	for _, m := range msgs {
		got[m.topic]++
		var rec wire.Record
		if err := json.Unmarshal([]byte(m.payload), &rec); err != nil {
			t.Fatalf("%s: %v", m.topic, err)
		}
		if !m.record || rec.V != wire.Version || rec.Stream != "stream-1" || rec.Boot != 7 || rec.Seq != 0 || rec.ClockSynced {
			t.Errorf("%s: record %v, stamp %+v: want a record stamped v, stream-1, boot 7, no seq, clock unsynced: %s", m.topic, m.record, rec, m.payload)
		}
		if want, ok := topics[m.topic]; !ok || m.retained != want {
			t.Errorf("%s: retained %v (known topic %v)", m.topic, m.retained, ok)
		}
	}
	for topic := range topics {
		if got[topic] != 1 {
			t.Errorf("%s: published %d times, want once", topic, got[topic])
		}
	}
}

// TestFailedCommitPublishesRecordsUnstored: when the store refuses a commit
// at once (a full or read-only disk), the alarm and every other record still
// go to the broker, stamped in memory without a seq, and each failure is
// reported for store_fault. The stall bound is an hour, so only the failed
// commit's own fallback can have published them.
func TestFailedCommitPublishesRecordsUnstored(t *testing.T) {
	st := &failingCommits{}
	d, link, faults := startDelivery(t, st, time.Hour)
	evs, topics := oneOfEach()
	d.Handle(evs)
	eventually(t, "every record published", func() bool { return link.count() >= len(topics) })
	eventually(t, "every failure reported", func() bool { return faults.count("disk full") == len(topics) })
	time.Sleep(20 * time.Millisecond) // a second publish of any of them would show now
	checkUnstored(t, link.messages(), topics)
	if !strings.Contains(link.messages()[0].payload, `"condition":"spo2_low"`) {
		t.Errorf("first out is not the alarm: %s", link.messages()[0].payload)
	}

	// The session record went out without the store: a reconnect still
	// restores it as the retained session.
	n := link.count()
	d.Connected()
	eventually(t, "the session republished", func() bool { return link.count() > n })
	if m := link.messages()[n]; m.topic != "t/c/"+wire.TopicSession || !m.retained || !strings.Contains(m.payload, `"id":"s-1"`) {
		t.Errorf("republished %+v, want the retained session", m)
	}
}

// TestHungThenFailedCommitPublishesOnce: a commit that hangs past the stall
// bound is published stamped in memory; when the disk then fails it, the
// record is not published a second time.
func TestHungThenFailedCommitPublishesOnce(t *testing.T) {
	st := newHungStore()
	d, link, faults := startDelivery(t, st, 50*time.Millisecond)
	evs, _ := oneOfEach()
	d.Handle(evs[:1])
	eventually(t, "the alarm published while the disk hangs", func() bool { return link.count() == 1 })
	eventually(t, "the stall reported", func() bool { return faults.count("hangs") == 1 })
	close(st.gate) // the disk answers: the commit failed
	eventually(t, "the failure reported", func() bool { return faults.count("released") == 1 })
	time.Sleep(20 * time.Millisecond)
	if n := link.count(); n != 1 {
		t.Fatalf("the alarm was published %d times, want once", n)
	}
	checkUnstored(t, link.messages(), map[string]bool{"t/c/" + wire.TopicAlarm: false})
}

// TestNoStoreNoAlarmLogPublishesEveryRecord: with neither a store nor an
// alarm log (both failed to open), every record goes out stamped in memory,
// and Drain ends the writer.
func TestNoStoreNoAlarmLogPublishesEveryRecord(t *testing.T) {
	d, link, faults := startDelivery(t, nil, time.Hour)
	evs, topics := oneOfEach()
	d.Handle(append(evs, monitor.Audit{T: at.Time, By: "nurse@station", Action: wire.ActionMark, OK: true}))
	eventually(t, "every record published", func() bool { return link.count() >= len(topics) })
	time.Sleep(20 * time.Millisecond)
	checkUnstored(t, link.messages(), topics)
	if n := faults.count(""); n != 0 {
		t.Errorf("%d faults reported; a missing store is raised by the daemon once, not per record", n)
	}
	done := make(chan struct{})
	go func() { d.Drain(nil, time.Now().Add(5*time.Second)); close(done) }()
	select {
	case <-d.writerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not end with Drain")
	}
	<-done
}

// TestFullDiskQueuePublishesAtOnce: behind a hung write (the stall bound not
// reached yet), at most maxDiskJobs writes wait; a record past that is
// published at once, stamped in memory, and the overflow is reported.
func TestFullDiskQueuePublishesAtOnce(t *testing.T) {
	st := newHungStore()
	defer close(st.gate)
	d, link, faults := startDelivery(t, st, time.Hour)
	const extra = 5
	v := wire.Vital{T: at, Session: "s-1", Param: "spo2", Value: wire.N(97), Unit: "%", Source: "nonin", Flags: []string{}}
	for range maxDiskJobs + 1 + extra {
		d.Handle([]monitor.Event{v})
	}
	eventually(t, "the overflow published", func() bool { return link.count() >= extra })
	time.Sleep(20 * time.Millisecond)
	// One write is in the store, maxDiskJobs wait; the disk goroutine may
	// not have taken the first yet, so one more may have overflowed.
	if n := link.count(); n != extra && n != extra+1 {
		t.Fatalf("%d records published past the queue, want %d", n, extra)
	}
	if n := faults.count("writes wait for the disk"); n != link.count() {
		t.Errorf("%d overflows reported for %d published", n, link.count())
	}
	checkUnstored(t, link.messages()[:1], map[string]bool{"t/c/" + wire.TopicSpO2: false})
}

// TestNotDurableAndRetainedState: the records a failing store hands back
// (OnNotDurable) go out as records without a seq, the session retained;
// the alarm list goes out retained; and at every (re)connect the latest
// alarm list and session go out again, then a backlog pass runs.
func TestNotDurableAndRetainedState(t *testing.T) {
	d, link, _ := startDelivery(t, nil, time.Hour)
	d.NotDurable([]store.Record{
		{Topic: "t/c/" + wire.TopicAlarm, Payload: []byte(`{"id":"a-1"}`)},
		{Topic: "t/c/" + wire.TopicSession, Payload: []byte(`{"id":"s-1"}`)},
	})
	d.Handle([]monitor.Event{wire.Alarms{V: wire.Version, T: at, Alarms: []wire.Alarm{}}})
	eventually(t, "three published", func() bool { return link.count() == 3 })
	want := []sentMsg{
		{topic: "t/c/" + wire.TopicAlarm, payload: `{"id":"a-1"}`, record: true},
		{topic: "t/c/" + wire.TopicSession, payload: `{"id":"s-1"}`, retained: true, record: true},
	}
	got := link.messages()
	for i, w := range want {
		if got[i] != w {
			t.Errorf("message %d: %+v, want %+v", i, got[i], w)
		}
	}
	if m := got[2]; m.topic != "t/c/"+wire.TopicAlarms || !m.retained || m.record {
		t.Errorf("alarm list: %+v, want live and retained", m)
	}

	passes := d.pub.passes.Load()
	d.Connected()
	eventually(t, "the retained state again", func() bool { return link.count() == 5 })
	eventually(t, "a backlog pass", func() bool { return d.pub.passes.Load() > passes })
	got = link.messages()
	if got[3].topic != "t/c/"+wire.TopicAlarms || !got[3].retained || got[3].payload != got[2].payload {
		t.Errorf("after connect: %+v, want the alarm list retained", got[3])
	}
	if got[4].topic != "t/c/"+wire.TopicSession || !got[4].retained || got[4].payload != `{"id":"s-1"}` {
		t.Errorf("after connect: %+v, want the session retained", got[4])
	}
}

// TestReplyNowIsNotHeld: a reply to a command the engine never saw (busy)
// goes out at once, even while a snapshot save holds the engine's replies.
func TestReplyNowIsNotHeld(t *testing.T) {
	st := &gatedStore{hungStore: *newHungStore(), saves: make(chan []byte), done: make(chan error)}
	defer close(st.gate)
	d, link, _ := startDelivery(t, st, time.Hour)
	d.snaps.submit([]byte(`{"snapshot":1}`), []wire.Reply{{V: wire.Version, ID: "held", OK: true}})
	<-st.saves // the save hangs from here
	d.ReplyNow(wire.Reply{V: wire.Version, ID: "c-9", OK: false, Error: "busy"})
	eventually(t, "the busy reply", func() bool { return link.count() == 1 })
	m := link.messages()[0]
	if m.topic != "t/c/"+wire.TopicCmdReply || m.record || !strings.Contains(m.payload, `"id":"c-9"`) || strings.Contains(m.payload, "durable") {
		t.Errorf("busy reply %+v", m)
	}
	st.done <- nil
	eventually(t, "the held reply after the save", func() bool { return link.count() == 2 })
}

// TestFaultRaiserLimitsUpdates: the first fault is raised at once; the same
// message is not raised again; a new one at most once a minute.
func TestFaultRaiserLimitsUpdates(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var raised []string
	f := NewFaultRaiser(slog.New(slog.DiscardHandler), func(msg string) { raised = append(raised, msg) })
	f.now = func() time.Time { return now }
	step := func(d time.Duration, err string) {
		now = now.Add(d)
		f.Fault(errors.New(err))
	}
	step(0, "disk full")                // the first: at once
	step(time.Second, "disk full")      // the same: not again
	step(time.Second, "write failed")   // new, but within the minute
	step(time.Minute, "write failed")   // a minute since the last raised: yes
	step(2*time.Minute, "write failed") // the same message: never again
	step(time.Second, "disk read-only") // new, over a minute since the last raised
	step(time.Second, "disk full")      // new, within the minute
	want := []string{"store: disk full", "store: write failed", "store: disk read-only"}
	if strings.Join(raised, "|") != strings.Join(want, "|") {
		t.Fatalf("raised %q, want %q", raised, want)
	}
}

// TestOpenStoreGivesUpAndReleasesTheStore: an open that has not finished
// within the bound is given up (the daemon starts without the store); when
// it finishes later, the store is closed, so its lock does not outlive the
// give-up (the next start can open it).
func TestOpenStoreGivesUpAndReleasesTheStore(t *testing.T) {
	dir := t.TempDir()
	release, opened := make(chan struct{}), make(chan struct{})
	_, err := openBounded(dir, func() (*store.Store, error) {
		<-release
		defer close(opened)
		return store.Open(dir, store.Options{})
	}, 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "has not finished after 20ms") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err %v, want the give-up naming the directory", err)
	}
	close(release)
	<-opened
	var st *store.Store
	eventually(t, "the late store closed", func() bool {
		st, err = store.Open(dir, store.Options{})
		return err == nil
	})
	_ = st.Close()

	st, err = OpenStore(dir, store.Options{}, time.Minute)
	if err != nil {
		t.Fatalf("open within the bound: %v", err)
	}
	_ = st.Close()
}

// busyLink refuses the first live publishes as busy (MaxInFlight
// reached).
type busyLink struct {
	fakeLink
	refusing sync.Mutex
	refusals int // still to refuse
}

func (b *busyLink) Publish(topic string, qos byte, retained bool, payload []byte, done func(error)) {
	b.refusing.Lock()
	refuse := b.refusals > 0
	b.refusals--
	b.refusing.Unlock()
	if refuse {
		done(mqttlink.ErrBusy)
		return
	}
	b.fakeLink.Publish(topic, qos, retained, payload, done)
}

// TestLiveMessageRetriedWhileLinkBusy: a reply or live state the link
// refuses as busy is tried again, not lost.
func TestLiveMessageRetriedWhileLinkBusy(t *testing.T) {
	link := &busyLink{refusals: 3}
	p := startPublisher(t, link, nil)
	p.send(outMsg{topic: "t/c/cmd/reply", payload: []byte(`{"id":"c-1"}`)})
	eventually(t, "the reply published after three busy refusals", func() bool { return link.count() == 1 })
}

// slowCommits is a store whose commits take a few milliseconds each (an SD
// card under load).
type slowCommits struct{ *store.Store }

func (s slowCommits) Commit(topic string, p wire.Stamped, clockSynced, urgent bool) (store.Record, error) {
	time.Sleep(5 * time.Millisecond)
	return s.Store.Commit(topic, p, clockSynced, urgent)
}

// TestDrainCommitsWhatIsQueued: at shutdown, Drain returns only once the
// records handed over are committed, and it saves the engine's last
// snapshot.
func TestDrainCommitsWhatIsQueued(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Root: "t/c", CommitEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, _, faults := startDelivery(t, slowCommits{st}, time.Hour)
	e := newEngine(t)
	v := wire.Vital{T: at, Session: "s-1", Param: "spo2", Value: wire.N(97), Unit: "%", Source: "nonin", Flags: []string{}}
	for range 50 {
		d.Handle([]monitor.Event{v})
	}
	d.Drain(e, time.Now().Add(5*time.Second))
	if got := pendingSeqs(t, st); len(got) != 50 {
		t.Fatalf("%d records in the store after Drain, want 50", len(got))
	}
	if b, err := st.LoadSnapshot(); err != nil || b == nil {
		t.Fatalf("no snapshot saved by Drain: %v", err)
	}
	if n := faults.count(""); n != 0 {
		t.Errorf("faults: %v", faults.errs)
	}
}

// dirtyEngine is an engine whose steps change what the test says.
type dirtyEngine struct{ dirty monitor.Dirty }

func (e *dirtyEngine) TakeDirty() monitor.Dirty {
	d := e.dirty
	e.dirty = monitor.Clean
	return d
}
func (e *dirtyEngine) Snapshot() monitor.Snapshot { return monitor.Snapshot{} }

// TestSnapshotTakenOnStateChangeStatsAtMostEvery30s: a step that changed the
// state (a phase, an alarm, a command) takes a snapshot at once; one that
// changed only the statistics (the vitals of every second) waits until 30 s
// after the last snapshot, so the SD card is not written every second.
func TestSnapshotTakenOnStateChangeStatsAtMostEvery30s(t *testing.T) {
	st := &gatedStore{hungStore: *newHungStore(), saves: make(chan []byte, 100), done: make(chan error, 100)}
	defer close(st.gate)
	d, _, _ := startDelivery(t, st, time.Hour)
	e := &dirtyEngine{}
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	taken := func() uint64 {
		d.snaps.mu.Lock()
		defer d.snaps.mu.Unlock()
		return d.snaps.want
	}
	for i, s := range []struct {
		at    time.Duration
		dirty monitor.Dirty
		want  uint64 // snapshots taken so far
	}{
		{0, monitor.StateChanged, 1},
		{time.Second, monitor.StatsChanged, 1},
		{10 * time.Second, monitor.StatsChanged, 1},
		{29 * time.Second, monitor.Clean, 1},
		{30 * time.Second, monitor.Clean, 2}, // the statistics, 30 s on
		{31 * time.Second, monitor.Clean, 2},
		{40 * time.Second, monitor.StatsChanged, 2},
		{45 * time.Second, monitor.StateChanged, 3}, // holds the statistics too
		{60 * time.Second, monitor.StatsChanged, 3},
		{74 * time.Second, monitor.Clean, 3},
		{75 * time.Second, monitor.Clean, 4}, // 30 s after the state change's
		{76 * time.Second, monitor.StatsChanged, 4},
		{106 * time.Second, monitor.StatsChanged, 5},
	} {
		e.dirty = s.dirty
		d.snapStep(e, t0.Add(s.at)) // AfterStep, with a fake engine
		if got := taken(); got != s.want {
			t.Fatalf("step %d (%s, dirty %v): %d snapshots, want %d", i, s.at, s.dirty, got, s.want)
		}
	}
}
