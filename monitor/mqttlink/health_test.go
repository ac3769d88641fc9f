package mqttlink

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// heartbeatConfig makes the link own a heartbeat like a chair's state.
func heartbeatConfig(t *testing.T, broker string) Config {
	cfg := baseConfig(t, broker)
	cfg.HeartbeatTopic = "chairside/chair-t/state"
	var n atomic.Int64
	cfg.Heartbeat = func() []byte { return []byte(fmt.Sprintf(`{"v":1,"online":true,"n":%d}`, n.Add(1))) }
	return cfg
}

// A broker that accepts and drops the chair's publishes (an ACL) leaves the
// link connected but useless: link_down must say so within the echo window.
func TestSilentlyDroppingBrokerIsLinkDown(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		b := startMochi(t, nil)
		cfg := heartbeatConfig(t, b.url())
		l := runLink(t, cfg)
		eventually(t, "heartbeat echoes", func() bool { return l.Stats().Echoes >= 2 })
		if s := l.Status(); s.Down {
			t.Fatalf("down while healthy: %+v", s)
		}

		b.hook.setDrop(cfg.ClientID, true) // from now on: PUBACK, no delivery
		dropped := time.Now()
		s := waitHealth(t, l.Link, true, waitLong)
		if el := time.Since(dropped); el < cfg.EchoTimeout-hbEvery {
			t.Fatalf("down after %v, sooner than the echo window %v", el, cfg.EchoTimeout)
		}
		if !strings.Contains(s.Reason, "ACL") || !l.Up() {
			t.Fatalf("status %+v, up %v; want down for a dropping broker while connected", s, l.Up())
		}
		// Publishes are still acknowledged: only the echo shows the problem.
		d := newDone(t)
		l.Publish("chairside/chair-t/alarm", 1, false, []byte("into the void"), d.fn)
		if err := d.wait(t); err != nil {
			t.Fatalf("done(%v)", err)
		}

		b.hook.setDrop(cfg.ClientID, false)
		waitHealth(t, l.Link, false, waitLong)
	})
	t.Run("mosquitto ACL", func(t *testing.T) {
		m := brokertest.StartMosquitto(t)
		cfg := heartbeatConfig(t, m.AuthURL())
		cfg.Username, cfg.Password = "chair-acl", "acl-secret"
		l := runLink(t, cfg)
		waitUp(t, l.Link)
		s := waitHealth(t, l.Link, true, waitLong)
		if !strings.Contains(s.Reason, "ACL") || !l.Up() {
			t.Fatalf("status %+v, up %v; want down for the ACL while connected", s, l.Up())
		}
		if l.Stats().Echoes != 0 {
			t.Fatal("echo received through an ACL that denies writing")
		}
		// The clinic fixes the ACL; mosquitto rereads it on SIGHUP.
		m.WriteACL(strings.Replace(brokertest.ACL, "topic read chairside/#\n", "topic readwrite chairside/#\n", 1))
		m.Reload()
		waitHealth(t, l.Link, false, waitLong)
	})
}

// An ACL that does not let the chair read its own heartbeat topic makes the
// echo check fail too; the reason says so.
func TestHeartbeatSubscriptionRefused(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	b.hook.setDenySub(cfg.ClientID, cfg.HeartbeatTopic)
	l := runLink(t, cfg)
	s := waitHealth(t, l.Link, true, waitLong)
	if !strings.Contains(s.Reason, "refused this client's subscription") || !l.Up() {
		t.Fatalf("status %+v, up %v", s, l.Up())
	}
}

func TestUnreachableBrokerIsLinkDownAfterDelay(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.LinkDownAfter = 500 * time.Millisecond
	l := runLink(t, cfg)
	eventually(t, "an echo", func() bool { return l.Stats().Echoes >= 1 })

	stopped := time.Now() // the link sees the disconnect while stop runs
	b.stop()
	s := waitHealth(t, l.Link, true, waitLong)
	if el := time.Since(stopped); el < cfg.LinkDownAfter {
		t.Fatalf("down after %v, before LinkDownAfter %v", el, cfg.LinkDownAfter)
	}
	if !strings.Contains(s.Reason, "unreachable for more than 500ms: ") { // then the last error
		t.Fatalf("reason %q", s.Reason)
	}
	b.start()
	waitHealth(t, l.Link, false, waitLong)
}

