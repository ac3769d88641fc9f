package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chairside/chairside/monitor/store"
)

// broker is what the publisher needs of the MQTT link.
type broker interface {
	Publish(topic string, qos byte, retained bool, payload []byte, done func(error))
	Up() bool
}

// publisher sends messages to the broker: live ones as they come (records
// once the store has committed them, see runWriter), then, after every
// (re)connect and every sweep, the store's backlog in seq order. A record
// leaves the store only when the broker acknowledged it.
type publisher struct {
	ctx  context.Context
	link broker
	st   *store.Store // nil: nothing to acknowledge or resend
	log  *slog.Logger

	live    chan outMsg
	dropped atomic.Uint64

	mu       sync.Mutex
	inflight map[uint64]bool
	sweep    chan struct{}
	retry    []outMsg // records with no store (seq 0) whose publish failed
}

// maxRetry bounds the in-memory backlog kept when the store is down.
const maxRetry = 20000

func newPublisher(ctx context.Context, link broker, st *store.Store, log *slog.Logger) *publisher {
	return &publisher{ctx: ctx, link: link, st: st, log: log, live: make(chan outMsg, 4096),
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

// run publishes until ctx ends.
func (p *publisher) run() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	backlogDone := make(chan struct{})
	close(backlogDone)
	for {
		select {
		case <-p.ctx.Done():
			return
		case m := <-p.live:
			p.publish(m)
		case <-t.C:
			p.resend()
		case <-p.sweep:
			select {
			case <-backlogDone: // one backlog pass at a time
				backlogDone = make(chan struct{})
				go p.backlog(backlogDone)
			default:
			}
		}
	}
}

func (p *publisher) publish(m outMsg) {
	if m.seq > 0 {
		p.mu.Lock()
		if p.inflight[m.seq] {
			p.mu.Unlock()
			return
		}
		p.inflight[m.seq] = true
		p.mu.Unlock()
	}
	p.link.Publish(m.topic, 1, m.retained, m.payload, func(err error) {
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
	})
}

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
	defer close(done)
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
	for p.ctx.Err() == nil && p.link.Up() {
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
			p.mu.Lock()
			busy := p.inflight[r.Seq]
			if !busy {
				p.inflight[r.Seq] = true
			}
			p.mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-p.ctx.Done():
				return
			}
			seq := r.Seq
			p.link.Publish(r.Topic, 1, false, r.Payload, func(err error) {
				if err == nil {
					p.st.Ack(seq)
				}
				p.mu.Lock()
				delete(p.inflight, seq)
				p.mu.Unlock()
				<-sem
			})
		}
	}
}
