package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func connect(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	return c
}

func TestPublishSubscribeAndRestartOnSamePort(t *testing.T) {
	b, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub := connect(t, b.URL(), "sub")
	got := make(chan string, 1)
	if tok := sub.Subscribe("a/b", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	pub := connect(t, b.URL(), "pub")
	if tok := pub.Publish("a/b", 1, false, "hello"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	select {
	case m := <-got:
		if m != "hello" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	addr := b.Addr()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("port still accepting after Close")
	}
	deadline := time.Now().Add(5 * time.Second)
	for pub.IsConnectionOpen() || sub.IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatal("clients still connected after Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b2, err := Start(Options{Address: addr, RetryFor: 5 * time.Second})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer b2.Close()
	connect(t, b2.URL(), "again").Disconnect(0)
}

// TestCloseWhileClientsComeAndGo closes the broker under the traffic of
// mochi-mqtt/server#488: clients connecting and disconnecting meanwhile.
// The hang needs a client to come or go inside a window of a few
// instructions, which no test can force; this one checks that Close
// finishes promptly under that traffic, every round.
func TestCloseWhileClientsComeAndGo(t *testing.T) {
	for round := range 30 {
		b, err := Start(Options{})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).
						SetClientID(fmt.Sprintf("c-%d-%d-%d", round, w, i)).SetAutoReconnect(false).SetConnectTimeout(time.Second))
					if tok := c.Connect(); tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
						c.Disconnect(0)
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		err = b.Close()
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("round %d: Close took %v", round, el)
		}
	}
}

func TestStartRefusesABusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Start(Options{Address: ln.Addr().String()}); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}

// mochi's listener logs a client connection that ends as a warning with an
// empty message; the ordinary end (closed at shutdown, EOF) becomes a
// debug line with a message, any other keeps its level and gains one.
func TestNamedHandlerNamesMochisEmptyLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(namedHandler{slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	log.Warn("", "error", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed})
	if buf.Len() != 0 {
		t.Fatalf("an ordinary close was logged at info level: %s", buf.String())
	}
	log.Warn("", "error", errors.New("read: connection reset by peer"))
	if !strings.Contains(buf.String(), `"level":"WARN","msg":"embedded broker: client connection ended"`) {
		t.Fatalf("got %s", buf.String())
	}
	buf.Reset()
	log.Info("ordinary line")
	if !strings.Contains(buf.String(), `"msg":"ordinary line"`) {
		t.Fatalf("got %s", buf.String())
	}
}
