package mqttlink

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// outcome records one Confirm callback.
type outcome struct {
	calls int
	err   error
}

func (o *outcome) fn(err error) { o.calls++; o.err = err }

// The proof rule on the echo alone, event by event: a message is delivered
// when the heartbeat before its mark and one after its PUBACK came back.
func TestEchoProofRule(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	hb := func(n int) []byte { return fmt.Appendf(nil, `{"hb":%d}`, n) }
	type step struct {
		sent, back int  // heartbeat n published / received back (0: none)
		confirm    bool // a message's PUBACK arrives now (marked at markAt)
	}
	cases := []struct {
		name    string
		markAt  int // heartbeats sent before the message was published
		steps   []step
		want    error
		settled bool
	}{
		{name: "both around it came back", markAt: 1,
			steps: []step{{sent: 1}, {back: 1}, {confirm: true}, {sent: 2}, {back: 2}}, settled: true},
		{name: "the one before was dropped (an ACL fixed since)", markAt: 1,
			steps: []step{{sent: 1}, {confirm: true}, {sent: 2}, {back: 2}}, want: ErrUndelivered, settled: true},
		{name: "no heartbeat before it at all", markAt: 0,
			steps: []step{{confirm: true}, {sent: 1}, {back: 1}}, want: ErrUndelivered, settled: true},
		{name: "the one after has not come back yet", markAt: 1,
			steps: []step{{sent: 1}, {back: 1}, {confirm: true}, {sent: 2}}},
		{name: "a heartbeat sent before the PUBACK proves nothing", markAt: 1,
			steps: []step{{sent: 1}, {back: 1}, {sent: 2}, {confirm: true}, {back: 2}}},
		{name: "the one after was dropped, a later one came back (an ACL broken, then fixed)", markAt: 1,
			steps: []step{{sent: 1}, {back: 1}, {confirm: true}, {sent: 2}, {sent: 3}, {back: 3}}, want: ErrUndelivered, settled: true},
		{name: "one between the mark and the PUBACK was dropped", markAt: 1,
			steps: []step{{sent: 1}, {back: 1}, {sent: 2}, {confirm: true}, {sent: 3}, {back: 3}}, want: ErrUndelivered, settled: true},
		{name: "all from the mark to after the PUBACK came back", markAt: 1,
			steps: []step{{sent: 1}, {back: 1}, {sent: 2}, {back: 2}, {confirm: true}, {sent: 3}, {back: 3}}, settled: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e echo
			e.init()
			var o outcome
			var m Mark
			if c.markAt == 0 {
				m = e.mark()
			}
			for _, s := range c.steps {
				switch {
				case s.sent != 0:
					e.sent(hb(s.sent), t0)
					if s.sent == c.markAt {
						m = e.mark()
					}
				case s.back != 0:
					if !e.received(hb(s.back), t0) {
						t.Fatalf("heartbeat %d not recognised", s.back)
					}
				case s.confirm:
					if err, now := e.wait(m, t0, o.fn); now {
						t.Fatalf("settled at once with %v", err)
					}
				}
			}
			if got := o.calls == 1; got != c.settled || o.calls > 1 {
				t.Fatalf("settled %d times, want settled=%v", o.calls, c.settled)
			}
			if c.settled && !errors.Is(o.err, c.want) {
				t.Fatalf("outcome %v, want %v", o.err, c.want)
			}
		})
	}
}

func TestEchoWaitersExpireAndClose(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var e echo
	e.init()
	e.sent([]byte("hb1"), t0)
	e.received([]byte("hb1"), t0)
	var late, fresh, atClose outcome
	e.wait(e.mark(), t0, late.fn)
	e.wait(e.mark(), t0.Add(20*time.Second), fresh.fn)
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
	if err, now := e.wait(e.mark(), t0, atClose.fn); !now || !errors.Is(err, ErrClosed) {
		t.Fatalf("Confirm after close: %v, %v; want ErrClosed at once", err, now)
	}
	if !e.received([]byte("hb1"), t0) || fresh.calls != 1 || late.calls != 1 {
		t.Fatal("a settled waiter was settled again")
	}
}

// While the broker refuses the heartbeat subscription nothing can be proven
// beyond the PUBACK: Confirm succeeds at once (and link_down says why).
func TestEchoRefusedSubscriptionTrustsThePuback(t *testing.T) {
	var e echo
	e.init()
	e.setRefused(true)
	if err, now := e.wait(e.mark(), time.Now(), func(error) { t.Fatal("registered") }); !now || err != nil {
		t.Fatalf("wait = %v, %v; want nil at once", err, now)
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
		e.wait(e.mark(), t0, func(error) {})
	}
	if !e.due(t0.Add(time.Second)) {
		t.Fatalf("not due with %d messages waiting", earlyHeartbeatAt)
	}
}

