// Package forward is the recorder's HL7 v2 forwarding and its session
// exports, from the archive: it builds the messages of stored records with
// monitor/hl7 (an NIBP's when it is stored, a minute's once the minute is
// complete), and sends the archive's outbox over MLLP in order, one
// message at a time, until the receiver decides.
//
// Exactly once, as far as a sender can: a message is queued in the
// database with the records (or, for a minute, in one transaction that
// marks the minute queued), so a crash neither loses nor doubles it; it is
// marked sent only after the receiver's AA. A recorder killed after the
// receiver took a message and before the mark sends it again at restart,
// with the same control id (MSH-10): the receiver drops the copy by it.
package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/wire"
)

// Options configure a Forwarder. Zero durations take the defaults.
type Options struct {
	HL7 hl7.Config
	// Holder names this recorder in the outbox's claims (its name): a
	// claim of its own left by a crash is taken again at once.
	Holder string
	// Send delivers one message and reads its ack (hl7.Client.Send).
	Send func(context.Context, hl7.Message) (hl7.Ack, error)
	// Policy is the back-off between attempts (hl7.DefaultPolicy).
	Policy hl7.Policy
	// Lease is how long a claim keeps other recorders off a message being
	// sent: longer than a send can take (default 1 min).
	Lease time.Duration
	// Quiet forwards a minute that no record has joined for this long
	// even when it cannot be proven complete (default 2 min).
	Quiet time.Duration
	// Poll is the pause between passes (default 1 s).
	Poll time.Duration
	Now  func() time.Time
	Log  *slog.Logger
}

// Default durations.
const (
	DefaultLease = time.Minute
	DefaultQuiet = 2 * time.Minute
	DefaultPoll  = time.Second
)

// Stats count since start.
type Stats struct {
	Sent, Refused, Failed, Retries, MinutesQueued, MinutesQuiet uint64
}

// Forwarder queues minutes and sends the outbox.
type Forwarder struct {
	db    *archive.DB
	o     Options
	stats struct{ sent, refused, failed, retries, minutes, quiet atomic.Uint64 }
}

