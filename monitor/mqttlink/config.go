package mqttlink

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Message is one MQTT application message: a Will, the offline state, or a
// message delivered to a Subscribe handler.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	QoS      byte
}

// Config says how to reach the broker and how to judge the link's health.
// Zero durations take the defaults named on each field.
type Config struct {
	// Broker is tcp://host:port or ssl://host:port (TLS).
	Broker   string
	ClientID string // chairside-<chair> or station-<name> (CONTRACT §1)
	Username string // optional
	// Password is read by the caller from its password_file. The link never
	// logs it (Config's LogValue leaves it out).
	Password string

	// TLS files, PEM. CAFile empty means the system's roots. CertFile and
	// KeyFile go together (client certificate).
	CAFile, CertFile, KeyFile string

	Keepalive time.Duration // default 10 s

	// Will is registered with the broker at every connect, which publishes it
	// when the connection dies without a DISCONNECT. For a chair it is the
	// state topic with "online": false, QoS 1, retained.
	Will *Message
	// Offline, when set, gives the message published (and awaited, briefly)
	// when Run's context ends, before the clean disconnect; it lets the
	// offline state carry the time of shutdown. Without it the Will is
	// published. A nil result publishes nothing.
	Offline func() *Message

	Logger *slog.Logger // nil discards

	// HeartbeatTopic is where the heartbeat goes (a chair's <root>/state).
	// The link subscribes to it and checks that its own heartbeats come back.
	// Empty turns the echo check off.
	HeartbeatTopic string
	// Heartbeat, when set, makes the link publish its result on
	// HeartbeatTopic (QoS 1, retained) at every connect and every
	// HeartbeatEvery. Without it the caller publishes the heartbeat itself
	// through Publish, at that period; the link notices it either way.
	// It runs on the link's goroutine and must return quickly.
	Heartbeat      func() []byte
	HeartbeatEvery time.Duration // default 10 s
	// EchoTimeout is how long a heartbeat may take to come back before the
	// link is down: default 2×HeartbeatEvery + HeartbeatEvery/2, so that one
	// lost heartbeat alone does not raise link_down.
	EchoTimeout time.Duration
	// LinkDownAfter is how long the broker may be unreachable before the link
	// is down (default 30 s, CONTRACT §3 link_down).
	LinkDownAfter time.Duration

	// PublishTimeout bounds the wait for a PUBACK (default 10 s); after it
	// done gets ErrTimeout.
	PublishTimeout time.Duration
	// MaxInFlight bounds the messages handed to the link and not yet
	// completed (default 1000, well under paho's 65535 message ids); beyond it
	// Publish fails at once with ErrBusy.
	MaxInFlight int
	// InboundBuffer is how many received messages may wait for their handler
	// (default 256); beyond it they are dropped and counted.
	InboundBuffer int
	// ConnectRetryInterval is the pause between attempts before the first
	// successful connect (default 2 s). MaxReconnectInterval caps paho's
	// exponential back-off after a connection was lost (default 10 s).
	ConnectRetryInterval time.Duration
	MaxReconnectInterval time.Duration
	// ConnectTimeout bounds one attempt: TCP, TLS and CONNACK (default 10 s).
	ConnectTimeout time.Duration

	Now func() time.Time // default time.Now; used for health timestamps

	// PersistentSession asks the broker to keep this client's session
	// (CleanSession false): while it is away, the broker queues the QoS 1
	// messages of its subscriptions and delivers them when it is back. A
	// subscriber that must not miss records (the station) sets it; the
	// chair does not (its outbox is the queue). Default false.
	PersistentSession bool
}

// Defaults.
const (
	DefaultKeepalive            = 10 * time.Second
	DefaultHeartbeatEvery       = 10 * time.Second
	DefaultLinkDownAfter        = 30 * time.Second
	DefaultPublishTimeout       = 10 * time.Second
	DefaultMaxInFlight          = 1000
	DefaultInboundBuffer        = 256
	DefaultConnectRetryInterval = 2 * time.Second
	DefaultMaxReconnectInterval = 10 * time.Second
	DefaultConnectTimeout       = 10 * time.Second

	// maxInFlightLimit keeps the link's own bound below paho's 16-bit message
	// ids, leaving room for subscribe packets and for copies paho still holds
	// for resending after a reconnect.
	maxInFlightLimit = 30000
)