// On a real broker that acknowledges and drops (mochi's hook, as an ACL
// does): what is published while it drops is never confirmed, even once it
// delivers again; before and after, messages are.
func TestConfirmOnADroppingBroker(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.EchoTimeout = 10 * time.Second // a failure seen sooner is a disproof, not an expiry
	l := runLink(t, cfg)
	eventually(t, "heartbeat echoes", func() bool { return l.Stats().Echoes >= 2 })

	publish := func(what string) error {
		t.Helper()
		m := l.Mark()
		acked := newDone(t)
		l.Publish("chairside/chair-t/vitals/spo2", 1, false, []byte(what), acked.fn)
		if err := acked.wait(t); err != nil {
			t.Fatalf("%s: PUBACK: %v", what, err)
		}
		confirmed := newDone(t)
		l.Confirm(m, confirmed.fn)
		select {
		case err := <-confirmed.ch:
			return err
		case <-time.After(cfg.EchoTimeout / 2):
			t.Fatalf("%s: no outcome within %v", what, cfg.EchoTimeout/2)
			return nil
		}
	}
	if err := publish("delivered"); err != nil {
		t.Fatalf("delivered message: %v", err)
	}

	// beatPassed waits until a heartbeat has gone out after since and
	// reached the broker.
	beatPassed := func(since Mark) {
		eventually(t, "a heartbeat", func() bool { return l.Mark().beat > since.beat })
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		name       string
		dropBefore bool // the drop starts before the message's mark, or after it
	}{
		{"marked while dropping", true},
		{"marked while delivering, dropped with the heartbeat after it", false},
	} {
		if c.dropBefore {
			b.hook.setDrop(cfg.ClientID, true)
			beatPassed(l.Mark()) // the message's mark is a heartbeat into the void
		}
		m := l.Mark()
		b.hook.setDrop(cfg.ClientID, true)
		acked := newDone(t)
		l.Publish("chairside/chair-t/vitals/spo2", 1, false, []byte(c.name), acked.fn)
		if err := acked.wait(t); err != nil {
			t.Fatalf("%s: PUBACK while dropping: %v", c.name, err)
		}
		confirmed := newDone(t)
		l.Confirm(m, confirmed.fn)
		if !c.dropBefore {
			beatPassed(l.Mark()) // the first heartbeat after the PUBACK is dropped too
		}
		b.hook.setDrop(cfg.ClientID, false) // fixed; the next heartbeats come back
		select {
		case err := <-confirmed.ch:
			if !errors.Is(err, ErrUndelivered) {
				t.Fatalf("%s: message dropped by the broker: Confirm gave %v, want ErrUndelivered", c.name, err)
			}
		case <-time.After(cfg.EchoTimeout / 2):
			t.Fatalf("%s: no outcome within %v of the fix", c.name, cfg.EchoTimeout/2)
		}
		if err := publish("delivered again"); err != nil {
			t.Fatalf("%s: message after the fix: %v", c.name, err)
		}
	}
}

// A clean stop: the offline state, published on the heartbeat topic, is the
// last heartbeat, and its echo confirms what still awaited one, so nothing is
// sent twice at the next start.
func TestOfflineStateConfirmsAtShutdown(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.HeartbeatEvery = time.Hour // only the connect's heartbeat and the offline state
	cfg.Offline = func() *Message {
		return &Message{Topic: cfg.HeartbeatTopic, Payload: []byte(`{"v":1,"online":false}`), Retained: true, QoS: 1}
	}
	l := runLink(t, cfg)
	eventually(t, "the connect's heartbeat echoes", func() bool { return l.Stats().Echoes >= 1 })
	m := l.Mark()
	acked := newDone(t)
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("last words"), acked.fn)
	if err := acked.wait(t); err != nil {
		t.Fatalf("PUBACK: %v", err)
	}
	confirmed := newDone(t)
	l.Confirm(m, confirmed.fn)
	time.Sleep(50 * time.Millisecond)
	if confirmed.calls.Load() != 0 {
		t.Fatal("confirmed with no heartbeat after the PUBACK")
	}
	l.stop(t)
	if err := confirmed.wait(t); err != nil {
		t.Fatalf("at a clean stop: Confirm gave %v, want nil from the offline state's echo", err)
	}
}
