package delivery

// Backlog is what delivery holds in memory on its way out, for `chairside
// status`; the store's own backlog (records not yet acknowledged by the
// broker) is in store.Stats.
type Backlog struct {
	Writing  int // records and entries waiting for the disk goroutine
	Live     int // committed records waiting for the publisher
	Awaiting int // published, acknowledged by the broker, awaiting the link's proof of delivery
	Memory   int // records in no store whose publish failed, kept for the next connect
}

// Backlog counts what waits now; it may be called from any goroutine and
// never waits for the writer or the publisher.
func (d *Delivery) Backlog() Backlog {
	b := Backlog{Writing: len(d.writes), Live: len(d.pub.live), Awaiting: int(d.pub.awaiting.Load())}
	d.pub.mu.Lock()
	b.Memory = len(d.pub.retry)
	d.pub.mu.Unlock()
	return b
}
