package mqttlink

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Link is one client connection to the broker. Make it with New, register
// subscriptions and OnConnect callbacks, then Run it once.
type Link struct {
	cfg    Config
	log    *slog.Logger
	client paho.Client
	store  *ackStore

	// Publish path: Publish → queue → sendLoop (calls paho) → inflight →
	// ackLoop (waits for tokens, calls done). closed, under mu, stops new
	// messages before the queue is drained at shutdown.
	mu          sync.RWMutex
	closed      bool
	outstanding atomic.Int64 // accepted by Publish, done not yet called
	queue       chan *pending
	inflight    chan *pending
	pool        sync.Pool
	abort       chan struct{} // closed when shutdown gives up waiting for PUBACKs
	stopSend    chan struct{}
	sendDone    chan struct{}
	ackDone     chan struct{}
	stopInbox   chan struct{}
	inboxDone   chan struct{}

	// Inbound path: paho router → route (non-blocking) → inbox → deliverLoop.
	inbox chan inbound
	subs  subscriptions

	// Events from paho callbacks to Run's goroutine; capacity 1, sent without
	// blocking: they are wake-ups, the state is read by Run.
	connected chan struct{}
	subscribe chan struct{}
	notify    chan struct{}

	connMu      sync.Mutex
	lastErr     error // last connection failure, explained
	lastErrSeen bool  // lastErr has been logged

	onConnectMu sync.Mutex
	onConnect   []func()

	echo   echo
	health health
	stats  counters

	started atomic.Bool
}

// inbound is a received message on its way to one handler.
type inbound struct {
	handler func(Message)
	msg     Message
}

// New checks cfg, builds the TLS settings and the paho client; it does not
// connect (Run does).
func New(cfg Config) (*Link, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("mqttlink: %w", err)
	}
	l := &Link{
		cfg:       cfg,
		log:       cfg.Logger.With("broker", cfg.Broker, "client_id", cfg.ClientID),
		store:     newAckStore(),
		queue:     make(chan *pending, cfg.MaxInFlight),
		inflight:  make(chan *pending, cfg.MaxInFlight),
		abort:     make(chan struct{}),
		stopSend:  make(chan struct{}),
		sendDone:  make(chan struct{}),
		ackDone:   make(chan struct{}),
		stopInbox: make(chan struct{}),
		inboxDone: make(chan struct{}),
		inbox:     make(chan inbound, cfg.InboundBuffer),
		connected: make(chan struct{}, 1),
		subscribe: make(chan struct{}, 1),
		notify:    make(chan struct{}, 1),
	}
	l.pool.New = func() any { return new(pending) }
	l.echo.init()
	l.health.init()

	opts := paho.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetProtocolVersion(4).                   // no silent second attempt at MQTT 3.1
		SetCleanSession(!cfg.PersistentSession). // the chair: the outbox, not the broker session, carries the backlog
		SetStore(l.store).
		SetKeepAlive(cfg.Keepalive).
		SetPingTimeout(cfg.Keepalive).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetDialer(&net.Dialer{Timeout: cfg.ConnectTimeout}).
		SetWriteTimeout(cfg.PublishTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(cfg.ConnectRetryInterval).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetResumeSubs(false). // re-made by the link on every connect
		SetOrderMatters(true).
		SetOnConnectHandler(func(paho.Client) { wake(l.connected) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			l.setConnErr(fmt.Errorf("connection to broker %s lost: %w", cfg.Broker, err))
		}).
		SetConnectionNotificationHandler(l.onNotification).
		SetCustomOpenConnectionFn(openBounded(maxInboundPacket, &l.stats.inboundCut)) // paho has no bound of its own
	if cfg.Will != nil {
		opts.SetBinaryWill(cfg.Will.Topic, cfg.Will.Payload, cfg.Will.QoS, cfg.Will.Retained)
	}
	if strings.HasPrefix(cfg.Broker, "ssl://") {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("mqttlink: %w", err)
		}
		opts.SetTLSConfig(tc)
	}
	l.client = paho.NewClient(opts)
	if cfg.HeartbeatTopic != "" {
		l.subs.add(cfg.HeartbeatTopic, 0, nil)
	}
	return l, nil
}

// wake sends a wake-up without blocking; one pending wake-up is enough.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// onNotification runs inside paho's connect loop: record, never block.
func (l *Link) onNotification(_ paho.Client, n paho.ConnectionNotification) {
	switch n := n.(type) {
	case paho.ConnectionNotificationConnecting:
		l.stats.attempts.Add(1)
	case paho.ConnectionNotificationFailed:
		l.setConnErr(explainConnect(l.cfg, n.Reason))
	}
}

func (l *Link) setConnErr(err error) {
	l.connMu.Lock()
	if l.lastErr == nil || err.Error() != l.lastErr.Error() {
		l.lastErrSeen = false
	}
	l.lastErr = err
	l.connMu.Unlock()
	wake(l.notify)
}

// LastError is the last reason the link could not connect or lost its
// connection, explained (for example "TLS: the broker's certificate is not
// signed by the CA in ca_file ..."); nil before any failure.
func (l *Link) LastError() error {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	return l.lastErr
}

// Up reports whether the connection to the broker is open now. (paho's
// IsConnected stays true while it is reconnecting.)
func (l *Link) Up() bool { return l.client.IsConnectionOpen() }

// OnConnect registers f to be called after every (re)connect, once the
// subscriptions are made again: the place to republish retained live state
// and restart the backlog. f runs on Run's goroutine, one callback after the
// other; it may call Publish and Subscribe but should return promptly (health
// checks and shutdown wait for it).
func (l *Link) OnConnect(f func()) {
	l.onConnectMu.Lock()
	l.onConnect = append(l.onConnect, f)
	l.onConnectMu.Unlock()
}
