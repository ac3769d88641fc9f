package mqttlink

import (
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// pending is one message between Publish and its done callback. It belongs
// to exactly one goroutine at a time (caller, sendLoop, ackLoop), which is
// what makes "done is called exactly once" hold without flags.
type pending struct {
	topic    string
	qos      byte
	retained bool
	payload  []byte
	done     func(error)
	acked    func() // PublishProven: the broker answered (or the publish failed)
	proof    bool   // PublishProven: done waits for the proof of delivery
	beat     uint64 // the last heartbeat handed to paho before this message
	tok      paho.Token
	deadline time.Time
	downPub  bool // the connection was not open just after paho's Publish
}

// Publish hands a message to the link and returns at once; it never waits
// for the network, so the alarm engine is never stalled by the broker.
//
// done (may be nil) is called exactly once: with nil when the broker has
// acknowledged a QoS 1 message (PUBACK) or a QoS 0 message was written to the
// connection, and otherwise with an error (ErrNotConnected, ErrBusy,
// ErrTimeout, ErrResent, ErrClosed, or a wrapped paho or validation error).
// After an error the broker may or may not have the message: keep it and
// publish it again (CONTRACT §4: delivery is at least once).
//
// When the message is refused at once (link down, busy or closed, bad topic
// or QoS) done runs on the caller's goroutine before Publish returns;
// otherwise it runs on the link's completion goroutine. Either way it must not
// block: a slow done delays every later completion. Hand slow work, such as
// deleting the record from the store, to a goroutine of your own.
//
// QoS 0 messages offered while the link is down are dropped (and counted),
// not queued. The link keeps payload until done is called; the caller must
// not modify it before then.
func (l *Link) Publish(topic string, qos byte, retained bool, payload []byte, done func(error)) {
	l.publish(pending{topic: topic, qos: qos, retained: retained, payload: payload, done: done})
}

// PublishProven publishes at QoS 1 and calls done only once the broker is
// known to have delivered the message, which a PUBACK alone does not say: a
// mosquitto ACL that denies writing acknowledges and drops. The proof is the
// link's own heartbeat: the broker handles one client's messages in order,
// so the message was delivered when the heartbeat handed to paho just before
// it and the one just after it both came back. That holds unless the broker
// went from delivering to dropping and back between two heartbeats, a period
// apart.
//
// acked (may be nil) runs when the broker has answered or the publish
// failed: the message no longer counts against MaxInFlight. done runs once,
// after it: nil when delivery is proven; ErrUndelivered when a heartbeat
// around it did not come back, or none did within EchoTimeout; otherwise as
// for Publish. Without the echo check (HeartbeatTopic empty) the PUBACK is
// all the proof there is. Neither callback may block; done runs on the
// link's completion goroutine, paho's router goroutine or Run's.
func (l *Link) PublishProven(topic string, retained bool, payload []byte, acked func(), done func(error)) {
	proof := l.cfg.HeartbeatTopic != ""
	l.publish(pending{topic: topic, qos: 1, retained: retained, payload: payload, done: done, acked: acked, proof: proof})
}

// publish is Publish and PublishProven: m is the message, not yet pooled.
func (l *Link) publish(m pending) {
	if err := checkTopic(m.topic); err != nil {
		l.fail(&m, fmt.Errorf("mqttlink: publish: %w", err))
		return
	}
	if m.qos > 1 {
		l.fail(&m, fmt.Errorf("mqttlink: publish to %s: QoS %d; use 0 or 1", m.topic, m.qos))
		return
	}
	if !l.client.IsConnectionOpen() {
		if m.qos == 0 {
			l.stats.droppedOffline.Add(1)
		}
		l.stats.failed.Add(1)
		l.fail(&m, ErrNotConnected)
		return
	}
	// The in-flight bound is counted, not left to channel capacities, so it
	// is exact: a message counts from here until its done is called.
	if l.outstanding.Add(1) > int64(l.cfg.MaxInFlight) {
		l.outstanding.Add(-1)
		l.stats.failed.Add(1)
		l.fail(&m, ErrBusy)
		return
	}
	p := l.pool.Get().(*pending)
	*p = m

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		l.complete(p, ErrClosed)
		return
	}
	l.queue <- p // never blocks: the queue holds MaxInFlight and outstanding is below it
	l.mu.RUnlock()
}

