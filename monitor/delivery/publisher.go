package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/store"
)

// backlogStore is what the publisher needs of the store: the backlog and
// the acknowledgements.
type backlogStore interface {
	Pending(after uint64, max int) ([]store.Record, error)
	Ack(seq uint64)
}

// publisher sends messages to the broker: live ones as they come (records
// once the store has committed them, see runWriter), then, after every
// (re)connect and every sweep, the store's backlog in seq order. A record
// leaves the store only once the broker is known to have delivered it.
type publisher struct {
	ctx  context.Context
	link Link
	st   backlogStore // nil: nothing to acknowledge or resend
	log  *slog.Logger

	live     chan outMsg
	dropped  atomic.Uint64
	awaiting atomic.Int64  // records acknowledged by the broker, awaiting the link's proof of delivery
	passes   atomic.Uint64 // backlog passes finished

	mu       sync.Mutex
	inflight map[uint64]bool
	sweep    chan struct{}
	retry    []outMsg // records with no store (seq 0) whose publish failed
}

// maxRetry bounds the in-memory backlog kept when the store is down.
const maxRetry = 20000

// maxAwaiting pauses a backlog pass while this many records await the
// link's proof of delivery, which bounds the memory they hold.
const maxAwaiting = 8192

// newPublisher makes a publisher; its ctx is set by Delivery.Start.
func newPublisher(link Link, st backlogStore, log *slog.Logger) *publisher {
	return &publisher{ctx: context.Background(), link: link, st: st, log: log, live: make(chan outMsg, 4096),
		inflight: map[uint64]bool{}, sweep: make(chan struct{}, 1)}
}

// send queues a message without ever blocking the caller (it is the store's
// OnCommitted path too). When the queue is full (the broker is gone and
// thousands are waiting) a record is dropped from the queue only: it is in
// the store already and goes out with the backlog.
func (p *publisher) send(m outMsg) {
	select {
	case p.live <- m:
	default:
		if n := p.dropped.Add(1); n == 1 || n%1000 == 0 {
			p.log.Warn("live publish queue full; records stay in the store for the backlog", "dropped", n)
		}
	}
}

// resend asks for a backlog pass (after a connect).
func (p *publisher) resend() {
	select {
	case p.sweep <- struct{}{}:
	default:
	}
}

// run publishes until ctx ends. One backlog pass runs at a time; a request
// during one starts another when it ends, since the records it asks for may
// lie behind the running pass.
func (p *publisher) run() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	passDone := make(chan struct{}, 1)
	passing, again := false, false
	for {
		select {
		case <-p.ctx.Done():
			return
		case m := <-p.live:
			p.publish(m)
		case <-t.C:
			p.resend()
		case <-p.sweep:
			if passing {
				again = true
				continue
			}
			passing = true
			go p.backlog(passDone)
		case <-passDone:
			p.passes.Add(1)
			passing = false
			if again {
				again, passing = false, true
				go p.backlog(passDone)
			}
		}
	}
}

func (p *publisher) publish(m outMsg) {
	if p.claim(m.seq) {
		p.deliver(m, nil)
	}
}

// claim marks a record as on its way; false if it is already (seq 0, a
// message in no store, is never claimed).
func (p *publisher) claim(seq uint64) bool {
	if seq == 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight[seq] {
		return false
	}
	p.inflight[seq] = true
	return true
}

// deliver publishes a message and settles it. A record leaves the store only
// once the link has proven that the broker delivered it (PublishProven): a
// PUBACK alone is no proof, since a broker whose ACL denies the chair's
// writes acknowledges and drops. Until it is settled the record stays
// claimed, so no backlog pass sends it again meanwhile. acked, if set, runs at
// the PUBACK or the failure.
func (p *publisher) deliver(m outMsg, acked func()) {
	if !m.record {
		// Live state and replies: the PUBACK is enough, and the retained
		// state is published again at every connect.
		p.publishLive(m, acked, 0)
		return
	}
	p.link.PublishProven(m.topic, m.retained, m.payload, func() {
		p.awaiting.Add(1)
		if acked != nil {
			acked()
		}
	}, func(err error) {
		p.awaiting.Add(-1)
		p.settle(m, err)
	})
}

// Live messages the link refuses as busy (MaxInFlight reached: a burst of
// command replies, a backlog pass) are tried again, every liveRetryEvery
// for about the 5 s a station waits for a reply, instead of being lost.
const (
	liveRetryEvery = 50 * time.Millisecond
	liveRetries    = 100
)

// publishLive publishes a live message, again while the link is busy.
func (p *publisher) publishLive(m outMsg, acked func(), tries int) {
	p.link.Publish(m.topic, 1, m.retained, m.payload, func(err error) {
		if errors.Is(err, mqttlink.ErrBusy) && tries < liveRetries && p.ctx.Err() == nil {
			time.AfterFunc(liveRetryEvery, func() { p.publishLive(m, acked, tries+1) })
			return
		}
		if acked != nil {
			acked()
		}
	})
}

// settle ends a message's delivery: a delivered record is acknowledged to the
// store; an undelivered one goes back to the backlog (in the store, or in
// memory when there is none).
func (p *publisher) settle(m outMsg, err error) {
	if m.seq == 0 {
		if err != nil && m.record {
			p.keep(m)
		}
		return
	}
	if err == nil && p.st != nil {
		p.st.Ack(m.seq)
	}
	p.mu.Lock()
	delete(p.inflight, m.seq)
	p.mu.Unlock()
}

// delivering: the link is up and its heartbeat comes back. While a broker
// acknowledges and drops, a pass would only send the backlog into the void;
// the daemon asks for one when the link recovers.
func (p *publisher) delivering() bool { return p.link.Up() && !p.link.Status().Down }

// keep holds a record that could not be published and is in no store, so
// the next connect sends it (the oldest go first when the memory is full).
func (p *publisher) keep(m outMsg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.retry) >= maxRetry {
		p.retry = p.retry[1:]
	}
	p.retry = append(p.retry, m)
}

// backlog publishes what failed before: the in-memory records of a
// storeless run, then the store's unacknowledged records in seq order, at
// most 64 in flight, while the link is up.
func (p *publisher) backlog(done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	if !p.delivering() {
		return // the pass that follows the link's recovery sends it
	}
	p.mu.Lock()
	retry := p.retry
	p.retry = nil
	p.mu.Unlock()
	for _, m := range retry {
		p.publish(m)
	}
	if p.st == nil {
		return
	}
	sem := make(chan struct{}, 64)
	var after uint64
	for p.ctx.Err() == nil && p.delivering() {
		recs, err := p.st.Pending(after, 256)
		if err != nil {
			p.log.Warn("backlog read failed", "err", err)
			return
		}
		if len(recs) == 0 {
			return
		}
		for _, r := range recs {
			after = r.Seq
			if !p.claim(r.Seq) {
				continue
			}
			for p.awaiting.Load() >= maxAwaiting && p.ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			select {
			case sem <- struct{}{}:
			case <-p.ctx.Done():
				return
			}
			p.deliver(outMsg{record: true, seq: r.Seq, topic: r.Topic, payload: r.Payload}, func() { <-sem })
		}
	}
}
