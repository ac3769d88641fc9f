package mqttlink

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// waitUp waits until the link's connection is open.
func waitUp(t *testing.T, l *Link) {
	t.Helper()
	eventually(t, "the link to connect", l.Up)
}

func TestPublishQoS1DoneOnlyAfterBrokerHasIt(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		b := startMochi(t, nil)
		obs := observe(t, b.url(), "chairside/#")
		l := runLink(t, baseConfig(t, b.url()))
		waitUp(t, l.Link)
		for i := range 20 {
			payload := []byte(fmt.Sprintf(`{"v":1,"seq":%d}`, i))
			d := newDone(t)
			// done runs on the link's goroutine: check the broker at that moment.
			var hadIt atomic.Bool
			l.Publish("chairside/chair-t/vitals/spo2", 1, false, payload, func(err error) {
				hadIt.Store(b.hook.has("chairside/chair-t/vitals/spo2", payload))
				d.fn(err)
			})
			if err := d.wait(t); err != nil {
				t.Fatalf("done(%v)", err)
			}
			if !hadIt.Load() {
				t.Fatalf("done(nil) before the broker had message %d", i)
			}
			obs.expect(t, "chairside/chair-t/vitals/spo2", string(payload))
		}
		if s := l.Stats(); s.Acked < 20 || s.Published < 20 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("mosquitto", func(t *testing.T) {
		m := brokertest.StartMosquitto(t)
		obs := observe(t, m.PlainURL(), "chairside/#")
		l := runLink(t, baseConfig(t, m.PlainURL()))
		waitUp(t, l.Link)
		d := newDone(t)
		l.Publish("chairside/chair-t/vitals/spo2", 1, false, []byte(`{"v":1}`), d.fn)
		if err := d.wait(t); err != nil {
			t.Fatalf("done(%v)", err)
		}
		obs.expect(t, "chairside/chair-t/vitals/spo2", `{"v":1}`)
	})
}

// A broker that never sends PUBACK must never produce done(nil): the outbox
// would delete records the broker does not have.
func TestPublishWithoutPubackTimesOut(t *testing.T) {
	b := startMochi(t, nil)
	cfg := baseConfig(t, b.url())
	cfg.PublishTimeout = 300 * time.Millisecond
	b.hook.setNoAck(cfg.ClientID, true)
	l := runLink(t, cfg)
	waitUp(t, l.Link)
	start := time.Now()
	d := newDone(t)
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("x"), d.fn)
	if err := d.wait(t); !errors.Is(err, ErrTimeout) {
		t.Fatalf("done(%v); want ErrTimeout", err)
	}
	if el := time.Since(start); el < cfg.PublishTimeout {
		t.Fatalf("timed out after %v, before PublishTimeout %v", el, cfg.PublishTimeout)
	}
}

func TestPublishInFlightBound(t *testing.T) {
	b := startMochi(t, nil)
	cfg := baseConfig(t, b.url())
	cfg.MaxInFlight = 4
	cfg.PublishTimeout = 500 * time.Millisecond
	b.hook.setNoAck(cfg.ClientID, true)
	l := runLink(t, cfg)
	waitUp(t, l.Link)

	var wg sync.WaitGroup
	var timeouts atomic.Int32
	for range cfg.MaxInFlight {
		wg.Add(1)
		l.Publish("chairside/chair-t/alarm", 1, false, []byte("x"), func(err error) {
			if errors.Is(err, ErrTimeout) {
				timeouts.Add(1)
			}
			wg.Done()
		})
	}
	d := newDone(t)
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("one too many"), d.fn)
	select {
	case err := <-d.ch:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("done(%v); want ErrBusy", err)
		}
	default:
		t.Fatal("a publish over the bound did not fail at once")
	}
	wg.Wait()
	if n := timeouts.Load(); n != int32(cfg.MaxInFlight) {
		t.Fatalf("%d of %d timed out", n, cfg.MaxInFlight)
	}
	// Room again once they completed.
	b.hook.setNoAck(cfg.ClientID, false)
	d = newDone(t)
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("after"), d.fn)
	if err := d.wait(t); err != nil {
		t.Fatalf("done(%v) after the bound freed", err)
	}
}

func TestPublishRefusedAtOnce(t *testing.T) {
	b := startMochi(t, nil)
	cfg := baseConfig(t, b.url())
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		topic string
		qos   byte
		want  string
	}{
		{"chairside/+/state", 1, "wildcard"},
		{"", 1, "empty"},
		{"chairside/a/alarm", 2, "QoS 2"},
		{"chairside/a/alarm", 1, ErrNotConnected.Error()}, // before Run
	}
	for _, tc := range cases {
		var got error
		called := 0
		l.Publish(tc.topic, tc.qos, false, nil, func(err error) { got = err; called++ })
		if called != 1 || got == nil || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("Publish(%q, %d): done called %d times with %v; want one call with %q", tc.topic, tc.qos, called, got, tc.want)
		}
	}
	l.Publish("chairside/a/pleth", 0, false, nil, nil) // nil done is fine
	if s := l.Stats(); s.DroppedOffline != 1 {
		t.Errorf("DroppedOffline = %d; want 1", s.DroppedOffline)
	}
}

// Messages in flight when the connection drops: paho resends them after the
// reconnect and completes their tokens without an error before the broker
// acknowledges the resent copy. done may report either outcome, but done(nil)
// must mean the broker has the message.
func TestPublishInFlightAcrossReconnect(t *testing.T) {
	b := startMochi(t, nil)
	cfg := baseConfig(t, b.url())
	cfg.PublishTimeout = 10 * time.Second
	b.hook.setNoAck(cfg.ClientID, true)
	l := runLink(t, cfg)
	waitUp(t, l.Link)

	const n = 5
	type result struct {
		i     int
		err   error
		hadIt bool
	}
	results := make(chan result, n)
	for i := range n {
		payload := []byte(fmt.Sprintf("in-flight-%d", i))
		l.Publish("chairside/chair-t/vitals/pulse", 1, false, payload, func(err error) {
			results <- result{i, err, b.hook.has("chairside/chair-t/vitals/pulse", payload)}
		})
	}
	eventually(t, "messages handed to paho", func() bool { return l.Stats().Published >= n })
	b.stop()
	eventually(t, "the link to notice", func() bool { return !l.Up() })
	b.hook.setNoAck(cfg.ClientID, false)
	b.start()
	for range n {
		select {
		case r := <-results:
			switch {
			case r.err == nil && !r.hadIt:
				t.Errorf("message %d: done(nil) but the broker does not have it", r.i)
			default:
				t.Logf("message %d: done(%v)", r.i, r.err)
			}
		case <-time.After(waitLong):
			t.Fatal("done not called for a message in flight across the reconnect")
		}
	}
}

func TestPublishQoS0(t *testing.T) {
	b := startMochi(t, nil)
	obs := observe(t, b.url(), "chairside/#")
	l := runLink(t, baseConfig(t, b.url()))
	waitUp(t, l.Link)
	d := newDone(t)
	l.Publish("chairside/chair-t/pleth", 0, false, []byte(`{"hz":75}`), d.fn)
	if err := d.wait(t); err != nil {
		t.Fatalf("done(%v)", err)
	}
	obs.expect(t, "chairside/chair-t/pleth", `{"hz":75}`)
}
