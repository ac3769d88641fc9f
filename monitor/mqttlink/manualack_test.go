package mqttlink

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// TestManualAckPersistentSession: with ManualAck a message the handler did
// not acknowledge is delivered again at the next connect of the same
// persistent session (the recorder acknowledges only after its commit); an
// acknowledged one is not; messages published while the client was away
// are queued by the broker and delivered. With a clean session (the chair's
// default) nothing is queued.
func TestManualAckPersistentSession(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	id := clientID("recorder")
	type got struct {
		sync.Mutex
		list []string
	}
	start := func(g *got, ack func(string) bool) *running {
		cfg := baseConfig(t, m.PlainURL())
		cfg.ClientID = id
		cfg.PersistentSession = true
		cfg.ManualAck = true
		cfg.MaxInboundPacket = 1 << 20
		r := runLink(t, cfg, func(l *Link) {
			if err := l.Subscribe("chairside/+/#", 1, func(msg Message) {
				if msg.Ack == nil {
					t.Error("ManualAck message without Ack")
					return
				}
				g.Lock()
				g.list = append(g.list, string(msg.Payload))
				g.Unlock()
				if ack(string(msg.Payload)) {
					msg.Ack()
				}
			}); err != nil {
				t.Fatal(err)
			}
		})
		eventually(t, "connected", r.Up)
		eventually(t, "subscribed", func() bool { return subscribed(r.Link) })
		return r
	}
	pub := observe(t, m.PlainURL(), "nothing/here")
	var first got
	r := start(&first, func(p string) bool { return p != "m2" })
	for i := 1; i <= 3; i++ {
		pub.publish(t, "chairside/c1/vitals/spo2", fmt.Sprintf("m%d", i))
	}
	eventually(t, "three delivered", func() bool { first.Lock(); defer first.Unlock(); return len(first.list) == 3 })
	r.stop(t)
	pub.publish(t, "chairside/c1/vitals/spo2", "m4") // while away: queued by the broker

	var second got
	start(&second, func(string) bool { return true })
	eventually(t, "redelivery", func() bool { second.Lock(); defer second.Unlock(); return len(second.list) >= 2 })
	time.Sleep(300 * time.Millisecond) // nothing more may come
	second.Lock()
	defer second.Unlock()
	if !slices.Equal(second.list, []string{"m2", "m4"}) {
		t.Fatalf("after reconnect got %v, want the unacknowledged m2 and the queued m4 only", second.list)
	}
}

// TestLargeInboundWithBound: MaxInboundPacket lets a records system take a
// record larger than the chair's 64 KiB bound whole.
func TestLargeInboundWithBound(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	cfg := baseConfig(t, m.PlainURL())
	cfg.MaxInboundPacket = 200 << 10
	ch := make(chan Message, 1)
	r := runLink(t, cfg, func(l *Link) {
		_ = l.Subscribe("big/#", 1, func(msg Message) { ch <- msg })
	})
	eventually(t, "connected", r.Up)
	eventually(t, "subscribed", func() bool { return subscribed(r.Link) })
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = 'a'
	}
	observe(t, m.PlainURL(), "x/y").publish(t, "big/one", string(big))
	select {
	case msg := <-ch:
		if len(msg.Payload) != len(big) {
			t.Fatalf("got %d bytes, want %d", len(msg.Payload), len(big))
		}
	case <-time.After(waitLong):
		t.Fatal("not delivered")
	}
}

// subscribed reports whether the broker accepted every subscription.
func subscribed(l *Link) bool {
	l.subs.mu.Lock()
	defer l.subs.mu.Unlock()
	for _, s := range l.subs.list {
		if s.made == 0 {
			return false
		}
	}
	return len(l.subs.list) > 0
}
