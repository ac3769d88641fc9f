package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// fakeLink acknowledges every publish at once and holds each proof of
// delivery for the test to settle: the broker's PUBACK and its delivery,
// apart.
type fakeLink struct {
	mu        sync.Mutex
	published []string      // payloads, in order
	sent      []sentMsg     // the same, with topic and flags
	confirms  []func(error) // done of each PublishProven, awaiting the proof
	down      bool          // Status: the heartbeat is not coming back
}

// sentMsg is one publish the fake link took.
type sentMsg struct {
	topic    string
	payload  string
	retained bool
	record   bool // published with PublishProven: a record-stream message
}

func (f *fakeLink) Publish(topic string, qos byte, retained bool, payload []byte, done func(error)) {
	f.mu.Lock()
	f.published = append(f.published, string(payload))
	f.sent = append(f.sent, sentMsg{topic: topic, payload: string(payload), retained: retained})
	f.mu.Unlock()
	done(nil)
}

func (f *fakeLink) PublishProven(topic string, retained bool, payload []byte, acked func(), done func(error)) {
	f.mu.Lock()
	f.published = append(f.published, string(payload))
	f.sent = append(f.sent, sentMsg{topic: topic, payload: string(payload), retained: retained, record: true})
	f.confirms = append(f.confirms, done)
	f.mu.Unlock()
	acked()
}

func (f *fakeLink) Up() bool { return true }

func (f *fakeLink) Status() mqttlink.LinkDown {
	f.mu.Lock()
	defer f.mu.Unlock()
	return mqttlink.LinkDown{Down: f.down}
}

func (f *fakeLink) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// settleAll answers every proof held so far with err.
func (f *fakeLink) settleAll(err error) int {
	f.mu.Lock()
	fns := f.confirms
	f.confirms = nil
	f.mu.Unlock()
	for _, fn := range fns {
		fn(err)
	}
	return len(fns)
}

func (f *fakeLink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.published)
}

// messages gives every publish so far, in order.
func (f *fakeLink) messages() []sentMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMsg(nil), f.sent...)
}

func (f *fakeLink) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.confirms)
}

