package mqttlink

import (
	"sync/atomic"
	"time"
)

// Stats are the link's counters since New, for logs, metrics and tests.
type Stats struct {
	Attempts       uint64 // connection attempts
	Connects       uint64 // successful connects
	Published      uint64 // messages handed to paho
	Acked          uint64 // done(nil): PUBACK (QoS 1) or written (QoS 0)
	Failed         uint64 // done(error), including refusals while down
	DroppedOffline uint64 // QoS 0 messages dropped because the link was down
	InboundDropped uint64 // received messages dropped because handlers were behind
	InboundRefused uint64 // received messages handed to a full handler (SubscribeOrRefuse) instead
	InboundCut     uint64 // received messages over the inbound bound, cut to their head (boundedConn)
	Echoes         uint64 // own heartbeats received back
	Unrouted       uint64 // received messages matching no subscription (ManualAck: acknowledged and dropped)
}

type counters struct {
	attempts, connects, published, acked, failed atomic.Uint64
	droppedOffline, inboundDropped, echoes       atomic.Uint64
	inboundRefused, inboundCut, unrouted         atomic.Uint64

	// Run's goroutine only: rate limit of the inbound-drop warning.
	inboundDroppedLogged uint64
	dropLoggedAt         time.Time
	inboundCutLogged     uint64
}

// Stats returns the counters.
func (l *Link) Stats() Stats {
	c := &l.stats
	return Stats{
		Attempts: c.attempts.Load(), Connects: c.connects.Load(),
		Published: c.published.Load(), Acked: c.acked.Load(), Failed: c.failed.Load(),
		DroppedOffline: c.droppedOffline.Load(), InboundDropped: c.inboundDropped.Load(),
		InboundRefused: c.inboundRefused.Load(), InboundCut: c.inboundCut.Load(),
		Echoes: c.echoes.Load(), Unrouted: c.unrouted.Load(),
	}
}
