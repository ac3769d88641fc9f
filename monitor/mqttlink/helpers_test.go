package mqttlink

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Test timings: short, but with room for a loaded 2-core machine.
const (
	waitLong = 15 * time.Second // upper bound for anything expected to happen
	hbEvery  = 100 * time.Millisecond
)

var clientSeq atomic.Int64

// clientID makes ids unique across tests sharing a broker.
func clientID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, clientSeq.Add(1))
}

// logBuffer collects a link's log and prints it only when the test fails,
// so passing runs stay quiet.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("link log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// baseConfig is a fast-moving configuration for tests.
func baseConfig(t *testing.T, broker string) Config {
	logger, _ := testLogger(t)
	return Config{
		Broker:               broker,
		ClientID:             clientID("chair"),
		Keepalive:            10 * time.Second, // paho pings within 1.25×; brokers allow 1.5×
		Logger:               logger,
		HeartbeatEvery:       hbEvery,
		LinkDownAfter:        time.Second,
		PublishTimeout:       3 * time.Second,
		ConnectRetryInterval: 100 * time.Millisecond,
		MaxReconnectInterval: 200 * time.Millisecond,
		ConnectTimeout:       2 * time.Second,
	}
}

// running is a Link whose Run goroutine the test controls.
type running struct {
	*Link
	cancel context.CancelFunc
	ran    chan error
}

// runLink makes and runs a Link; cleanup stops it and checks Run returned.
func runLink(t *testing.T, cfg Config, setup ...func(*Link)) *running {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range setup {
		f(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Link: l, cancel: cancel, ran: make(chan error, 1)}
	go func() { r.ran <- l.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it (at most 5 s: CONTRACT §1).
func (r *running) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err, ok := <-r.ran:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.ran)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Run did not return within 5 s of cancel")
	}
	return time.Since(start)
}

// eventually polls cond until it holds or waitLong passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// doneRecorder is a done callback that fails the test if called twice and
// lets the test wait for the result.
type doneRecorder struct {
	t     *testing.T
	calls atomic.Int32
	ch    chan error
}

func newDone(t *testing.T) *doneRecorder {
	return &doneRecorder{t: t, ch: make(chan error, 1)}
}

func (d *doneRecorder) fn(err error) {
	if d.calls.Add(1) > 1 {
		d.t.Errorf("done called more than once (again with %v)", err)
		return
	}
	d.ch <- err
}

func (d *doneRecorder) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-d.ch:
		return err
	case <-time.After(waitLong):
		t.Fatal("done was not called")
		return nil
	}
}

// observer is a plain paho client standing for the station: it sees what
// the broker delivers, independently of the code under test.
type observer struct {
	c    paho.Client
	msgs chan Message
}

func observe(t *testing.T, broker, filter string) *observer {
	t.Helper()
	o := &observer{msgs: make(chan Message, 1000)}
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID("observer")).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	o.c = paho.NewClient(opts)
	if tok := o.c.Connect(); !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("observer connect %s: %v", broker, tok.Error())
	}
	tok := o.c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		o.msgs <- Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained(), QoS: m.Qos()}
	})
	if !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { o.c.Disconnect(0) })
	return o
}

// publish sends from the observer (as the station would send a cmd).
func (o *observer) publish(t *testing.T, topic, payload string) {
	t.Helper()
	tok := o.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("observer publish: %v", tok.Error())
	}
}

// expect waits for a message with this payload on topic, skipping others.
func (o *observer) expect(t *testing.T, topic, payload string) Message {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case m := <-o.msgs:
			if m.Topic == topic && string(m.Payload) == payload {
				return m
			}
		case <-deadline:
			t.Fatalf("observer did not see %q on %s", payload, topic)
			return Message{}
		}
	}
}

// waitHealth waits for a health report with Down == down.
func waitHealth(t *testing.T, l *Link, down bool, within time.Duration) LinkDown {
	t.Helper()
	deadline := time.After(within)
	for {
		if s := l.Status(); s.Down == down {
			return s
		}
		select {
		case <-l.Health():
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("link did not become down=%v within %v; status %+v", down, within, l.Status())
		}
	}
}
