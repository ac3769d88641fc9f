package mqttlink

import (
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// ErrUndelivered is given to a PublishProven callback when the broker
// acknowledged the message but a heartbeat around it did not come back (or
// none did in time): the broker may have dropped it. Publish it again.
var ErrUndelivered = errors.New("mqttlink: the broker acknowledged the message but did not deliver this client's heartbeat around it")

// echoWindow is how many recent heartbeats the link remembers: a message
// marked with an older one cannot be proven and is sent again (64 periods is
// far beyond PublishTimeout).
const echoWindow = 64

// earlyHeartbeatAt: when this many messages await proof, the heartbeat goes
// out at the next tick instead of at its time, so a backlog drains at speed
// and the waiting stay few.
const earlyHeartbeatAt = 1024

// echo remembers the link's recent heartbeats, which came back, and the
// messages waiting for that proof. received runs on paho's router goroutine,
// so everything here is a few comparisons under a lock that nobody holds for
// long; callbacks run outside it.
type echo struct {
	mu      sync.Mutex
	seed    maphash.Seed
	recent  [echoWindow]beat // heartbeat n is at n % echoWindow
	beats   uint64           // heartbeats published so far: the last one's number
	connAt  time.Time        // this connection
	first   time.Time        // first heartbeat published on this connection
	back    time.Time        // last heartbeat received back on this connection
	nextDue time.Time        // when the link's own next heartbeat is due
	refused bool             // the broker refused the subscription to the heartbeat topic
	closed  bool
	newest  uint64 // the newest heartbeat that came back
	waiting []waiter
}

type beat struct {
	n    uint64
	hash uint64
	back bool
}

// waiter is a message acknowledged by the broker, waiting for heartbeats
// before and after (before+1: the two around it on the wire) to come back.
type waiter struct {
	before, after uint64
	since         time.Time
	fn            func(error)
}

// settled is a waiter's outcome, to be called outside the lock.
type settled struct {
	fn  func(error)
	err error
}

func settle(s []settled) {
	for _, x := range s {
		x.fn(x.err)
	}
}

func (e *echo) init() { e.seed = maphash.MakeSeed() }

func (e *echo) setRefused(r bool) {
	e.mu.Lock()
	e.refused = r
	e.mu.Unlock()
}

func (e *echo) subscriptionRefused() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused
}

func (e *echo) connected(now time.Time) {
	e.mu.Lock()
	e.connAt, e.first, e.back = now, time.Time{}, time.Time{}
	e.mu.Unlock()
}

// scheduled notes that a heartbeat round starts now.
func (e *echo) scheduled(now time.Time, every time.Duration) {
	e.mu.Lock()
	e.nextDue = now.Add(every)
	e.mu.Unlock()
}

// due: the next heartbeat's time has come, or many messages wait for one.
func (e *echo) due(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.nextDue.IsZero() && (!now.Before(e.nextDue) || len(e.waiting) >= earlyHeartbeatAt)
}

// sent records a heartbeat payload published by anyone through Publish (or
// the offline state): its number.
func (e *echo) sent(payload []byte, now time.Time) uint64 {
	h := maphash.Bytes(e.seed, payload)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.beats++
	e.recent[e.beats%echoWindow] = beat{n: e.beats, hash: h}
	if e.first.IsZero() {
		e.first = now
	}
	return e.beats
}

func (e *echo) isBack(n uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.backLocked(n)
}

// last is the number of the last heartbeat sent.
func (e *echo) last() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.beats
}

// backLocked reports whether heartbeat n came back (false for 0, before any).
func (e *echo) backLocked(n uint64) bool {
	b := e.recent[n%echoWindow]
	return n != 0 && b.n == n && b.back
}

// wait registers fn for the proof of a message sent after heartbeat before;
// now is true when the outcome is known at once (err is then it).
func (e *echo) wait(before uint64, at time.Time, fn func(error)) (err error, now bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed, true
	}
	w := waiter{before: before, after: before + 1, since: at, fn: fn}
	if e.newest >= w.after {
		return e.proofLocked(w), true // its PUBACK came after the echo
	}
	e.waiting = append(e.waiting, w)
	return nil, false
}

// proofLocked judges a waiter once a heartbeat at or after w.after is back:
// the broker delivers in order, so any of before..after not back was dropped.
func (e *echo) proofLocked(w waiter) error {
	for b := w.before; b <= w.after; b++ {
		if !e.backLocked(b) {
			return ErrUndelivered
		}
	}
	return nil
}

// received reports whether payload is one of this link's heartbeats; then it
// counts as the echo, and the messages it proves (or disproves) are settled.
func (e *echo) received(payload []byte, now time.Time) bool {
	h := maphash.Bytes(e.seed, payload)
	e.mu.Lock()
	// Echoes come in order: of two alike, the older not yet back is this one.
	var hit *beat
	for i := range e.recent {
		if b := &e.recent[i]; b.n != 0 && b.hash == h && !b.back && (hit == nil || b.n < hit.n) {
			hit = b
		}
	}
	if hit == nil {
		e.mu.Unlock()
		return false
	}
	hit.back = true
	n := hit.n
	e.newest = max(e.newest, n)
	e.back = now
	done := e.takeLocked(func(w waiter) (error, bool) {
		if w.after > n {
			return nil, false
		}
		return e.proofLocked(w), true
	})
	e.mu.Unlock()
	settle(done)
	return true
}

// expire fails the waiters older than timeout.
func (e *echo) expire(now time.Time, timeout time.Duration) {
	e.mu.Lock()
	done := e.takeLocked(func(w waiter) (error, bool) {
		return ErrUndelivered, now.Sub(w.since) > timeout
	})
	e.mu.Unlock()
	settle(done)
}

// close fails every waiter, and every later Confirm, with ErrClosed.
func (e *echo) close() {
	e.mu.Lock()
	e.closed = true
	done := e.takeLocked(func(waiter) (error, bool) { return ErrClosed, true })
	e.mu.Unlock()
	settle(done)
}

// takeLocked removes the waiters for which outcome says done, in order.
func (e *echo) takeLocked(outcome func(waiter) (error, bool)) []settled {
	var done []settled
	kept := e.waiting[:0]
	for _, w := range e.waiting {
		if err, ok := outcome(w); ok {
			done = append(done, settled{fn: w.fn, err: err})
		} else {
			kept = append(kept, w)
		}
	}
	clear(e.waiting[len(kept):])
	e.waiting = kept
	return done
}

// status: overdue when a heartbeat went out on this connection and nothing
// came back for timeout since the later of that first heartbeat and the last
// echo; echoed when an echo arrived on this connection; base is the time the
// overdue clock runs from.
func (e *echo) status(now time.Time, timeout time.Duration) (overdue, echoed bool, base time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	echoed = !e.back.IsZero() && !e.back.Before(e.connAt)
	if e.first.IsZero() {
		return false, echoed, time.Time{}
	}
	base = e.first
	if echoed && e.back.After(base) {
		base = e.back
	}
	return now.Sub(base) > timeout, echoed, base
}
