package mqttlink

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/chairside/chairside/monitor/mqttlink/embedded"
)

// mochiBroker is the embedded broker on 127.0.0.1, restartable on the same
// port so a client's reconnect finds it again.
type mochiBroker struct {
	t    testing.TB
	addr string
	tls  *tls.Config
	hook *brokerHook

	mu  sync.Mutex
	srv *embedded.Broker
}

// startMochi starts the embedded broker; tlsCfg nil means plain TCP.
func startMochi(t testing.TB, tlsCfg *tls.Config) *mochiBroker {
	t.Helper()
	b := &mochiBroker{t: t, addr: "127.0.0.1:0", tls: tlsCfg, hook: newBrokerHook()}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *mochiBroker) start() {
	b.t.Helper()
	// The old listener's port may take a moment to free.
	srv, err := embedded.Start(embedded.Options{Address: b.addr, TLS: b.tls, Hooks: []mochi.Hook{b.hook}, RetryFor: 2500 * time.Millisecond})
	if err != nil {
		b.t.Fatal(err)
	}
	b.addr = srv.Addr()
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
}

func (b *mochiBroker) stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		if err := srv.Close(); err != nil {
			b.t.Error(err)
		}
	}
}

func (b *mochiBroker) url() string {
	if b.tls != nil {
		return "ssl://" + b.addr
	}
	return "tcp://" + b.addr
}

// brokerHook lets tests control the embedded broker: users and passwords,
// and clients whose publishes are silently dropped (acknowledged, not
// delivered: what a mosquitto ACL does) or never acknowledged. It also
// records what the broker received, so a test can check that done(nil) comes
// only after the broker has the message.
type brokerHook struct {
	mochi.HookBase

	mu       sync.Mutex
	users    map[string]string // nil: anyone
	drop     map[string]bool   // client id → PUBACK but do not deliver
	noAck    map[string]bool   // client id → neither PUBACK nor deliver
	denySub  map[string]string // client id → filter it may not subscribe to
	received map[string][][]byte
	handled  map[string]int // publishes per topic, the dropped ones included
}

func newBrokerHook() *brokerHook {
	return &brokerHook{drop: map[string]bool{}, noAck: map[string]bool{}, denySub: map[string]string{}, received: map[string][][]byte{}, handled: map[string]int{}}
}

func (h *brokerHook) ID() string { return "test" }

func (h *brokerHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish}, []byte{b})
}

func (h *brokerHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users == nil {
		return true
	}
	pw, ok := h.users[string(pk.Connect.Username)]
	return ok && pw == string(pk.Connect.Password)
}

func (h *brokerHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return write || h.denySub[cl.ID] != topic
}

func (h *brokerHook) setDenySub(clientID, filter string) {
	h.mu.Lock()
	h.denySub[clientID] = filter
	h.mu.Unlock()
}

func (h *brokerHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handled[pk.TopicName]++
	switch {
	case h.noAck[cl.ID]:
		return pk, packets.ErrRejectPacket
	case h.drop[cl.ID]:
		return pk, packets.CodeSuccessIgnore
	}
	h.received[pk.TopicName] = append(h.received[pk.TopicName], append([]byte(nil), pk.Payload...))
	return pk, nil
}

func (h *brokerHook) setUsers(u map[string]string) {
	h.mu.Lock()
	h.users = u
	h.mu.Unlock()
}

func (h *brokerHook) setDrop(clientID string, on bool) {
	h.mu.Lock()
	h.drop[clientID] = on
	h.mu.Unlock()
}

func (h *brokerHook) setNoAck(clientID string, on bool) {
	h.mu.Lock()
	h.noAck[clientID] = on
	h.mu.Unlock()
}

// handledOn is how many publishes on topic the broker has handled, dropped or
// not.
func (h *brokerHook) handledOn(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handled[topic]
}

// has reports whether the broker received payload on topic.
func (h *brokerHook) has(topic string, payload []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.received[topic] {
		if bytes.Equal(p, payload) {
			return true
		}
	}
	return false
}

// proxy is a TCP relay between a client and a broker; cut closes every
// relayed connection without an MQTT DISCONNECT, which is how a chair that
// loses power or network looks to the broker.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  []net.Conn
	refuse bool // accept and close at once, as an unreachable network would
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			_ = c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go relay(c, u)
		go relay(u, c)
	}
}

func relay(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (p *proxy) setRefuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}
