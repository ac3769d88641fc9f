package monitor

import (
	"context"
	"fmt"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// Clock is the time source of a Loop: the real clock in the daemon, a fake
// one in tests so a 40-minute session runs in milliseconds.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ExternalCondition is an input for Engine.External: a condition the daemon
// detects (LinkDown, StoreFault, AnnunciatorFault, ClockUnsynced).
type ExternalCondition struct {
	Condition string
	Present   bool
	Message   string
}

// TickEvery is how often a Loop ticks the engine: fine enough for the 1 Hz
// vitals and for condition delays to end within 100 ms of their time.
const TickEvery = 100 * time.Millisecond

// RunLoop owns e in one goroutine until ctx ends: it feeds each input from in
// to the engine (vitals.Reading, vitals.Status, vitals.Result, Command,
// ExternalCondition), ticks it every TickEvery, and hands every batch of
// events to out, in order. out runs in the loop's goroutine and must not
// block for long: alarms wait for it. afterStep, if not nil, runs after each
// step (the daemon saves snapshots and feeds the watchdog there).
func RunLoop(ctx context.Context, e *Engine, clock Clock, in <-chan any, out func([]Event), afterStep func(*Engine)) error {
	tick := clock.After(TickEvery)
	for {
		var evs []Event
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			evs = e.Tick(clock.Now())
			tick = clock.After(TickEvery)
		case v, ok := <-in:
			if !ok {
				return nil
			}
			var err error
			if evs, err = e.Input(clock.Now(), v); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			out(evs)
		}
		if afterStep != nil {
			afterStep(e)
		}
	}
}

// Input dispatches one input value to the matching method.
func (e *Engine) Input(now time.Time, v any) ([]Event, error) {
	switch x := v.(type) {
	case vitals.Reading:
		return e.Reading(now, x), nil
	case vitals.Status:
		return e.Status(now, x), nil
	case vitals.Result:
		return e.Result(now, x), nil
	case Command:
		return e.Command(now, x), nil
	case ExternalCondition:
		return e.External(now, x.Condition, x.Present, x.Message), nil
	}
	return nil, fmt.Errorf("monitor: input of type %T is not an engine input", v)
}
