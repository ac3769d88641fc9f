package recorder

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/mqttlink"
)

// Writer stores a batch in one transaction (archive.DB).
type Writer interface {
	Write(ctx context.Context, b archive.Batch, now time.Time) (archive.Result, error)
}

// Options tune the ingest. Zero values take the defaults.
type Options struct {
	Prefix     string // topic_prefix
	MaxPayload int    // default DefaultMaxPayload
	// BatchMax bounds the messages of one transaction (default 2000). A
	// batch is whatever has arrived while the last one was written (group
	// commit): no timer holds a message back.
	BatchMax int
	// Queue is how many messages may wait for the writer (default 4096);
	// beyond it Handle waits, and with it the MQTT link and the broker.
	Queue int
	// CommitTimeout bounds one transaction (default 30 s). RetryMin and
	// RetryMax bound the pause before a failed batch is tried again
	// (defaults 200 ms and 10 s, doubling).
	CommitTimeout, RetryMin, RetryMax time.Duration
	// StopGrace is how long a write under way may still take once Run's
	// context has ended (default 1.5 s, inside the 5 s a SIGTERM allows).
	StopGrace time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

// Stats are the ingest's counters since start.
type Stats struct {
	Received, Inserted, Duplicates, Conflicts, States, Rejected, Ignored uint64
	Batches, WriteErrors                                                 uint64
}

// Ingest turns messages into batches. Handle is called by the MQTT link for
// each message, in arrival order; Run writes and acknowledges.
type Ingest struct {
	w     Writer
	o     Options
	in    chan mqttlink.Message
	done  chan struct{}
	stats struct {
		received, inserted, duplicates, conflicts, states, rejected, ignored, batches, writeErrors atomic.Uint64
	}
	// writing is when the archive write under way began (Unix ns), 0
	// between writes: what Healthy judges.
	writing atomic.Int64
}

// New makes an ingest writing to w.
func New(w Writer, o Options) *Ingest {
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 2000
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 30 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 200 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 1500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Ingest{w: w, o: o, in: make(chan mqttlink.Message, o.Queue), done: make(chan struct{})}
}

// Handle queues a message for the writer. It waits while the queue is
// full (the broker then holds the rest) and returns at once after Run has
// ended; a message not written is never acknowledged, so the broker
// delivers it again.
func (g *Ingest) Handle(m mqttlink.Message) {
	select {
	case g.in <- m:
	case <-g.done:
	}
}

// Healthy reports whether the ingest is turning: waiting for messages, or
// in an archive write begun less than twice CommitTimeout ago. A write is
// bounded by CommitTimeout, so one that outlives it hangs in a driver that
// ignores its context: then Healthy is false and the service watchdog
// (systemd) restarts the recorder, whose unacknowledged messages the broker
// keeps. A database that refuses writes is not a hang: the ingest retries,
// stays healthy, and says so in its log and counters.
func (g *Ingest) Healthy(now time.Time) bool {
	began := g.writing.Load()
	return began == 0 || now.Sub(time.Unix(0, began)) < 2*g.o.CommitTimeout
}

// Stats returns the counters.
func (g *Ingest) Stats() Stats {
	s := &g.stats
	return Stats{Received: s.received.Load(), Inserted: s.inserted.Load(), Duplicates: s.duplicates.Load(),
		Conflicts: s.conflicts.Load(), States: s.states.Load(), Rejected: s.rejected.Load(), Ignored: s.ignored.Load(),
		Batches: s.batches.Load(), WriteErrors: s.writeErrors.Load()}
}

// Run writes batches until ctx ends. The batch being written when ctx ends
// is finished (within CommitTimeout) and acknowledged; messages still
// queued are left unacknowledged for the broker to deliver again.
func (g *Ingest) Run(ctx context.Context) error {
	defer close(g.done)
	batch := make([]mqttlink.Message, 0, g.o.BatchMax)
	for {
		batch = batch[:0]
		select {
		case m := <-g.in:
			batch = append(batch, m)
		case <-ctx.Done():
			return nil
		}
	drain:
		for len(batch) < g.o.BatchMax {
			select {
			case m := <-g.in:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if !g.commit(ctx, batch) {
			return nil
		}
	}
}

// commit writes one batch, retrying until it is stored or ctx ends, then
// acknowledges its messages in arrival order. It reports false when ctx
// ended before the batch was stored.
func (g *Ingest) commit(ctx context.Context, msgs []mqttlink.Message) bool {
	var b archive.Batch
	logged := 0
	for _, m := range msgs {
		it := Parse(g.o.Prefix, m.Topic, m.Payload, g.o.MaxPayload)
		switch {
		case it.Record != nil:
			b.Records = append(b.Records, *it.Record)
		case it.State != nil:
			b.States = append(b.States, *it.State)
		case it.Reject != nil:
			b.Rejects = append(b.Rejects, *it.Reject)
			if logged < maxRejectLogs {
				g.o.Log.Warn("message rejected, kept aside", "topic", it.Reject.Topic, "reason", it.Reject.Reason, "bytes", it.Reject.Size)
			}
			logged++
		case it.Ignored:
			b.Ignored++
		}
	}
	if logged > maxRejectLogs {
		g.o.Log.Warn("more messages rejected in this batch", "not_logged", logged-maxRejectLogs)
	}
	pause := g.o.RetryMin
	for {
		// A batch under way when ctx ends is still finished: its
		// messages are then acknowledged, not delivered again.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.o.CommitTimeout)
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(g.o.StopGrace, cancel) })
		g.writing.Store(time.Now().UnixNano())
		res, err := g.w.Write(wctx, b, g.o.Now())
		g.writing.Store(0)
		stop()
		cancel()
		if err == nil {
			for _, m := range msgs {
				if m.Ack != nil {
					m.Ack()
				}
			}
			s := &g.stats
			s.received.Add(uint64(len(msgs)))
			s.inserted.Add(uint64(res.Inserted))
			s.duplicates.Add(uint64(res.Duplicates))
			s.conflicts.Add(uint64(res.Conflicts))
			s.states.Add(uint64(res.States))
			s.rejected.Add(uint64(res.Rejected))
			s.ignored.Add(uint64(b.Ignored))
			s.batches.Add(1)
			if res.Conflicts > 0 {
				g.o.Log.Warn("conflicting records kept aside: a different payload under a stored (chair, stream, seq)", "conflicts", res.Conflicts)
			}
			return true
		}
		g.stats.writeErrors.Add(1)
		g.o.Log.Error("archive write failed; the batch is kept unacknowledged and tried again", "err", err, "messages", len(msgs), "retry_in", pause.String())
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		pause = min(2*pause, g.o.RetryMax)
	}
}

// maxRejectLogs bounds the log lines per batch in a flood of bad messages.
const maxRejectLogs = 10
