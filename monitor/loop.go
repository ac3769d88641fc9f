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

// TickEvery is the shortest time between two ticks of a Loop. Ticks come
// when the engine has something due (Engine.NextDeadline), so a condition
// delay ends within TickEvery of its time; and at least every MaxTickEvery.
const TickEvery = 100 * time.Millisecond

// MaxTickEvery is the longest a Loop goes without ticking the engine, even
// with nothing due: the daemon's afterStep (watchdog, snapshots) runs at
// least this often. Ticking every TickEvery instead cost the daemon about a
// fifth of its CPU at full data rate, waking it ten times a second.
const MaxTickEvery = time.Second

// RunLoop owns e in one goroutine until ctx ends: it feeds each input from in
// to the engine (vitals.Reading, vitals.Status, vitals.Result, Command,
// ExternalCondition), ticks it when something is due (Engine.NextDeadline,
// between TickEvery and MaxTickEvery after the last tick), and hands every
// batch of events to out, in order. out runs in the loop's goroutine and must
// not block for long: alarms wait for it. afterStep, if not nil, runs after
// each step (the daemon saves snapshots and feeds the watchdog there).
func RunLoop(ctx context.Context, e *Engine, clock Clock, in <-chan any, out func([]Event), afterStep func(*Engine)) error {
	last := clock.Now()
	armed := last.Add(TickEvery) // when the pending tick fires
	tick := clock.After(TickEvery)
	for {
		var evs []Event
		ticked := false
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			last = clock.Now()
			evs = e.Tick(last)
			ticked = true
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
		// The next tick: when due, but not within TickEvery of the last
		// one, nor later than MaxTickEvery after it. An input may bring it
		// forward (a value crossing a limit with a delay); otherwise the
		// pending one stays.
		next := e.NextDeadline()
		if next.IsZero() { // nothing due
			next = last.Add(MaxTickEvery)
		}
		if lo := last.Add(TickEvery); next.Before(lo) {
			next = lo
		}
		if hi := last.Add(MaxTickEvery); next.After(hi) {
			next = hi
		}
		if ticked || next.Before(armed) {
			armed = next
			tick = clock.After(max(next.Sub(clock.Now()), 0))
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
