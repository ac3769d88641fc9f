package mqttlink

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// restartable is a broker a test can kill and start again on the same port.
type restartable struct {
	url           string
	kill, restart func()
}

func TestBrokerKilledAndRestarted(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		b := startMochi(t, nil)
		testRestart(t, restartable{url: b.url(), kill: b.stop, restart: b.start})
	})
	t.Run("mosquitto", func(t *testing.T) {
		m := brokertest.StartMosquitto(t)
		testRestart(t, restartable{url: m.PlainURL(), kill: m.Kill, restart: m.Start})
	})
}

func testRestart(t *testing.T, b restartable) {
	const cmdTopic = "chairside/chair-t/cmd"
	var connects atomic.Int32
	cmds := make(chan string, 10)
	l := runLink(t, baseConfig(t, b.url), func(l *Link) {
		l.OnConnect(func() { connects.Add(1) })
		if err := l.Subscribe(cmdTopic, 1, func(m Message) { cmds <- string(m.Payload) }); err != nil {
			t.Fatal(err)
		}
	})
	eventually(t, "first OnConnect", func() bool { return connects.Load() == 1 })

	// The subscription works before the outage...
	station := observe(t, b.url, "nothing/#")
	expectCmd := func(payload string) {
		t.Helper()
		deadline := time.After(waitLong)
		for {
			// Resend until seen: the subscription may be a moment behind OnConnect.
			station.publish(t, cmdTopic, payload)
			select {
			case got := <-cmds:
				if got == payload {
					return
				}
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatalf("handler did not get %q", payload)
			}
		}
	}
	expectCmd("before")

	b.kill()
	eventually(t, "the link to see the broker gone", func() bool { return !l.Up() })

	// ...publishes while down fail at once: the caller's outbox keeps them.
	d1, d0 := newDone(t), newDone(t)
	start := time.Now()
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("while down"), d1.fn)
	l.Publish("chairside/chair-t/pleth", 0, false, []byte("while down"), d0.fn)
	if err := d1.wait(t); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("QoS 1 while down: done(%v); want ErrNotConnected", err)
	}
	if err := d0.wait(t); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("QoS 0 while down: done(%v); want ErrNotConnected", err)
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Fatalf("Publish while down took %v to fail", el)
	}
	if l.Stats().DroppedOffline == 0 {
		t.Fatal("QoS 0 drop not counted")
	}

	b.restart()
	eventually(t, "OnConnect after the restart", func() bool { return connects.Load() == 2 })
	station = observe(t, b.url, "chairside/#") // the old observer died with the broker
	expectCmd("after")                         // subscription restored

	d := newDone(t)
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("after restart"), d.fn)
	if err := d.wait(t); err != nil {
		t.Fatalf("publish after restart: done(%v)", err)
	}
	station.expect(t, "chairside/chair-t/alarm", "after restart")
}

// The Will is the broker's word that the chair died: it must be published
// when the TCP connection dies without DISCONNECT, and not on a clean stop,
// when the link publishes the offline state itself.
func TestWillOnUncleanDeath(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		b := startMochi(t, nil)
		testWill(t, b.addr, b.url())
	})
	t.Run("mosquitto", func(t *testing.T) {
		m := brokertest.StartMosquitto(t)
		testWill(t, m.PlainURL()[len("tcp://"):], m.PlainURL())
	})
}

func testWill(t *testing.T, brokerAddr, brokerURL string) {
	const state = "chairside/chair-t/state"
	p := startProxy(t, brokerAddr)
	obs := observe(t, brokerURL, state)
	cfg := baseConfig(t, "tcp://"+p.addr())
	cfg.Will = &Message{Topic: state, Payload: []byte(`{"online":false,"why":"will"}`), QoS: 1, Retained: true}
	cfg.Offline = func() *Message {
		return &Message{Topic: state, Payload: []byte(`{"online":false,"why":"clean"}`), QoS: 1, Retained: true}
	}
	var connects atomic.Int32
	l := runLink(t, cfg, func(l *Link) {
		l.OnConnect(func() {
			connects.Add(1)
			l.Publish(state, 1, true, []byte(`{"online":true}`), nil)
		})
	})
	obs.expect(t, state, `{"online":true}`)

	// The chair's network dies: no DISCONNECT reaches the broker. (It stays
	// dead until the Will is seen: a reconnect within the same millisecond
	// would be a session takeover, which is another story.)
	p.setRefuse(true)
	p.cut()
	obs.expect(t, state, `{"online":false,"why":"will"}`)
	p.setRefuse(false)

	// The link comes back through the proxy by itself and says so.
	eventually(t, "reconnect through the proxy", func() bool { return connects.Load() == 2 })
	obs.expect(t, state, `{"online":true}`)

	if el := l.stop(t); el > 5*time.Second {
		t.Fatalf("Run took %v to return", el)
	}
	obs.expect(t, state, `{"online":false,"why":"clean"}`)
	select {
	case m := <-obs.msgs:
		t.Fatalf("after the clean stop the observer got %s %q (the Will must not fire)", m.Topic, m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
	// A station starting now sees the retained offline state.
	late := observe(t, brokerURL, state)
	if m := late.expect(t, state, `{"online":false,"why":"clean"}`); !m.Retained {
		t.Fatal("offline state not retained")
	}
}
