package mqttlink

import (
	"fmt"
	"sync"
	"time"
)

// LinkDown is the link's health as CONTRACT §3's link_down condition sees
// it. Down is true when the broker has been unreachable for LinkDownAfter,
// or when the link is connected but its own heartbeat has not come back
// within EchoTimeout (a broker that accepts publishes and drops them, as a
// mosquitto ACL does). Reason says which, in words for the alarm message and
// the log; Since is when the state began.
type LinkDown struct {
	Down   bool
	Reason string
	Since  time.Time
}

// health is the current LinkDown and the channel that reports its changes.
type health struct {
	mu        sync.Mutex
	state     LinkDown
	ch        chan LinkDown
	downSince time.Time // start of the current disconnection; zero while open
	closed    bool
}

func (h *health) init() { h.ch = make(chan LinkDown, 1) }

func (h *health) start(now time.Time) {
	h.mu.Lock()
	h.state.Since, h.downSince = now, now
	h.mu.Unlock()
}

func (h *health) connected(time.Time) {
	h.mu.Lock()
	h.downSince = time.Time{}
	h.mu.Unlock()
}

// set changes the state and reports it; the channel holds only the latest
// state, so a reader that falls behind never blocks the link and never sees
// a stale one last.
func (h *health) set(s LinkDown) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || (s.Down == h.state.Down && s.Reason == h.state.Reason) {
		return false
	}
	if s.Down == h.state.Down {
		s.Since = h.state.Since // same state, better words
	}
	h.state = s
	select {
	case <-h.ch:
	default:
	}
	h.ch <- s
	return true
}

func (h *health) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.ch)
	}
}

// Health reports every change of the link's health (latest first: a change
// not yet read is replaced by a newer one). It starts up (Down false: the
// link gets LinkDownAfter to connect) and is closed when Run returns (never,
// if Run is never called): receive with ", ok".
func (l *Link) Health() <-chan LinkDown { return l.health.ch }

// Status is the current health.
func (l *Link) Status() LinkDown {
	l.health.mu.Lock()
	defer l.health.mu.Unlock()
	return l.health.state
}

// evaluate (Run's goroutine) judges the link at now:
//
//   - not open: down once the disconnection has lasted LinkDownAfter; before
//     that the previous state holds, so a short reconnect is not an alarm.
//   - open, echo check on, and no heartbeat back within EchoTimeout of the
//     first heartbeat of this connection or of the last echo: down.
//   - open and an echo seen on this connection (or the check is off): up.
//   - open, echo not yet due: the previous state holds.
func (l *Link) evaluate(now time.Time) {
	var next LinkDown
	if !l.Up() {
		l.health.mu.Lock()
		if l.health.downSince.IsZero() {
			l.health.downSince = now
		}
		since := l.health.downSince
		l.health.mu.Unlock()
		if now.Sub(since) < l.cfg.LinkDownAfter {
			return
		}
		reason := fmt.Sprintf("broker unreachable for more than %s", l.cfg.LinkDownAfter)
		if err := l.LastError(); err != nil {
			reason += ": " + err.Error()
		}
		next = LinkDown{Down: true, Reason: reason, Since: since.Add(l.cfg.LinkDownAfter)}
	} else {
		l.health.mu.Lock()
		l.health.downSince = time.Time{}
		l.health.mu.Unlock()
		if l.cfg.HeartbeatTopic != "" {
			overdue, echoed, base := l.echo.status(now, l.cfg.EchoTimeout)
			switch {
			case overdue:
				why := "the broker is not delivering this client's messages (an ACL that drops them, or a dead connection not yet noticed)"
				if l.echo.subscriptionRefused() {
					why = "the broker refused this client's subscription to it (the ACL must let it read its own heartbeat topic)"
				}
				next = LinkDown{Down: true, Since: base.Add(l.cfg.EchoTimeout), Reason: fmt.Sprintf(
					"connected, but the heartbeat published on %s has not come back within %s: %s",
					l.cfg.HeartbeatTopic, l.cfg.EchoTimeout, why)}
			case !echoed:
				return
			}
		}
		if !next.Down {
			next = LinkDown{Since: now}
		}
	}
	if l.health.set(next) {
		if next.Down {
			l.log.Warn("mqtt link down", "reason", next.Reason)
		} else {
			l.log.Info("mqtt link up")
		}
	}
}
