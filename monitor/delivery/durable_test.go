package delivery

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// hungStore is a disk that stops answering: every write blocks until the
// test ends (an SD card that hangs rather than fails).
type hungStore struct {
	gate    chan struct{}
	mu      sync.Mutex
	entered map[string]int
}

func newHungStore() *hungStore {
	return &hungStore{gate: make(chan struct{}), entered: map[string]int{}}
}

func (h *hungStore) block(what string) {
	h.mu.Lock()
	h.entered[what]++
	h.mu.Unlock()
	<-h.gate
}

func (h *hungStore) count(what string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entered[what]
}

func (h *hungStore) Commit(topic string, p wire.Stamped, clockSynced, urgent bool) (store.Record, error) {
	h.block("commit")
	return store.Record{}, errors.New("released")
}
func (h *hungStore) SetOnCommitted(fn func([]store.Record))      {}
func (h *hungStore) SaveSnapshot(b []byte) error                 { h.block("snapshot"); return nil }
func (h *hungStore) Pending(uint64, int) ([]store.Record, error) { return nil, nil }
func (h *hungStore) Ack(uint64)                                  {}

// gatedStore commits at once and saves each snapshot only when the test lets
// it.
type gatedStore struct {
	hungStore
	saves chan []byte
	done  chan error
}

func (g *gatedStore) Commit(topic string, p wire.Stamped, clockSynced, urgent bool) (store.Record, error) {
	return store.Record{Seq: 1, Topic: topic, Payload: []byte(`{}`)}, nil
}
func (g *gatedStore) SaveSnapshot(b []byte) error {
	g.saves <- b
	return <-g.done
}

type showAnn struct {
	mu    sync.Mutex
	shown []monitor.Annunciation
}

func (a *showAnn) Show(s monitor.Annunciation) {
	a.mu.Lock()
	a.shown = append(a.shown, s)
	a.mu.Unlock()
}
func (a *showAnn) Remind()    {}
func (a *showAnn) count() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.shown) }

// pipeline is delivery as the daemon wires it (engine loop, Handle,
// AfterStep, the annunciation beside it), on a given store, with a fake
// broker.
type pipeline struct {
	in      chan any
	link    *fakeLink
	ann     *showAnn
	faults  chan string
	replies chan []byte
	dl      *Delivery
}

func startPipeline(t *testing.T, st Store, bound time.Duration, alog ...AlarmLog) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	p := &pipeline{in: make(chan any, 1024), link: &fakeLink{}, ann: &showAnn{}, faults: make(chan string, 100), replies: make(chan []byte, 100)}
	faults := NewFaultRaiser(log, func(msg string) {
		p.faults <- msg
		go func() {
			select {
			case p.in <- monitor.ExternalCondition{Condition: monitor.StoreFault, Present: true, Message: msg}:
			case <-ctx.Done():
			}
		}()
	})
	e := newEngine(t)
	dc := Config{Root: "t/c", Stream: "s", Boot: 1, Store: st, Link: p.link, Fault: faults.Fault, Logger: log, StallAfter: bound}
	if len(alog) > 0 {
		dc.AlarmLog = alog[0]
	}
	p.dl = New(dc)
	replies := p.dl.snaps.publish
	p.dl.snaps.publish = func(m outMsg) { p.replies <- m.payload; replies(m) }
	p.dl.Start(ctx)
	handle := func(evs []monitor.Event) {
		p.dl.Handle(evs)
		for _, ev := range evs {
			if a, ok := ev.(monitor.Annunciation); ok {
				p.ann.Show(a)
			}
		}
	}
	go func() {
		_ = monitor.RunLoop(ctx, e, monitor.RealClock{}, p.in, handle, func(e *monitor.Engine) { p.dl.AfterStep(e, time.Now()) })
	}()
	return p
}

