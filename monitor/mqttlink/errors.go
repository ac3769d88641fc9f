package mqttlink

import (
	"errors"
	"fmt"
	"syscall"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Errors given to a Publish done callback. Any of them means the broker may
// not have the message: keep it and publish it again later (the subscriber
// drops duplicates by seq).
var (
	// ErrNotConnected: the link was down when the message was offered. QoS 0
	// messages are dropped (CONTRACT §4 pleth); QoS 1 ones wait in the
	// caller's outbox for the next OnConnect.
	ErrNotConnected = errors.New("mqttlink: not connected to the broker")
	// ErrBusy: MaxInFlight messages are already waiting for the broker.
	ErrBusy = errors.New("mqttlink: too many messages in flight")
	// ErrTimeout: no PUBACK within PublishTimeout.
	ErrTimeout = errors.New("mqttlink: no PUBACK from the broker in time")
	// ErrResent: the connection was lost before the PUBACK; paho resends its
	// copy after the reconnect, so the broker may receive it twice.
	ErrResent = errors.New("mqttlink: connection lost before the PUBACK")
	// ErrClosed: the link is shutting down or was never run.
	ErrClosed = errors.New("mqttlink: link closed")
)

// explainConnect turns a failed connection attempt into an error that names
// the probable cause and what to check, keeping the original for errors.Is.
func explainConnect(c Config, err error) error {
	if err == nil {
		return nil
	}
	if e := explainTLS(c, err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return fmt.Errorf("broker %s refused the login of user %q (check username and password_file): %w", c.Broker, c.Username, err)
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return fmt.Errorf("broker %s rejected client id %q: %w", c.Broker, c.ClientID, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("broker %s refused the TCP connection (not running, or wrong port): %w", c.Broker, err)
	case errors.Is(err, paho.ErrNotConnected):
		return fmt.Errorf("broker %s: %w", c.Broker, err)
	}
	return fmt.Errorf("connecting to broker %s: %w", c.Broker, err)
}
