package delivery

import (
	"errors"
	"testing"
)

// Backlog counts what delivery holds: records the broker acknowledged and
// whose delivery is not yet proven, then, when the proof fails with no
// store to fall back on, the records kept in memory for the next connect.
func TestBacklogCountsWhatWaits(t *testing.T) {
	d, link, _ := startDelivery(t, nil, 0)
	if b := d.Backlog(); b != (Backlog{}) {
		t.Fatalf("an idle delivery's backlog is %+v", b)
	}
	evs, topics := oneOfEach()
	d.Handle(evs)
	eventually(t, "every record awaiting its proof", func() bool { return d.Backlog().Awaiting == len(topics) })
	link.mu.Lock()
	confirms := link.confirms
	link.confirms = nil
	link.mu.Unlock()
	for _, done := range confirms {
		done(errors.New("the heartbeat never came back"))
	}
	b := d.Backlog()
	if b.Awaiting != 0 || b.Memory != len(topics) {
		t.Fatalf("after %d failed proofs: %+v, want 0 awaiting and %d in memory", len(confirms), b, len(topics))
	}
}
