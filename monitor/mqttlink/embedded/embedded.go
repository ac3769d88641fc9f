// Package embedded runs an MQTT broker inside the process (mochi-mqtt), for
// `make demo` and for tests on a machine without mosquitto (CONTRACT §1). A
// clinic runs a real broker; this one is plain MQTT on a local address.
//
// It works around mochi v2.7.9's shutdown deadlock (mochi-mqtt/server#488):
// Server.Close walks each listener's clients with Clients.GetByListener,
// which takes the clients' read lock twice; a client connecting or going
// away in between (a writer queued on the lock) hangs the broker for good.
// Our listener closes its socket first, so no client can arrive, and then
// disconnects its clients from one copy of the client map, never calling
// GetByListener.
package embedded

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Options configure a Broker.
type Options struct {
	// Address to listen on; "127.0.0.1:0" picks a free port.
	Address string
	// TLS, when set, makes the listener TLS (ssl://).
	TLS *tls.Config
	// Hooks replace the default allow-all authentication (tests use them to
	// refuse users, drop publishes or withhold PUBACKs).
	Hooks []mochi.Hook
	// Logger gets the broker's own log; nil discards it.
	Logger *slog.Logger
	// RetryFor: how long Start keeps trying a port that is still held (a
	// restart on the port of a broker just stopped).
	RetryFor time.Duration
}

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	addr string
	tls  bool
	once sync.Once
}

// Start starts a broker and returns once it accepts connections.
func Start(o Options) (*Broker, error) {
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(namedHandler{log.Handler()})})
	hooks := o.Hooks
	if len(hooks) == 0 {
		hooks = []mochi.Hook{new(auth.AllowHook)}
	}
	for _, h := range hooks {
		if err := srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("embedded broker: hook %s: %w", h.ID(), err)
		}
	}
	l := &listener{TCP: listeners.NewTCP(listeners.Config{ID: "embedded", Address: o.Address, TLSConfig: o.TLS}), srv: srv}
	deadline := time.Now().Add(o.RetryFor)
	for {
		err := srv.AddListener(l)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("embedded broker: listen on %s: %w", o.Address, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	return &Broker{srv: srv, addr: l.Address(), tls: o.TLS != nil}, nil
}

// Addr is the listening address (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the address as a chairside broker setting (tcp:// or ssl://).
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.addr
	}
	return "tcp://" + b.addr
}

// Server is the mochi server, for tests that inspect or publish inline.
func (b *Broker) Server() *mochi.Server { return b.srv }

// closeTimeout bounds Close: a broker that cannot stop is an error, never a
// hang of the demo or of a test.
const closeTimeout = 5 * time.Second

// Close stops the broker: the port is free and every client disconnected
// when it returns. It is safe to call more than once.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() {
		done := make(chan struct{})
		go func() { _ = b.srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(closeTimeout):
			err = fmt.Errorf("embedded broker %s: close did not finish within %v", b.addr, closeTimeout)
		}
	})
	return err
}

// listener is mochi's TCP listener with a Close that does not deadlock.
type listener struct {
	*listeners.TCP
	srv *mochi.Server
}

// Close closes the socket, then disconnects this listener's clients; twice,
// for a client whose CONNECT was being read when the socket closed (it joins
// the client map just after the first walk).
func (l *listener) Close(listeners.CloseFn) {
	l.TCP.Close(func(string) {}) // socket only: mochi's own client walk is the deadlock
	for range 2 {
		for _, cl := range l.srv.Clients.GetAll() {
			if cl.Net.Listener == l.ID() && !cl.Closed() {
				err := l.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
				if err != nil && !errors.Is(err, packets.ErrServerShuttingDown) {
					l.srv.Log.Debug("embedded broker: disconnect", "client", cl.ID, "err", err)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// namedHandler gives mochi's message-less log lines a message. Its TCP
// listener logs every connection that ends with an error as a warning with an
// empty message ({"msg":"","error":"... use of closed network connection"}),
// the ordinary end of every client at shutdown: those become a debug line
// saying what they are; any other such line keeps its level, with a message.
type namedHandler struct{ slog.Handler }

func (h namedHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "" {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, "embedded broker: client connection ended", r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			if err, ok := a.Value.Any().(error); ok && (errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)) {
				out.Level = slog.LevelDebug
			}
		}
		out.AddAttrs(a)
		return true
	})
	if !h.Handler.Enabled(ctx, out.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, out)
}

func (h namedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return namedHandler{h.Handler.WithAttrs(as)}
}

func (h namedHandler) WithGroup(name string) slog.Handler {
	return namedHandler{h.Handler.WithGroup(name)}
}
