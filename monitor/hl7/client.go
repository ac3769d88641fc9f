package hl7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Client sends messages to one MLLP receiver and waits for each one's
// acknowledgement. It keeps one connection open between messages and opens
// a new one after any error, so a receiver that lost track of the stream
// never answers the next message with the last one's ack. Safe for
// concurrent use; messages go one at a time.
type Client struct {
	addr        string
	dialTimeout time.Duration
	ackTimeout  time.Duration

	mu   sync.Mutex
	conn net.Conn
	fr   *FrameReader
}

// Default timeouts: a receiver on the clinic's network connects in well
// under a second and acknowledges in a few.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultAckTimeout  = 30 * time.Second
)

// ClientOptions set the timeouts; zero values take the defaults.
type ClientOptions struct {
	DialTimeout time.Duration // to connect
	AckTimeout  time.Duration // from the first byte written to the whole ack read
}

// ParseTarget reads the [hl7] target, "tcp://host:port", into host:port.
func ParseTarget(target string) (string, error) {
	rest, ok := strings.CutPrefix(target, "tcp://")
	if !ok {
		return "", fmt.Errorf("hl7 target %q must be tcp://host:port", target)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("hl7 target %q must be tcp://host:port", target)
	}
	return rest, nil
}

// NewClient makes a client for target ("tcp://host:port"); it connects at
// the first Send.
func NewClient(target string, o ClientOptions) (*Client, error) {
	addr, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	return &Client{addr: addr, dialTimeout: o.DialTimeout, ackTimeout: o.AckTimeout}, nil
}

// ErrControlIDMismatch is returned when the ack names another message.
var ErrControlIDMismatch = errors.New("hl7: ack names another message")

// Send writes msg in one frame and reads its acknowledgement. The error is
// non-nil when no usable ack came (cannot connect, timeout, the stream
// closed, garbage, an ack for another control id): then whether the
// receiver took the message is unknown, and it must be sent again with the
// same control id. With a nil error the Ack says what the receiver decided
// (Accepted, Errored, Rejected). ctx ends the wait early.
func (c *Client) Send(ctx context.Context, msg Message) (Ack, error) {
	if msg.ControlID == "" {
		return Ack{}, errors.New("hl7: message has no control id")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	reused := c.conn != nil
	ack, err := c.send(ctx, msg)
	if err != nil {
		c.closeLocked()
		// A kept connection the receiver closed while idle fails at
		// once (reset, broken pipe, or closed before any answer): send
		// again on a new one now rather than after a back-off. The
		// receiver may have the message already; the same control id
		// lets it drop the copy.
		if reused && stale(err) && ctx.Err() == nil {
			ack, err = c.send(ctx, msg)
			if err != nil {
				c.closeLocked()
			}
		}
	}
	return ack, err
}

// stale reports an error of a connection the peer had closed.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *Client) send(ctx context.Context, msg Message) (Ack, error) {
	if err := ctx.Err(); err != nil {
		return Ack{}, err
	}
	if c.conn == nil {
		d := net.Dialer{Timeout: c.dialTimeout}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return Ack{}, fmt.Errorf("hl7: connect %s: %w", c.addr, err)
		}
		c.conn, c.fr = conn, NewFrameReader(conn, MaxFrame)
	}
	conn := c.conn
	if err := conn.SetDeadline(time.Now().Add(c.ackTimeout)); err != nil {
		return Ack{}, fmt.Errorf("hl7: %w", err)
	}
	// A cancelled context stops the read at once: a deadline in the past.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	wrap := func(what string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("hl7: %s %s: %w", what, c.addr, ctx.Err())
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("hl7: %s %s: no answer within %s: %w", what, c.addr, c.ackTimeout, err)
		}
		return fmt.Errorf("hl7: %s %s: %w", what, c.addr, err)
	}
	if err := WriteFrame(conn, msg.Bytes()); err != nil {
		return Ack{}, wrap("send to", err)
	}
	frame, err := c.fr.ReadFrame()
	if err != nil {
		return Ack{}, wrap("read ack from", err)
	}
	ack, err := ParseAck(frame)
	if err != nil {
		return Ack{}, fmt.Errorf("hl7: ack from %s for %s: %w", c.addr, msg.ControlID, err)
	}
	if ack.ControlID != msg.ControlID {
		return ack, fmt.Errorf("%w: sent %q, ack for %q (%s)", ErrControlIDMismatch, msg.ControlID, clean(ack.ControlID, 200), ack.Code)
	}
	return ack, nil
}

// Close closes the connection, if one is open.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeLocked()
}

func (c *Client) closeLocked() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.fr = nil, nil
	return err
}
