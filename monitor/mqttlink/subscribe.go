package mqttlink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// subscribeTimeout bounds the wait for a SUBACK.
const subscribeTimeout = 5 * time.Second

// subscription is one topic filter and its handlers. A nil handler slice is
// the link's own heartbeat subscription.
type subscription struct {
	filter   string
	qos      byte
	handlers []handler
	made     uint64 // the connect (Stats.Connects) on which the broker accepted it
}

// handler is a subscriber's callback and what to do when it is behind.
type handler struct {
	deliver func(Message) // on the delivery goroutine, in order
	full    func(Message) // on paho's goroutine when the inbox is full; nil: drop
}

// subscriptions is the list re-made on every connect.
type subscriptions struct {
	mu   sync.Mutex
	list []*subscription
}

func (s *subscriptions) add(filter string, qos byte, h *handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.list {
		if sub.filter == filter {
			sub.qos = max(sub.qos, qos)
			if h != nil {
				sub.handlers = append(sub.handlers, *h)
			}
			sub.made = 0 // subscribe again: the QoS may have risen
			return
		}
	}
	sub := &subscription{filter: filter, qos: qos}
	if h != nil {
		sub.handlers = []handler{*h}
	}
	s.list = append(s.list, sub)
}

// handlers returns the handlers of filter (the slice is never modified in
// place, so it may be read after the lock is released).
func (s *subscriptions) handlers(filter string) []handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.list {
		if sub.filter == filter {
			return sub.handlers[:len(sub.handlers):len(sub.handlers)]
		}
	}
	return nil
}

// Subscribe asks for messages matching filter (MQTT wildcards allowed) and
// hands each to handler on the link's delivery goroutine, one at a time, in
// arrival order. A slow handler delays the others but never paho: when more
// than InboundBuffer messages wait, new ones are dropped and counted
// (Stats.InboundDropped), and a warning is logged. SubscribeOrRefuse
// answers them instead.
//
// The subscription is made at once if connected, and again after every
// reconnect. A message matching several filters reaches each of their
// handlers. The error is about the arguments only; a broker that refuses
// the subscription is logged.
func (l *Link) Subscribe(filter string, qos byte, handler func(Message)) error {
	return l.addSubscription(filter, qos, handler, nil)
}

// SubscribeOrRefuse is Subscribe for messages that must never vanish
// unanswered (commands): a message that finds InboundBuffer messages
// waiting goes to full instead, on paho's goroutine, at once (counted in
// Stats.InboundRefused). full must not block: it is for a quick refusal
// ("busy"), not for work.
func (l *Link) SubscribeOrRefuse(filter string, qos byte, handler, full func(Message)) error {
	if full == nil {
		return fmt.Errorf("mqttlink: subscribe to %s: full handler is nil", filter)
	}
	return l.addSubscription(filter, qos, handler, full)
}

func (l *Link) addSubscription(filter string, qos byte, deliver, full func(Message)) error {
	if err := checkFilter(filter); err != nil {
		return fmt.Errorf("mqttlink: subscribe: %w", err)
	}
	if qos > 1 {
		return fmt.Errorf("mqttlink: subscribe to %s: QoS %d; use 0 or 1", filter, qos)
	}
	if deliver == nil {
		return fmt.Errorf("mqttlink: subscribe to %s: handler is nil", filter)
	}
	l.subs.add(filter, qos, &handler{deliver: deliver, full: full})
	// The route goes in before any connect: a persistent session's queued
	// messages arrive right after the CONNACK, before subscribeAll runs,
	// and paho leaves a message without a route unacknowledged (and so
	// stuck at the broker until the next reconnect).
	l.client.AddRoute(filter, l.router(filter))
	wake(l.subscribe)
	return nil
}

// unrouted takes a message that matches no subscription of this run (with
// ManualAck): one queued by a persistent session for a subscription an
// earlier run made. It is acknowledged, so that it does not hold one of the
// broker's in-flight places forever, and counted and logged.
func (l *Link) unrouted(_ paho.Client, m paho.Message) {
	l.stats.unrouted.Add(1)
	l.log.Warn("mqtt message matching no subscription acknowledged and dropped (left from an earlier subscription of this persistent session?)", "topic", m.Topic())
	m.Ack()
}

// subscribeAll (Run's goroutine) makes the subscriptions not yet made on
// this connection; all of them when fresh is true.
func (l *Link) subscribeAll(ctx context.Context, fresh bool) {
	if !l.Up() {
		return // the next connect subscribes everything
	}
	conn := l.stats.connects.Load()
	filters := map[string]byte{}
	l.subs.mu.Lock()
	for _, sub := range l.subs.list {
		if fresh || sub.made != conn {
			filters[sub.filter] = sub.qos
		}
	}
	l.subs.mu.Unlock()
	if len(filters) == 0 {
		return
	}
	// One route per filter: paho replaces a route registered twice for the
	// same filter, so the link's own heartbeat check and the caller's
	// handlers share it.
	for f := range filters {
		l.client.AddRoute(f, l.router(f))
	}
	tok := l.client.SubscribeMultiple(filters, nil)
	if err := waitToken(ctx, tok, subscribeTimeout); err != nil {
		l.log.Warn("mqtt subscribe failed; retried at the next connect", "filters", keys(filters), "err", err)
		return
	}
	granted := tok.(*paho.SubscribeToken).Result()
	l.subs.mu.Lock()
	defer l.subs.mu.Unlock()
	for _, sub := range l.subs.list {
		q, asked := granted[sub.filter]
		if !asked {
			continue
		}
		refused := q >= 0x80 // 0x80 in MQTT 3.1.1; some brokers send v5 codes
		if sub.filter == l.cfg.HeartbeatTopic {
			l.echo.setRefused(refused)
		}
		if refused {
			l.log.Error("mqtt broker refused subscription (ACL?)", "filter", sub.filter, "code", q)
			continue
		}
		sub.made = conn
	}
}

func keys(m map[string]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitToken waits for a paho token without ever waiting forever.
func waitToken(ctx context.Context, tok paho.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return errors.New("no answer from the broker in time")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// router returns the paho callback for one filter. It runs on paho's router
// goroutine, so it only checks the heartbeat echo and queues, never blocks.
func (l *Link) router(filter string) paho.MessageHandler {
	heartbeat := filter == l.cfg.HeartbeatTopic
	return func(_ paho.Client, m paho.Message) {
		msg := Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained(), QoS: m.Qos()}
		if l.cfg.ManualAck {
			msg.Ack = m.Ack
		}
		if heartbeat && !msg.Retained {
			// A retained copy is the broker's memory, not a round trip.
			if l.echo.received(msg.Payload, l.cfg.Now()) {
				l.stats.echoes.Add(1)
			}
		}
		for _, h := range l.subs.handlers(filter) {
			if l.cfg.ManualAck {
				// Never drop: an unacknowledged message would wait for the
				// next reconnect. Waiting here holds paho back instead.
				select {
				case l.inbox <- inbound{handler: h.deliver, msg: msg}:
				case <-l.stopInbox:
				}
				continue
			}
			select {
			case l.inbox <- inbound{handler: h.deliver, msg: msg}:
			default:
				if h.full != nil {
					l.stats.inboundRefused.Add(1)
					h.full(msg)
					continue
				}
				l.stats.inboundDropped.Add(1)
			}
		}
	}
}

// deliverLoop calls handlers, one message at a time, off paho's goroutines.
func (l *Link) deliverLoop() {
	defer close(l.inboxDone)
	for {
		select {
		case in := <-l.inbox:
			in.handler(in.msg)
		case <-l.stopInbox:
			return
		}
	}
}