// fail ends a message refused before it was queued.
func (l *Link) fail(m *pending, err error) {
	if m.acked != nil {
		m.acked()
	}
	if m.done != nil {
		m.done(err)
	}
}

// complete recycles p and calls its callbacks: done at once, or, for a
// proven message the broker acknowledged, once the echo proves it.
func (l *Link) complete(p *pending, err error) {
	if err == nil {
		l.stats.acked.Add(1)
	} else {
		l.stats.failed.Add(1)
	}
	m := *p
	*p = pending{}
	l.pool.Put(p)
	l.outstanding.Add(-1)
	if err != nil || !m.proof {
		l.fail(&m, err)
		return
	}
	if m.acked != nil {
		m.acked()
	}
	if err, now := l.echo.wait(m.beat, l.cfg.Now(), m.done); now && m.done != nil {
		m.done(err)
	}
}

// sendLoop hands queued messages to paho, whose Publish can block for up to
// the write timeout when the connection is congested; that is why it runs
// here and not on the caller's goroutine.
func (l *Link) sendLoop() {
	defer close(l.sendDone)
	defer close(l.inflight)
	for {
		select {
		case p := <-l.queue:
			l.send(p)
		case <-l.stopSend:
			for {
				select {
				case p := <-l.queue:
					l.complete(p, ErrClosed)
				default:
					return
				}
			}
		}
	}
}

func (l *Link) send(p *pending) {
	if !l.client.IsConnectionOpen() {
		// Went down while queued: fail now rather than let paho keep a copy
		// it would resend after the reconnect behind the caller's back.
		if p.qos == 0 {
			l.stats.droppedOffline.Add(1)
		}
		l.complete(p, ErrNotConnected)
		return
	}
	// Heartbeats are numbered, and messages marked, here: in the order paho
	// writes them, which is the order the broker handles them in.
	if p.topic == l.cfg.HeartbeatTopic {
		l.echo.sent(p.payload, l.cfg.Now())
	} else if p.proof {
		p.beat = l.echo.last()
	}
	p.tok = l.client.Publish(p.topic, p.qos, p.retained, p.payload)
	p.downPub = !l.client.IsConnectionOpen()
	p.deadline = time.Now().Add(l.cfg.PublishTimeout)
	l.stats.published.Add(1)
	l.inflight <- p // never blocks for long: it holds MaxInFlight, and ackLoop always progresses
}

// ackLoop completes messages in the order they were sent. The broker
// acknowledges QoS 1 messages in order on one connection, so waiting on the
// oldest first costs nothing and needs no goroutine per message.
func (l *Link) ackLoop() {
	defer close(l.ackDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for p := range l.inflight {
		l.complete(p, l.await(p, timer))
	}
}

// await waits for p's token until its deadline, or until shutdown gives up.
func (l *Link) await(p *pending, timer *time.Timer) error {
	select {
	case <-p.tok.Done():
		return l.outcome(p)
	default:
	}
	d := time.Until(p.deadline)
	if d <= 0 {
		return ErrTimeout
	}
	timer.Reset(d)
	defer timer.Stop()
	select {
	case <-p.tok.Done():
		return l.outcome(p)
	case <-timer.C:
		return ErrTimeout
	case <-l.abort:
		select {
		case <-p.tok.Done():
			return l.outcome(p)
		default:
			return ErrClosed
		}
	}
}

// outcome reads a completed token. A QoS 1 token that completed without an
// error while paho still holds the message unacknowledged was completed by
// paho's resend after a reconnect, not by a PUBACK (see ackStore).
func (l *Link) outcome(p *pending) error {
	if err := p.tok.Error(); err != nil {
		return fmt.Errorf("mqttlink: publish to %s: %w", p.topic, err)
	}
	if p.qos == 0 {
		// paho completes a QoS 0 token without an error, and drops the
		// message, when the connection went down just before its Publish.
		if p.downPub {
			l.stats.droppedOffline.Add(1)
			return ErrNotConnected
		}
		return nil
	}
	pt, ok := p.tok.(*paho.PublishToken)
	if !ok || pt.MessageID() == 0 || l.store.unacked(pt.MessageID()) {
		return ErrResent
	}
	return nil
}
