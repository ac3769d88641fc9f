package mqttlink

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// outcome records one proof callback.
type outcome struct {
	calls int
	err   error
}

func (o *outcome) fn(err error) { o.calls++; o.err = err }

// The proof rule on the echo alone, event by event: a message is delivered
// when the heartbeats just before and just after it on the wire came back.
func TestEchoProofRule(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	hb := func(n int) []byte { return fmt.Appendf(nil, `{"hb":%d}`, n) }
	const (
		pub   = -1 // the message is handed to paho
		acked = -2 // its PUBACK arrives
	)
	cases := []struct {
		name    string
		steps   []int // n > 0: heartbeat n sent; n < -10: heartbeat -n-10 back; or pub, acked
		settled bool
		want    error
	}{
		{"both around it came back", []int{1, -11, pub, acked, 2, -12}, true, nil},
		{"its PUBACK after the echo of the one after it", []int{1, -11, pub, 2, -12, acked}, true, nil},
		{"the one before was dropped (an ACL fixed since)", []int{1, pub, acked, 2, -12}, true, ErrUndelivered},
		{"no heartbeat before it at all", []int{pub, acked, 1, -11}, true, ErrUndelivered},
		{"the one after has not come back yet", []int{1, -11, pub, acked, 2}, false, nil},
		{"the one after was dropped, a later one came back (an ACL broken, then fixed)", []int{1, -11, pub, acked, 2, 3, -13}, true, ErrUndelivered},
		{"the same, its PUBACK after it all", []int{1, -11, pub, 2, 3, -13, acked}, true, ErrUndelivered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e echo
			e.init()
			var o outcome
			var before uint64
			for _, s := range c.steps {
				switch {
				case s > 0:
					e.sent(hb(s), t0)
				case s < -10:
					if !e.received(hb(-s-10), t0) {
						t.Fatalf("heartbeat %d not recognised", -s-10)
					}
				case s == pub:
					before = e.last()
				case s == acked:
					if err, now := e.wait(before, t0, o.fn); now {
						o.fn(err)
					}
				}
			}
			if o.calls > 1 || (o.calls == 1) != c.settled {
				t.Fatalf("settled %d times, want settled=%v", o.calls, c.settled)
			}
			if c.settled && !errors.Is(o.err, c.want) {
				t.Fatalf("outcome %v, want %v", o.err, c.want)
			}
		})
	}
}

// Two heartbeats alike come back in order: each echo is the older one's.
func TestEchoIdenticalHeartbeats(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var e echo
	e.init()
	e.sent([]byte("same"), t0)
	e.sent([]byte("same"), t0)
	e.received([]byte("same"), t0)
	if !e.isBack(1) || e.isBack(2) {
		t.Fatalf("after one echo: back(1)=%v back(2)=%v, want true, false", e.isBack(1), e.isBack(2))
	}
	e.received([]byte("same"), t0)
	if !e.isBack(2) {
		t.Fatal("the second echo did not count for the second heartbeat")
	}
	if e.received([]byte("same"), t0) {
		t.Fatal("a third copy counted as an echo")
	}
}

func TestEchoWaitersExpireAndClose(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var e echo
	e.init()
	e.sent([]byte("hb1"), t0)
	e.received([]byte("hb1"), t0)
	var late, fresh, atClose outcome
	e.wait(e.last(), t0, late.fn)
	e.wait(e.last(), t0.Add(20*time.Second), fresh.fn)
	e.expire(t0.Add(26*time.Second), 25*time.Second)
	if late.calls != 1 || !errors.Is(late.err, ErrUndelivered) {
		t.Fatalf("waiter past the echo timeout: %+v, want ErrUndelivered", late)
	}
	if fresh.calls != 0 {
		t.Fatalf("waiter within the echo timeout settled: %+v", fresh)
	}
	e.close()
	if fresh.calls != 1 || !errors.Is(fresh.err, ErrClosed) {
		t.Fatalf("waiter at close: %+v, want ErrClosed", fresh)
	}
	if err, now := e.wait(e.last(), t0, atClose.fn); !now || !errors.Is(err, ErrClosed) {
		t.Fatalf("wait after close: %v, %v; want ErrClosed at once", err, now)
	}
	e.sent([]byte("hb2"), t0)
	if !e.received([]byte("hb2"), t0) || fresh.calls != 1 || late.calls != 1 {
		t.Fatal("a settled waiter was settled again")
	}
}

