package station

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// ErrNoReply is returned when the chair does not answer in time.
var ErrNoReply = errors.New("no reply from the chair")

// ErrInvalid marks a command the chair would refuse as malformed; it is
// not sent.
var ErrInvalid = errors.New("invalid command")

// Commander sends signed-in users' commands to chairs and matches each
// chair's reply (topic cmd/reply) to the request waiting for it.
type Commander struct {
	prefix  string
	publish func(ctx context.Context, topic string, payload []byte) error
	now     func() time.Time

	mu      sync.Mutex
	waiting map[string]chan wire.Reply // "<chair>/<id>"
}

// NewCommander makes a commander; publish sends one QoS 1, not retained
// message and returns once the broker has it (or not).
func NewCommander(prefix string, publish func(ctx context.Context, topic string, payload []byte) error, now func() time.Time) *Commander {
	return &Commander{prefix: prefix, publish: publish, now: now, waiting: map[string]chan wire.Reply{}}
}

// NewID makes a request id: "st-" and 16 random hex digits.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "st-" + hex.EncodeToString(b[:])
}

// Send fills in v, id and t, checks the command as the chair would, sends
// it to the chair's cmd topic and waits up to timeout for its reply. A
// command the chair would refuse as malformed is an error before anything
// is sent; ErrNoReply when the chair is silent.
func (c *Commander) Send(ctx context.Context, chair string, cmd wire.Command, timeout time.Duration) (wire.Command, wire.Reply, error) {
	cmd.V, cmd.ID, cmd.T = wire.Version, NewID(), wire.At(c.now())
	payload, err := json.Marshal(cmd)
	if err != nil {
		return cmd, wire.Reply{}, err
	}
	if _, err := wire.ParseCommand(payload); err != nil {
		return cmd, wire.Reply{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	key := chair + "/" + cmd.ID
	ch := make(chan wire.Reply, 1)
	c.mu.Lock()
	c.waiting[key] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, key)
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.publish(ctx, wire.Topic(c.prefix, chair, wire.TopicCmd), payload); err != nil {
		return cmd, wire.Reply{}, fmt.Errorf("sending to %s: %w", chair, err)
	}
	select {
	case r := <-ch:
		return cmd, r, nil
	case <-ctx.Done():
		return cmd, wire.Reply{}, ErrNoReply
	}
}

// Deliver hands a reply received on <chair>/cmd/reply to its request; a
// reply nobody waits for (late, or another station's) is dropped.
func (c *Commander) Deliver(chair string, r wire.Reply) bool {
	c.mu.Lock()
	ch, ok := c.waiting[chair+"/"+r.ID]
	c.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case ch <- r:
	default: // a second reply (redelivery): the first one counts
	}
	return true
}
