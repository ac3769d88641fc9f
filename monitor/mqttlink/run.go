package mqttlink

import (
	"context"
	"errors"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Run connects, retrying with back-off, and keeps the link up until ctx
// ends. Then it publishes the offline state (Config.Offline, or the Will) if
// connected, disconnects cleanly so the broker does not publish the Will, and
// returns within about 4 s. It returns nil after a clean shutdown; a Link
// runs once.
func (l *Link) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return errors.New("mqttlink: Run called twice")
	}
	go l.sendLoop()
	go l.ackLoop()
	go l.deliverLoop()

	start := l.cfg.Now()
	l.health.start(start)
	l.log.Info("mqtt connecting", "config", l.cfg)
	// With ConnectRetry the token completes only once connected; failures
	// arrive through onNotification, so the token is not waited for.
	l.client.Connect()

	tick := time.NewTicker(l.tickEvery())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			l.shutdown()
			return nil
		case <-l.connected:
			l.onConnected(ctx)
		case <-l.subscribe:
			l.subscribeAll(ctx, false)
		case <-l.notify:
			l.logConnErr()
		case <-tick.C:
			l.tick()
		}
	}
}

// tickEvery is how often health is judged and heartbeats are due: a fifth of
// the shortest period involved, between 20 ms and 1 s.
func (l *Link) tickEvery() time.Duration {
	d := min(l.cfg.HeartbeatEvery, l.cfg.LinkDownAfter, l.cfg.EchoTimeout) / 5
	return max(20*time.Millisecond, min(d, time.Second))
}

func (l *Link) logConnErr() {
	l.connMu.Lock()
	err, seen := l.lastErr, l.lastErrSeen
	l.lastErrSeen = true
	l.connMu.Unlock()
	if err != nil && !seen {
		// Logged when the reason changes, not at every retry.
		l.log.Warn("mqtt connection problem", "err", err, "attempts", l.stats.attempts.Load())
	}
}

// onConnected runs on Run's goroutine after paho reports a connection.
func (l *Link) onConnected(ctx context.Context) {
	if !l.Up() {
		return // lost again already; the next connect will come through here
	}
	now := l.cfg.Now()
	n := l.stats.connects.Add(1)
	l.echo.connected(now)
	l.health.connected(now)
	l.log.Info("mqtt connected", "connects", n, "attempts", l.stats.attempts.Load())
	l.subscribeAll(ctx, true)
	l.sendHeartbeat(now)

	l.onConnectMu.Lock()
	fs := append([]func(){}, l.onConnect...)
	l.onConnectMu.Unlock()
	for _, f := range fs {
		if ctx.Err() != nil {
			return
		}
		f()
	}
	l.evaluate(l.cfg.Now())
}

// tick sends a due heartbeat, judges health and reports inbound drops.
func (l *Link) tick() {
	now := l.cfg.Now()
	if l.echo.due(now) {
		l.sendHeartbeat(now)
	}
	l.echo.expire(now, l.cfg.EchoTimeout)
	l.evaluate(now)
	if n := l.stats.inboundDropped.Load(); n != l.stats.inboundDroppedLogged && now.Sub(l.stats.dropLoggedAt) >= 10*time.Second {
		l.log.Warn("mqtt inbound messages dropped: a handler is too slow", "dropped_total", n)
		l.stats.inboundDroppedLogged, l.stats.dropLoggedAt = n, now
	}
	if n := l.stats.inboundCut.Load(); n != l.stats.inboundCutLogged {
		l.log.Warn("mqtt inbound message over the size bound cut to its head (a 4 KiB command was expected)",
			"bound_bytes", l.cfg.MaxInboundPacket, "cut_total", n)
		l.stats.inboundCutLogged = n
	}
}

// sendHeartbeat publishes Config.Heartbeat's payload when the link owns the
// heartbeat; its outcome shows in the echo check, not in a callback.
func (l *Link) sendHeartbeat(now time.Time) {
	l.echo.scheduled(now, l.cfg.HeartbeatEvery)
	if l.cfg.Heartbeat == nil || !l.Up() {
		return
	}
	l.Publish(l.cfg.HeartbeatTopic, 1, true, l.cfg.Heartbeat(), nil)
}

// shutdown budget: the whole of it stays under CONTRACT §1's 5 s.
const (
	shutdownSend    = 500 * time.Millisecond
	shutdownOffline = 2 * time.Second
	shutdownQuiesce = 250 // ms, paho's Disconnect
	shutdownDrain   = time.Second
	offlineEcho     = 500 * time.Millisecond // within shutdownOffline
)

// shutdown stops new work, publishes the offline state, disconnects cleanly
// and completes every outstanding done callback.
func (l *Link) shutdown() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.stopSend)
	waitFor(l.sendDone, shutdownSend)

	if l.Up() {
		l.publishOffline()
	}
	l.client.Disconnect(shutdownQuiesce)
	close(l.abort)
	close(l.stopInbox)
	waitFor(l.ackDone, shutdownDrain)
	l.echo.close()
	waitFor(l.inboxDone, 100*time.Millisecond)
	l.health.close()
	s := l.Stats()
	l.log.Info("mqtt link closed", "published", s.Published, "acked", s.Acked, "failed", s.Failed)
}

// publishOffline publishes the offline state and waits, briefly, for its
// PUBACK: PUBACKs come in order, so the earlier messages are then acked too.
func (l *Link) publishOffline() {
	var m *Message
	if l.cfg.Offline != nil {
		m = l.cfg.Offline()
	} else {
		m = l.cfg.Will
	}
	if m == nil {
		return
	}
	// On the heartbeat topic it is the last heartbeat: its echo proves the
	// delivery of the messages still awaiting one (PublishProven), so a
	// clean stop leaves nothing to send twice at the next start. sendLoop
	// has stopped: nothing else numbers heartbeats now.
	var beat uint64
	if m.Topic == l.cfg.HeartbeatTopic {
		beat = l.echo.sent(m.Payload, l.cfg.Now())
	}
	// paho's Publish itself may wait for a congested connection, so even the
	// call is bounded.
	toks := make(chan paho.Token, 1)
	go func() { toks <- l.client.Publish(m.Topic, m.QoS, m.Retained, m.Payload) }()
	timer := time.NewTimer(shutdownOffline)
	defer timer.Stop()
	select {
	case tok := <-toks:
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				l.log.Warn("mqtt offline state not published", "topic", m.Topic, "err", err)
				return
			}
			l.awaitEcho(beat, timer.C)
			return
		case <-timer.C:
		}
	case <-timer.C:
	}
	l.log.Warn("mqtt offline state not acknowledged in time", "topic", m.Topic)
}

// awaitEcho waits for heartbeat n (0: none) to come back, at most
// offlineEcho and not past expired; not at all while the echo is failing.
func (l *Link) awaitEcho(n uint64, expired <-chan time.Time) {
	if n == 0 || l.Status().Down {
		return
	}
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	limit := time.NewTimer(offlineEcho)
	defer limit.Stop()
	for !l.echo.isBack(n) {
		select {
		case <-poll.C:
		case <-limit.C:
			l.log.Info("mqtt offline state's echo not back in time; unconfirmed messages are sent again at the next start")
			return
		case <-expired:
			return
		}
	}
}

func waitFor(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