// Many messages waiting bring the next heartbeat forward.
func TestEchoManyWaitingMakeTheHeartbeatDue(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var e echo
	e.init()
	e.scheduled(t0, 10*time.Second)
	if e.due(t0.Add(time.Second)) {
		t.Fatal("due before its time with nothing waiting")
	}
	for range earlyHeartbeatAt {
		e.wait(e.last(), t0, func(error) {})
	}
	if !e.due(t0.Add(time.Second)) {
		t.Fatalf("not due with %d messages waiting", earlyHeartbeatAt)
	}
}

// proven publishes through PublishProven and returns its outcome, failing
// the test if the PUBACK does not come or no outcome follows within wait.
func proven(t *testing.T, l *running, what string, wait time.Duration) error {
	t.Helper()
	acked := make(chan struct{})
	done := newDone(t)
	l.PublishProven("chairside/chair-t/vitals/spo2", false, []byte(what), func() { close(acked) }, done.fn)
	select {
	case <-acked:
	case <-time.After(waitLong):
		t.Fatalf("%s: no PUBACK", what)
	}
	select {
	case err := <-done.ch:
		return err
	case <-time.After(wait):
		t.Fatalf("%s: no outcome within %v", what, wait)
		return nil
	}
}

// On a real broker that acknowledges and drops (mochi's hook, as an ACL
// does): what is published while it drops is never proven delivered, even
// once it delivers again; before and after, messages are.
func TestPublishProvenOnADroppingBroker(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.EchoTimeout = 10 * time.Second // a failure seen sooner is a disproof, not an expiry
	l := runLink(t, cfg)
	eventually(t, "heartbeat echoes", func() bool { return l.Stats().Echoes >= 2 })
	if err := proven(t, l, "delivered", cfg.EchoTimeout/2); err != nil {
		t.Fatalf("delivered message: %v", err)
	}
	// beatHandled waits until the broker has handled one more heartbeat.
	beatHandled := func() {
		n := b.hook.handledOn(cfg.HeartbeatTopic)
		eventually(t, "a heartbeat at the broker", func() bool { return b.hook.handledOn(cfg.HeartbeatTopic) > n })
	}
	for _, c := range []struct {
		name       string
		dropBefore bool // the heartbeat before the message is dropped too
	}{
		{"heartbeat before it dropped", true},
		{"heartbeat after it dropped", false},
	} {
		b.hook.setDrop(cfg.ClientID, true)
		if c.dropBefore {
			beatHandled()
		}
		acked := make(chan struct{})
		done := newDone(t)
		l.PublishProven("chairside/chair-t/vitals/spo2", false, []byte(c.name), func() { close(acked) }, done.fn)
		<-acked
		beatHandled() // the one after it goes into the void
		b.hook.setDrop(cfg.ClientID, false)
		select {
		case err := <-done.ch:
			if !errors.Is(err, ErrUndelivered) {
				t.Fatalf("%s: dropped by the broker, yet the outcome is %v, want ErrUndelivered", c.name, err)
			}
		case <-time.After(cfg.EchoTimeout / 2):
			t.Fatalf("%s: no outcome within %v of the fix", c.name, cfg.EchoTimeout/2)
		}
		if err := proven(t, l, "delivered again", cfg.EchoTimeout/2); err != nil {
			t.Fatalf("%s: message after the fix: %v", c.name, err)
		}
	}
}

// A clean stop: the offline state, published on the heartbeat topic, is the
// last heartbeat, and its echo proves what still awaited one, so nothing is
// sent twice at the next start.
func TestOfflineStateProvesAtShutdown(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.HeartbeatEvery = time.Hour // only the connect's heartbeat and the offline state
	cfg.Offline = func() *Message {
		return &Message{Topic: cfg.HeartbeatTopic, Payload: []byte(`{"v":1,"online":false}`), Retained: true, QoS: 1}
	}
	l := runLink(t, cfg)
	eventually(t, "the connect's heartbeat echoes", func() bool { return l.Stats().Echoes >= 1 })
	acked := make(chan struct{})
	done := newDone(t)
	l.PublishProven("chairside/chair-t/alarm", false, []byte("last words"), func() { close(acked) }, done.fn)
	<-acked
	time.Sleep(50 * time.Millisecond)
	if done.calls.Load() != 0 {
		t.Fatal("proven with no heartbeat after it")
	}
	l.stop(t)
	if err := done.wait(t); err != nil {
		t.Fatalf("at a clean stop: %v, want nil from the offline state's echo", err)
	}
}

// Without the echo check the PUBACK is all the proof there is.
func TestPublishProvenWithoutHeartbeat(t *testing.T) {
	b := startMochi(t, nil)
	l := runLink(t, baseConfig(t, b.url()))
	waitUp(t, l.Link)
	if err := proven(t, l, "acknowledged", waitLong); err != nil {
		t.Fatalf("without a heartbeat: %v, want nil at the PUBACK", err)
	}
}