// New makes a forwarder on db. Set db.Forward = Hook(o.HL7) as well, so
// that Write queues NIBP messages and counts minutes.
func New(db *archive.DB, o Options) (*Forwarder, error) {
	if err := o.HL7.Check(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if o.Holder == "" || o.Send == nil {
		return nil, errors.New("forward: a holder name and a send function are needed")
	}
	if o.Policy == (hl7.Policy{}) {
		o.Policy = hl7.DefaultPolicy
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Quiet <= 0 {
		o.Quiet = DefaultQuiet
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{db: db, o: o}, nil
}

// Stats returns the counters.
func (f *Forwarder) Stats() Stats {
	s := &f.stats
	return Stats{Sent: s.sent.Load(), Refused: s.refused.Load(), Failed: s.failed.Load(), Retries: s.retries.Load(),
		MinutesQueued: s.minutes.Load(), MinutesQuiet: s.quiet.Load()}
}

// Run makes a pass every Poll until ctx ends. A database or receiver that
// fails is logged and tried again; nothing is dropped.
func (f *Forwarder) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := f.Step(ctx); err != nil && ctx.Err() == nil {
			f.o.Log.Error("hl7 forwarding: database", "err", err)
		}
		t.Reset(f.o.Poll)
	}
}

// Step is one pass: queue the minutes that are complete, then send the
// outbox in order until it is empty, the oldest message waits for its
// back-off, another recorder holds it, or ctx ends.
func (f *Forwarder) Step(ctx context.Context) error {
	if err := f.queueMinutes(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		now := f.o.Now()
		m, err := f.db.Claim(ctx, f.o.Holder, now, now.Add(f.o.Lease))
		if err != nil || m == nil {
			return err
		}
		ack, serr := f.o.Send(ctx, hl7.Stored(m.ControlID, m.Message))
		if ctx.Err() != nil {
			// Stopping: the claim stays; this recorder takes the message
			// again at its next start, another one after the lease.
			return nil
		}
		done := f.o.Now()
		switch hl7.Classify(ack, serr) {
		case hl7.Delivered:
			if err := f.done(ctx, m, archive.OutboxSent, ack, done); err != nil {
				return err
			}
			f.stats.sent.Add(1)
			f.o.Log.Debug("hl7 sent", "control_id", m.ControlID, "ack", ack.Code)
		case hl7.Refused:
			if err := f.done(ctx, m, archive.OutboxRefused, ack, done); err != nil {
				return err
			}
			f.stats.refused.Add(1)
			f.o.Log.Warn("hl7 message refused by the receiver; kept with the reason, not sent again",
				"control_id", m.ControlID, "chair", m.Chair, "ack", ack.Code, "reason", ack.Reason)
		default:
			if serr == nil {
				serr = fmt.Errorf("hl7: ack %q for %s is no decision", ack.Code, m.ControlID)
			}
			next := f.o.Policy.Next(done, m.Attempts+1)
			ok, err := f.db.Retry(ctx, m.ID, f.o.Holder, serr.Error(), done, next)
			if err != nil {
				return err
			}
			if !ok {
				f.o.Log.Warn("hl7: the claim on a message expired while sending it; another recorder has it", "control_id", m.ControlID)
			}
			f.stats.retries.Add(1)
			f.o.Log.Warn("hl7 message not acknowledged; sending it again later with the same control id",
				"control_id", m.ControlID, "attempts", m.Attempts+1, "err", serr, "next_attempt", next.UTC().Format(time.RFC3339))
			return nil // in order: nothing else goes before it
		}
	}
	return nil
}

func (f *Forwarder) done(ctx context.Context, m *archive.OutboxMessage, status string, ack hl7.Ack, at time.Time) error {
	// The receiver has decided: record it even while stopping, so the
	// message is not sent again at the next start.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ok, err := f.db.Done(dctx, m.ID, f.o.Holder, status, ack.Code, ack.Reason, at)
	if err != nil {
		return err
	}
	if !ok {
		f.o.Log.Warn("hl7: the claim on a message expired while sending it; another recorder may send it again (same control id)",
			"control_id", m.ControlID)
	}
	return nil
}

// minutesPerPass bounds the minutes one pass queues (one transaction), so
// a pass after a long backlog still gets to sending soon.
const minutesPerPass = 200

func (f *Forwarder) queueMinutes(ctx context.Context) error {
	now := f.o.Now()
	due, err := f.db.DueMinutes(ctx, now, f.o.Quiet, minutesPerPass)
	if err != nil || len(due) == 0 {
		return err
	}
	why := make(map[string]string, len(due))
	for _, m := range due {
		why[hl7.MinuteControlID(m.Chair, m.Session, m.Start)] = m.Why
	}
	queued, err := f.db.QueueMinutes(ctx, due, now, func(m archive.Minute, recs []archive.StoredRecord, session []byte) archive.Outgoing {
		return BuildMinute(f.o.HL7, m.Chair, m.Session, m.Start, recs, session)
	})
	if err != nil {
		return err
	}
	for _, out := range queued {
		f.stats.minutes.Add(1)
		if out.Err != nil {
			f.stats.failed.Add(1)
			f.o.Log.Error("hl7: a minute's message could not be built; kept as failed", "control_id", out.ControlID, "err", out.Err)
		}
		if why[out.ControlID] == "quiet" {
			f.stats.quiet.Add(1)
			f.o.Log.Info("hl7: minute forwarded after no record joined it for a while; records of it that come later are archived, not sent",
				"control_id", out.ControlID, "quiet", f.o.Quiet.String())
		}
	}
	return nil
}

// Hook is the archive's side: Write builds each new NIBP record's message
// with it, in the transaction that stores the record.
func Hook(cfg hl7.Config) *archive.Forwarding {
	return &archive.Forwarding{NIBP: func(r archive.Record, session []byte) archive.Outgoing {
		return BuildNIBP(cfg, r, session)
	}}
}

// BuildNIBP builds an NIBP record's message.
func BuildNIBP(cfg hl7.Config, r archive.Record, session []byte) archive.Outgoing {
	out := archive.Outgoing{ControlID: hl7.NIBPControlID(r.Chair, r.Stream, uint64(r.Seq))}
	var n wire.NIBP
	if err := json.Unmarshal(r.Payload, &n); err != nil {
		out.Err = fmt.Errorf("nibp %s/%s/%d: %w", r.Chair, r.Stream, r.Seq, err)
		return out
	}
	msg, err := hl7.NIBPMessage(cfg, r.Chair, encounter(session), n)
	if err != nil {
		out.Err = err
		return out
	}
	out.ControlID, out.Message, out.Due = msg.ControlID, msg.Bytes(), n.T.UTC()
	return out
}

// BuildMinute builds a minute's message from its records.
func BuildMinute(cfg hl7.Config, chair, session string, start time.Time, recs []archive.StoredRecord, sessionPayload []byte) archive.Outgoing {
	out := archive.Outgoing{ControlID: hl7.MinuteControlID(chair, session, start), Due: start.UTC().Add(time.Minute)}
	vitals, _, err := decode(recs)
	if err != nil {
		out.Err = err
		return out
	}
	minutes, err := hl7.Minutes(vitals)
	if err != nil || len(minutes) != 1 || minutes[0].Session != session || !minutes[0].Start.Equal(start.UTC()) {
		out.Err = fmt.Errorf("minute %s: %d minutes from %d records: %v", out.ControlID, len(minutes), len(recs), err)
		return out
	}
	msg, err := hl7.MinuteMessage(cfg, chair, encounter(sessionPayload), minutes[0])
	if err != nil {
		out.Err = err
		return out
	}
	out.Message = msg.Bytes()
	return out
}

// encounter reads a session record's encounter ("" when none).
func encounter(session []byte) string {
	if session == nil {
		return ""
	}
	var s wire.Session
	if json.Unmarshal(session, &s) != nil {
		return ""
	}
	return s.Encounter
}

// decode reads stored SpO2, pulse and NIBP records into their wire types.
func decode(recs []archive.StoredRecord) ([]wire.Vital, []wire.NIBP, error) {
	var vitals []wire.Vital
	var nibps []wire.NIBP
	var errs []error
	for _, r := range recs {
		switch r.Kind {
		case archive.KindSpO2, archive.KindPulse:
			var v wire.Vital
			if err := json.Unmarshal(r.Payload, &v); err != nil {
				errs = append(errs, fmt.Errorf("record %s/%s/%d: %w", r.Chair, r.Stream, r.Seq, err))
				continue
			}
			vitals = append(vitals, v)
		case archive.KindNIBP:
			var n wire.NIBP
			if err := json.Unmarshal(r.Payload, &n); err != nil {
				errs = append(errs, fmt.Errorf("record %s/%s/%d: %w", r.Chair, r.Stream, r.Seq, err))
				continue
			}
			nibps = append(nibps, n)
		}
	}
	return vitals, nibps, errors.Join(errs...)
}