// startPublisher runs a publisher on link and st (nil: no store) until the
// test ends.
func startPublisher(t *testing.T, link Link, st backlogStore) *publisher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := newPublisher(link, st, slog.New(slog.DiscardHandler))
	p.ctx = ctx
	go p.run()
	return p
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func pendingSeqs(t *testing.T, st *store.Store) []uint64 {
	t.Helper()
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := st.Pending(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

// A record the broker acknowledged but did not deliver (an ACL that drops)
// stays in the store and goes out again with the next backlog pass; only a
// confirmed delivery removes it. While it awaits the proof, no pass sends it
// twice.
func TestPublisherKeepsRecordsUntilDeliveryIsConfirmed(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{CommitEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []store.Record
	for i := range 3 {
		v := &wire.Vital{T: wire.At(time.Date(2026, 12, 3, 12, 0, i, 0, time.UTC)), Session: "s-1", Param: "spo2",
			Value: wire.N(float64(95 + i)), Unit: "%", Source: "nonin", Flags: []string{}}
		r, err := st.Commit("chairside/chair-07/vitals/spo2", v, true, true)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	link := &fakeLink{}
	p := startPublisher(t, link, st)

	for _, r := range recs {
		p.send(outMsg{record: true, seq: r.Seq, topic: r.Topic, payload: r.Payload})
	}
	eventually(t, "three PUBACKs awaiting proof", func() bool { return link.held() == 3 })
	passes := p.passes.Load()
	p.resend() // a backlog pass meanwhile must not send them again
	eventually(t, "a backlog pass", func() bool { return p.passes.Load() > passes })
	if n := link.count(); n != 3 {
		t.Fatalf("%d publishes while the records awaited proof, want 3", n)
	}
	if got := pendingSeqs(t, st); len(got) != 3 {
		t.Fatalf("store after PUBACKs only: pending %v, want all 3 kept", got)
	}

	link.settleAll(mqttlink.ErrUndelivered)
	if got := pendingSeqs(t, st); len(got) != 3 {
		t.Fatalf("store after undelivered: pending %v, want all 3 kept", got)
	}
	// While the broker drops, a pass would only feed the void: none runs.
	link.setDown(true)
	passes = p.passes.Load()
	p.resend()
	eventually(t, "a backlog pass", func() bool { return p.passes.Load() > passes })
	if n := link.count(); n != 3 {
		t.Fatalf("%d publishes while the link was down, want still 3", n)
	}
	link.setDown(false)
	p.resend()
	eventually(t, "the backlog sends them again", func() bool { return link.held() == 3 })
	if n := link.count(); n != 6 {
		t.Fatalf("%d publishes after the resend, want 6", n)
	}
	link.settleAll(nil)
	eventually(t, "the store empties", func() bool { return len(pendingSeqs(t, st)) == 0 })
}

// Without a store (it failed), a record whose delivery is disproved is kept
// in memory and sent at the next pass; live state needs only its PUBACK.
func TestPublisherWithoutStoreKeepsUndeliveredRecords(t *testing.T) {
	link := &fakeLink{}
	p := startPublisher(t, link, nil)
	p.send(outMsg{record: true, topic: "chairside/chair-07/alarm", payload: []byte(`{"seq":0}`)})
	p.send(outMsg{topic: "chairside/chair-07/alarms", payload: []byte(`{"live":true}`), retained: true})
	eventually(t, "both published", func() bool { return link.count() == 2 })
	if n := link.held(); n != 1 {
		t.Fatalf("%d awaiting proof, want 1: only the record", n)
	}
	link.settleAll(errors.New("undelivered"))
	p.resend()
	eventually(t, "the record again", func() bool { return link.count() == 3 })
	link.mu.Lock()
	last := link.published[2]
	link.mu.Unlock()
	if last != `{"seq":0}` {
		t.Fatalf("resent %s, want the record", last)
	}
}

// stuckLink is a broker whose first record publish does not return until
// the test lets it (paho blocked on a full socket).
type stuckLink struct {
	fakeLink
	gate chan struct{}
	once sync.Once
}

func (s *stuckLink) PublishProven(topic string, retained bool, payload []byte, acked func(), done func(error)) {
	s.once.Do(func() { <-s.gate })
	s.fakeLink.PublishProven(topic, retained, payload, acked, done)
}

// A flood of records while the link is stuck overflows the live queue: the
// records dropped from it are still in the store, and the backlog pass that
// follows sends every one of them; none is lost.
func TestPublisherQueueOverflowLosesNoRecord(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{CommitEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	link := &stuckLink{gate: make(chan struct{})}
	p := startPublisher(t, link, st)
	st.SetOnCommitted(func(recs []store.Record) {
		for _, r := range recs {
			p.send(outMsg{record: true, seq: r.Seq, topic: r.Topic, payload: r.Payload})
		}
	})
	const n = 4096 + 100 // the live queue holds 4096, the stuck publish one
	for i := range n {
		v := &wire.Vital{T: wire.At(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)), Session: "s-1",
			Param: "spo2", Value: wire.N(97), Unit: "%", Source: "nonin", Flags: []string{}}
		if _, err := st.Commit("t/c/vitals/spo2", v, true, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(); err != nil { // one group commit: OnCommitted sends them all
		t.Fatal(err)
	}
	eventually(t, "the live queue overflowing", func() bool { return p.dropped.Load() >= 99 })
	close(link.gate)
	p.resend()
	eventually(t, "every record delivered and acknowledged", func() bool {
		link.settleAll(nil)
		return len(pendingSeqs(t, st)) == 0
	})
	seen := map[string]bool{}
	for _, m := range link.messages() {
		seen[m.payload] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records published, want %d", len(seen), n)
	}
}