// newEngine is an idle engine with the shipped config.
func newEngine(t *testing.T) *monitor.Engine {
	t.Helper()
	cfg, problems := config.Load(filepath.Join("..", "..", "configs", "chairside.toml"))
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	e, err := monitor.New(cfg.Engine(1), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (p *pipeline) command(id, action string) {
	p.in <- monitor.Command{Command: wire.Command{V: wire.Version, ID: id, T: wire.At(time.Now()), Action: action, By: "nurse@station"}}
}

func (p *pipeline) published(substr ...string) bool {
	p.link.mu.Lock()
	defer p.link.mu.Unlock()
next:
	for _, m := range p.link.published {
		for _, s := range substr {
			if !strings.Contains(m, s) {
				continue next
			}
		}
		return true
	}
	return false
}

// TestHungDiskNeverStopsAlarmsVitalsOrAnnunciation: with a store whose every
// write hangs, the engine goes on: the session starts, its vitals go out every
// second, an alarm is published and annunciated, the reply goes out saying
// the effect is not durable, and store_fault is raised. (Before, the engine
// goroutine waited for the snapshot's fsync after the first state change:
// nothing more came out until the watchdog restarted the daemon.)
func TestHungDiskNeverStopsAlarmsVitalsOrAnnunciation(t *testing.T) {
	st := newHungStore()
	defer close(st.gate)
	p := startPipeline(t, st, 50*time.Millisecond)

	p.command("c-1", wire.ActionSessionStart)
	eventually(t, "the snapshot save hangs", func() bool { return st.count("snapshot") == 1 })
	eventually(t, "the reply, not durable", func() bool { return p.published(`"id":"c-1"`, `"ok":true`, `"durable":false`) })
	eventually(t, "store_fault raised", func() bool { return len(p.faults) > 0 })
	p.in <- monitor.ExternalCondition{Condition: monitor.AnnunciatorFault, Present: true, Message: "annunciator: test"}
	eventually(t, "the alarm published", func() bool { return p.published(`"condition":"annunciator_fault"`, `"phase":"start"`) })
	eventually(t, "the alarms annunciated", func() bool { return p.ann.count() > 0 })
	eventually(t, "the store_fault alarm published", func() bool { return p.published(`"condition":"store_fault"`) })
	eventually(t, "SpO2 published", func() bool { return p.published(`"param":"spo2"`) })
	eventually(t, "pulse published", func() bool { return p.published(`"param":"pulse"`) })
	if p.published(`"param":"spo2"`, `"seq"`) {
		t.Error("a vital with a seq from a store that never wrote one")
	}
	// The engine still answers: a second command goes through.
	p.command("c-2", wire.ActionMark)
	eventually(t, "the second reply", func() bool { return p.published(`"id":"c-2"`) })
}

// TestReplyWaitsForTheDurableSnapshot: a command's reply goes out only after
// the snapshot holding its effect is saved (before, it went to the broker
// before the save had even started: a kill -9 after "session_end ok" brought
// the infusion back); a failed save still answers, as not durable.
func TestReplyWaitsForTheDurableSnapshot(t *testing.T) {
	st := &gatedStore{hungStore: *newHungStore(), saves: make(chan []byte), done: make(chan error)}
	defer close(st.gate)
	p := startPipeline(t, st, time.Hour)

	p.command("c-1", wire.ActionSessionStart)
	snap := <-st.saves
	if !strings.Contains(string(snap), `"IDs":["c-1"]`) {
		t.Errorf("the snapshot saved does not hold the command: %.300s", snap)
	}
	select {
	case r := <-p.replies:
		t.Fatalf("reply %s sent before its effect was durable", r)
	default:
	}
	st.done <- nil
	if r := <-p.replies; !strings.Contains(string(r), `"id":"c-1"`) || strings.Contains(string(r), "durable") {
		t.Errorf("reply after the save: %s", r)
	}

	p.command("c-2", wire.ActionSessionEnd)
	<-st.saves
	select {
	case r := <-p.replies:
		t.Fatalf("reply %s sent before its effect was durable", r)
	default:
	}
	st.done <- errors.New("disk full")
	if r := <-p.replies; !strings.Contains(string(r), `"id":"c-2"`) || !strings.Contains(string(r), `"durable":false`) {
		t.Errorf("reply after a failed save: %s", r)
	}
	if f := <-p.faults; !strings.Contains(f, "disk full") {
		t.Errorf("store_fault %q", f)
	}
}

// failingStore is a disk whose snapshot saves fail at once.
type failingStore struct{ hungStore }

func (f *failingStore) SaveSnapshot(b []byte) error { return errors.New("disk full") }

// After a failed save, a reply whose step took no snapshot (a redelivered
// command answered again) goes out at once, not durable: it must not wait for
// a save that may never come.
func TestReplyWithoutASnapshotAfterAFailedSave(t *testing.T) {
	sent := make(chan outMsg, 4)
	s := newSnapshotter(&failingStore{*newHungStore()}, slog.New(slog.DiscardHandler), func(error) {},
		func(m outMsg) { sent <- m }, "chairside/chair-01/cmd/reply")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.run(ctx)

	s.submit([]byte(`{"snapshot":1}`), []wire.Reply{{V: wire.Version, ID: "c-1", OK: true}})
	if m := <-sent; !strings.Contains(string(m.payload), `"id":"c-1"`) || !strings.Contains(string(m.payload), `"durable":false`) {
		t.Fatalf("reply after the failed save: %s", m.payload)
	}
	s.submit(nil, []wire.Reply{{V: wire.Version, ID: "c-1", OK: true}})
	select {
	case m := <-sent:
		if !strings.Contains(string(m.payload), `"durable":false`) {
			t.Fatalf("the redelivery's reply: %s", m.payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the redelivery's reply waits for a save that never comes")
	}
}
