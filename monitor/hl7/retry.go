package hl7

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Outcome is what to do with a message after a send.
type Outcome int

const (
	// Retry: the receiver's decision is unknown (no ack, a bad ack, an ack
	// for another message): send it again, with the same control id, after
	// Policy's delay.
	Retry Outcome = iota
	// Delivered: the receiver answered AA (or CA).
	Delivered
	// Refused: the receiver answered AE or AR (or CE, CR). Sending the same
	// bytes again would get the same answer: keep the message and the
	// reason for a person to look at, and go on with the next one.
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Refused:
		return "refused"
	}
	return "retry"
}

// Classify gives the outcome of Client.Send's answer.
func Classify(ack Ack, err error) Outcome {
	switch {
	case err != nil:
		return Retry
	case ack.Accepted():
		return Delivered
	case ack.Errored(), ack.Rejected():
		return Refused
	}
	return Retry
}

// Policy is the back-off between attempts to send one message: First after
// the first failure, doubled after each further one, never more than Max.
// There is no give-up: nothing is dropped while a receiver is down.
type Policy struct {
	First time.Duration
	Max   time.Duration
}

// DefaultPolicy retries after 1 s, 2 s, 4 s ... up to once a minute.
var DefaultPolicy = Policy{First: time.Second, Max: time.Minute}

// Delay is the wait after failures consecutive failed attempts (0 for none).
func (p Policy) Delay(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	first, max := p.First, p.Max
	if first <= 0 {
		first = DefaultPolicy.First
	}
	if max < first {
		max = first
	}
	d := first
	for i := 1; i < failures; i++ {
		if d >= max/2 {
			return max
		}
		d *= 2
	}
	return min(d, max)
}

// Next is when to try again, given the time of the last failed attempt
// (from the caller's clock, so it is tested without sleeping) and how many
// attempts have failed in a row. The recorder keeps both with the message,
// so a restart continues the back-off instead of hammering the receiver.
func (p Policy) Next(lastAttempt time.Time, failures int) time.Time {
	return lastAttempt.Add(p.Delay(failures))
}

// Deliver sends msg until the receiver decides (Delivered or Refused) or
// ctx ends, waiting Policy's back-off between attempts with wait (a timer
// in production, a fake in tests). It gives the last answer, the number of
// attempts and, when ctx ended first, ctx's error joined with the last send
// error. For a receiver down for a minute it simply keeps trying: nothing
// is dropped.
func Deliver(ctx context.Context, send func(context.Context, Message) (Ack, error), msg Message, p Policy,
	wait func(context.Context, time.Duration) error) (Ack, int, error) {
	for attempts, failures := 1, 0; ; attempts++ {
		ack, err := send(ctx, msg)
		if o := Classify(ack, err); o != Retry {
			return ack, attempts, nil
		}
		failures++
		if werr := wait(ctx, p.Delay(failures)); werr != nil {
			return ack, attempts, fmt.Errorf("hl7: %s not delivered after %d attempts: %w", msg.ControlID, attempts, errors.Join(werr, err))
		}
	}
}

// Sleep waits d or until ctx ends: Deliver's wait in production.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