// LogValue leaves the password out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("broker", c.Broker),
		slog.String("client_id", c.ClientID),
		slog.String("username", c.Username),
		slog.Bool("password_set", c.Password != ""),
		slog.String("ca_file", c.CAFile),
		slog.String("cert_file", c.CertFile),
		slog.String("heartbeat_topic", c.HeartbeatTopic),
	)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Keepalive, DefaultKeepalive)
	def(&c.HeartbeatEvery, DefaultHeartbeatEvery)
	def(&c.EchoTimeout, 2*c.HeartbeatEvery+c.HeartbeatEvery/2)
	def(&c.LinkDownAfter, DefaultLinkDownAfter)
	def(&c.PublishTimeout, DefaultPublishTimeout)
	def(&c.ConnectRetryInterval, DefaultConnectRetryInterval)
	def(&c.MaxReconnectInterval, DefaultMaxReconnectInterval)
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.InboundBuffer == 0 {
		c.InboundBuffer = DefaultInboundBuffer
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate reports every problem at once, naming the field.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	u, err := url.Parse(c.Broker)
	switch {
	case c.Broker == "":
		bad("broker is empty: give tcp://host:port or ssl://host:port")
	case err != nil:
		bad("broker %q: %v", c.Broker, err)
	case u.Scheme != "tcp" && u.Scheme != "ssl":
		bad("broker %q: scheme must be tcp:// or ssl://", c.Broker)
	default:
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			bad("broker %q: give host and port, as in %s://127.0.0.1:1883", c.Broker, u.Scheme)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") {
			bad("broker %q: give only scheme, host and port (credentials come from username and password_file)", c.Broker)
		}
		if u.Scheme == "tcp" && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "") {
			bad("broker %q is plain tcp:// but TLS files are set: use ssl://", c.Broker)
		}
	}
	if c.ClientID == "" {
		bad("client id is empty")
	} else if len(c.ClientID) > 128 {
		bad("client id is %d bytes, more than 128", len(c.ClientID))
	}
	if c.Password != "" && c.Username == "" {
		bad("a password is set without a username")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("cert_file and key_file go together: give both or neither")
	}
	if c.Will != nil {
		if err := checkTopic(c.Will.Topic); err != nil {
			bad("will: %v", err)
		}
		if c.Will.QoS > 1 {
			bad("will: QoS %d; use 0 or 1", c.Will.QoS)
		}
	}
	if c.HeartbeatTopic != "" {
		if err := checkTopic(c.HeartbeatTopic); err != nil {
			bad("heartbeat topic: %v", err)
		}
	} else if c.Heartbeat != nil {
		bad("Heartbeat is set but HeartbeatTopic is empty")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"keepalive", c.Keepalive}, {"heartbeat period", c.HeartbeatEvery},
		{"echo timeout", c.EchoTimeout}, {"link-down delay", c.LinkDownAfter},
		{"publish timeout", c.PublishTimeout}, {"connect retry interval", c.ConnectRetryInterval},
		{"max reconnect interval", c.MaxReconnectInterval}, {"connect timeout", c.ConnectTimeout},
	} {
		if d.v < 0 {
			bad("%s is negative (%v)", d.name, d.v)
		}
	}
	if c.Keepalive > 0 && c.Keepalive < time.Second {
		bad("keepalive %v: MQTT counts it in whole seconds; give at least 1s", c.Keepalive)
	}
	if c.HeartbeatTopic != "" && c.EchoTimeout > 0 && c.EchoTimeout <= c.HeartbeatEvery {
		bad("echo timeout %v must be longer than the heartbeat period %v", c.EchoTimeout, c.HeartbeatEvery)
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxInFlightLimit {
		bad("max in-flight %d: give 1 to %d", c.MaxInFlight, maxInFlightLimit)
	}
	if c.InboundBuffer < 0 {
		bad("inbound buffer %d is negative", c.InboundBuffer)
	}
	return errors.Join(errs...)
}

// checkTopic refuses topic names paho or the broker would refuse later, where
// the error would be harder to trace.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errors.New("topic is empty")
	case strings.ContainsAny(t, "+#"):
		return fmt.Errorf("topic %q contains a wildcard (+ or #)", t)
	case strings.ContainsRune(t, 0):
		return fmt.Errorf("topic %q contains a NUL", t)
	case len(t) > 65535:
		return errors.New("topic is longer than 65535 bytes")
	}
	return nil
}

// checkFilter refuses malformed subscription filters.
func checkFilter(f string) error {
	if f == "" {
		return errors.New("topic filter is empty")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: # must be a whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: + must be a whole level", f)
		}
	}
	return nil
}