// A short outage, shorter than LinkDownAfter, is not link_down.
func TestShortOutageIsNotLinkDown(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.LinkDownAfter = 5 * time.Second
	var connects atomic.Int32
	l := runLink(t, cfg, func(l *Link) { l.OnConnect(func() { connects.Add(1) }) })
	eventually(t, "an echo", func() bool { return l.Stats().Echoes >= 1 })
	b.stop()
	eventually(t, "disconnect", func() bool { return !l.Up() })
	b.start()
	eventually(t, "reconnect", func() bool { return connects.Load() == 2 })
	echoes := l.Stats().Echoes
	eventually(t, "an echo after the reconnect", func() bool { return l.Stats().Echoes > echoes })
	select {
	case h := <-l.Health():
		t.Fatalf("health changed during a short outage: %+v", h)
	default:
	}
}

// A handler that blocks must not stall paho: acks, heartbeats and publishes
// go on; messages beyond the buffer are dropped and counted.
func TestSlowHandlerDoesNotStallTheLink(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.InboundBuffer = 4
	release := make(chan struct{})
	var got atomic.Int32
	l := runLink(t, cfg, func(l *Link) {
		if err := l.Subscribe("chairside/chair-t/cmd", 1, func(Message) {
			got.Add(1)
			<-release
		}); err != nil {
			t.Fatal(err)
		}
	})
	defer close(release)
	waitUp(t, l.Link)
	station := observe(t, b.url(), "nothing")
	eventually(t, "the subscription", func() bool {
		station.publish(t, "chairside/chair-t/cmd", "probe")
		return got.Load() > 0
	})
	for i := range 50 {
		station.publish(t, "chairside/chair-t/cmd", fmt.Sprint(i))
	}
	eventually(t, "drops counted", func() bool { return l.Stats().InboundDropped > 0 })
	echoes := l.Stats().Echoes
	eventually(t, "heartbeats still echo", func() bool { return l.Stats().Echoes >= echoes+2 })
	d := newDone(t)
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("still flowing"), d.fn)
	if err := d.wait(t); err != nil {
		t.Fatalf("done(%v)", err)
	}
	if s := l.Status(); s.Down {
		t.Fatalf("down because of a slow handler: %+v", s)
	}
}

// The caller may publish the heartbeat itself (no Config.Heartbeat); the
// link still recognises its echo, and ignores the retained copy a previous
// run left on the broker.
func TestCallerPublishedHeartbeat(t *testing.T) {
	b := startMochi(t, nil)
	obs := observe(t, b.url(), "nothing")
	obs.c.Publish("chairside/chair-t/state", 1, true, `{"old":"retained"}`).WaitTimeout(waitLong)

	cfg := baseConfig(t, b.url())
	cfg.HeartbeatTopic = "chairside/chair-t/state"
	n := 0
	var l *running
	l = runLink(t, cfg, func(link *Link) {
		link.OnConnect(func() {
			n++
			link.Publish(cfg.HeartbeatTopic, 1, true, []byte(fmt.Sprintf(`{"n":%d}`, n)), nil)
		})
	})
	eventually(t, "the echo of the caller's heartbeat", func() bool { return l.Stats().Echoes == 1 })
	// Without further heartbeats the echo goes overdue: the caller must keep
	// publishing at HeartbeatEvery.
	s := waitHealth(t, l.Link, true, waitLong)
	if !strings.Contains(s.Reason, "has not come back") {
		t.Fatalf("reason %q", s.Reason)
	}
}

// With SubscribeOrRefuse nothing is dropped silently: every message beyond
// the buffer goes to the full handler at once, on paho's goroutine, and
// every message reaches exactly one of the two.
func TestFullInboxHandsMessagesToRefuse(t *testing.T) {
	b := startMochi(t, nil)
	cfg := heartbeatConfig(t, b.url())
	cfg.InboundBuffer = 4
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]int{}
	count := func(m Message) {
		mu.Lock()
		seen[string(m.Payload)]++
		mu.Unlock()
	}
	var refused atomic.Int32
	l := runLink(t, cfg, func(l *Link) {
		if err := l.SubscribeOrRefuse("chairside/chair-t/cmd", 1, func(m Message) {
			count(m)
			<-release
		}, func(m Message) {
			refused.Add(1)
			count(m)
		}); err != nil {
			t.Fatal(err)
		}
	})
	waitUp(t, l.Link)
	station := observe(t, b.url(), "nothing")
	for i := range 50 {
		station.publish(t, "chairside/chair-t/cmd", fmt.Sprint(i))
	}
	eventually(t, "refusals", func() bool { return refused.Load() >= 40 })
	close(release)
	eventually(t, "every message handled once", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 50
	})
	mu.Lock()
	for p, n := range seen {
		if n != 1 {
			t.Errorf("message %s handled %d times", p, n)
		}
	}
	mu.Unlock()
	if s := l.Stats(); s.InboundDropped != 0 || s.InboundRefused != uint64(refused.Load()) {
		t.Fatalf("stats %+v, want no drop and %d refused", s, refused.Load())
	}
}
