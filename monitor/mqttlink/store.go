package mqttlink

import (
	"strconv"
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ackStore is paho's ordered memory store plus a record of which outbound
// QoS 1 publishes are still unacknowledged.
//
// Why: after a reconnect paho resends the publishes in its store and, doing
// so, completes the original token WITHOUT an error (messageIds.claimID),
// before the broker has acknowledged the resent copy. A token alone therefore
// cannot tell "PUBACK received" from "resent". paho deletes the stored copy
// ("o.<id>") when the PUBACK arrives, before it completes the token, on the
// same goroutine; so a completed token whose id is still held here was not
// acknowledged. The ordered store keeps resends in publish order (the default
// map store resends in random order).
//
// Put also stores a copy of each publish packet, not the packet paho is about
// to write: on a reconnect paho's resume sets Dup on the stored packets, and
// a publish made between the new connection's CONNACK and resume's look at
// the store would otherwise be written by the network goroutine while resume
// modifies it (a data race the race detector finds in paho v1.5.1). With the
// copy that message may go out twice, which at-least-once delivery allows.
type ackStore struct {
	paho.Store

	mu   sync.Mutex
	held map[uint16]struct{}
}

func newAckStore() *ackStore {
	return &ackStore{Store: paho.NewOrderedMemoryStore(), held: make(map[uint16]struct{})}
}

// outboundID parses paho's outbound key "o.<id>".
func outboundID(key string) (uint16, bool) {
	rest, ok := strings.CutPrefix(key, "o.")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(rest, 10, 16)
	return uint16(id), err == nil
}

// Put records an outbound publish as unacknowledged and stores a copy.
func (s *ackStore) Put(key string, m packets.ControlPacket) {
	if p, ok := m.(*packets.PublishPacket); ok && p.Qos > 0 {
		if id, ok := outboundID(key); ok {
			s.mu.Lock()
			s.held[id] = struct{}{}
			s.mu.Unlock()
		}
		cp := *p // the payload is shared: nobody modifies it
		m = &cp
	}
	s.Store.Put(key, m)
}

// Del is how paho reports a PUBACK (and SUBACK, which is harmless here).
func (s *ackStore) Del(key string) {
	if id, ok := outboundID(key); ok {
		s.mu.Lock()
		delete(s.held, id)
		s.mu.Unlock()
	}
	s.Store.Del(key)
}

// Reset is deliberately not mirrored: a message dropped by a reset was not
// acknowledged, so its id stays held and its token can only fail.

// unacked reports whether the publish with this id still waits for its PUBACK.
func (s *ackStore) unacked(id uint16) bool {
	s.mu.Lock()
	_, ok := s.held[id]
	s.mu.Unlock()
	return ok
}
