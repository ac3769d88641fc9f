package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// snapshotter saves the engine's snapshot on its own goroutine, so the engine
// never waits on the disk, and holds the command replies until the snapshot
// with their effect is durable (a reply is a promise the station shows a
// nurse: "session ended" must not come back as the infusion after a power
// cut). It keeps only the latest snapshot: a slow disk saves fewer, never
// older ones.
//
// A reply goes out:
//   - at once, when no snapshot is waiting to be saved (nothing of it is
//     pending);
//   - after the save of the latest snapshot taken with or after its step;
//   - with "durable": false when that save fails, when a save has not
//     finished within its bound (StallAfter) (a hung disk; then also every reply while
//     it lasts), or when there is no store. The command did take effect in
//     the chair (its alarms and state already show it), so the reply says
//     ok, and store_fault (raised at the same time) says why it may not
//     survive a restart: answering "failed" would invite the nurse to send
//     it again.
type snapshotter struct {
	st      Store // nil: no store
	log     *slog.Logger
	bound   time.Duration
	fault   func(error)
	publish func(outMsg)
	topic   string // cmd/reply

	mu      sync.Mutex
	latest  []byte
	want    uint64 // generation of the latest snapshot taken
	tried   uint64 // generation of the latest save started
	saved   uint64 // generation of the latest save that succeeded
	since   time.Time
	stalled bool // the running save has taken longer than bound
	held    []heldReply
	wake    chan struct{}
	idle    *sync.Cond // broadcast when a save ends
}

type heldReply struct {
	gen   uint64
	reply wire.Reply
}

func newSnapshotter(st Store, log *slog.Logger, fault func(error), publish func(outMsg), topic string) *snapshotter {
	s := &snapshotter{st: st, log: log, bound: DefaultStallAfter, fault: fault, publish: publish, topic: topic, wake: make(chan struct{}, 1)}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// submit takes a step's snapshot (nil when the step changed nothing worth
// saving) and replies, on the engine's goroutine; it never waits.
func (s *snapshotter) submit(snap []byte, replies []wire.Reply) {
	s.mu.Lock()
	if snap != nil && s.st != nil {
		s.want++
		s.latest = snap
	}
	var durable, notDurable []wire.Reply
	for _, r := range replies {
		switch {
		case s.st == nil || s.stalled:
			notDurable = append(notDurable, r)
		case s.want == s.tried && s.since.IsZero():
			// No save pending: the latest snapshot's fate is known. (A
			// reply whose step took no snapshot, such as a redelivery
			// answered again, must not wait for a save that may never come.)
			if s.saved == s.want {
				durable = append(durable, r)
			} else {
				notDurable = append(notDurable, r)
			}
		default:
			s.held = append(s.held, heldReply{gen: s.want, reply: r})
		}
	}
	s.mu.Unlock()
	if snap != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.send(durable, true)
	s.send(notDurable, false)
}

func (s *snapshotter) send(replies []wire.Reply, durable bool) {
	for _, r := range replies {
		m := r
		if !durable {
			m.Durable = new(bool)
		}
		b, err := json.Marshal(m)
		if err != nil {
			s.log.Error("reply does not encode", "id", r.ID, "err", err)
			continue
		}
		s.publish(outMsg{topic: s.topic, payload: b})
	}
}

// releaseLocked takes the held replies of generations up to gen.
func (s *snapshotter) releaseLocked(gen uint64) []wire.Reply {
	var out []wire.Reply
	kept := s.held[:0]
	for _, h := range s.held {
		if h.gen <= gen {
			out = append(out, h.reply)
		} else {
			kept = append(kept, h)
		}
	}
	s.held = kept
	return out
}

// run saves the latest snapshot whenever there is a newer one, until ctx
// ends.
func (s *snapshotter) run(ctx context.Context) {
	if s.st == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for s.saveLatest() {
		}
	}
}

// saveLatest saves the latest snapshot if it is newer than the last tried;
// false when there was none.
func (s *snapshotter) saveLatest() bool {
	s.mu.Lock()
	if s.want == s.tried {
		s.mu.Unlock()
		return false
	}
	gen, b := s.want, s.latest
	s.tried, s.since = gen, time.Now()
	s.mu.Unlock()

	t := time.AfterFunc(s.bound, s.onStall)
	err := s.st.SaveSnapshot(b)
	t.Stop()

	s.mu.Lock()
	s.since, s.stalled = time.Time{}, false
	if err == nil {
		s.saved = gen
	}
	replies := s.releaseLocked(gen)
	s.idle.Broadcast()
	s.mu.Unlock()
	if err != nil {
		s.fault(fmt.Errorf("session snapshot not saved: %w", err))
	}
	s.send(replies, err == nil)
	return true
}

// onStall runs when a save has taken longer than bound: the held replies go
// out as not durable, and so do new ones until the save ends.
func (s *snapshotter) onStall() {
	s.mu.Lock()
	if s.since.IsZero() {
		s.mu.Unlock()
		return
	}
	s.stalled = true
	replies := s.releaseLocked(^uint64(0))
	s.mu.Unlock()
	s.fault(fmt.Errorf("%w: the session snapshot save has not finished after %s (the disk hangs?)", store.ErrStalled, s.bound))
	s.send(replies, false)
}

// wait waits until the latest snapshot was tried (for the shutdown), or
// until deadline.
func (s *snapshotter) wait(deadline time.Time) {
	if s.st == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for s.tried != s.want || !s.since.IsZero() {
			s.idle.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	waitUntil(done, deadline)
}

// AfterStep runs after each engine step, on the engine's goroutine: it hands
// the snapshotter the step's snapshot when the state changed (statistics at
// most every 30 s, to spare the SD card), with the step's replies, which wait
// for it to be durable. It never waits on the disk.
func (d *Delivery) AfterStep(e *monitor.Engine, now time.Time) { d.snapStep(e, now) }

// stepped is what AfterStep reads of the engine (*monitor.Engine).
type stepped interface {
	TakeDirty() monitor.Dirty
	Snapshot() monitor.Snapshot
}

// snapshotStep is AfterStep's state: the step's snapshot, if any, and its
// replies go to the snapshotter.
func (d *Delivery) snapshotStep() func(stepped, time.Time) {
	var lastStats time.Time
	var pending bool
	return func(e stepped, now time.Time) {
		var snap []byte
		switch e.TakeDirty() {
		case monitor.StateChanged:
			snap = d.snapshot(e)
			pending = false
			lastStats = now
		case monitor.StatsChanged:
			pending = true
		}
		if pending && now.Sub(lastStats) >= statsEvery {
			snap = d.snapshot(e)
			pending, lastStats = false, now
		}
		d.snaps.submit(snap, d.takeReplies())
	}
}

// statsEvery is how often a snapshot is taken when only statistics changed.
const statsEvery = 30 * time.Second

// snapshot encodes the engine's snapshot (in memory; the snapshotter saves
// it); nil when there is no store or it does not encode.
func (d *Delivery) snapshot(e stepped) []byte {
	if d.st == nil {
		return nil
	}
	b, err := e.Snapshot().Encode()
	if err != nil {
		d.fault(fmt.Errorf("session snapshot does not encode: %w", err))
		return nil
	}
	return b
}
