package monitor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// fakeClock fires After channels when the test advances it. A loop waits
// only on the channel of its latest After: an earlier one it replaced
// (RunLoop brings a tick forward after an input) is dropped unfired.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters[:0], waiter{c.now.Add(d), ch}) // only the latest is listened to
	return ch
}

// waitArmed waits until the loop has asked for a tick.
func (c *fakeClock) waitArmed(t *testing.T) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the loop did not ask for a tick")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// advance moves time on by d, firing due timers one tick at a time and
// waiting for the loop to take each.
func (c *fakeClock) advance(t *testing.T, d time.Duration) {
	end := c.Now().Add(d)
	for {
		c.mu.Lock()
		var next *waiter
		for i := range c.waiters {
			if next == nil || c.waiters[i].at.Before(next.at) {
				next = &c.waiters[i]
			}
		}
		if next == nil || next.at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		w := *next
		c.waiters = removeWaiter(c.waiters, w.ch)
		c.now = w.at
		c.mu.Unlock()
		w.ch <- w.at
		c.waitArmed(t) // the loop took the tick and asked for the next
	}
}

func removeWaiter(ws []waiter, ch chan time.Time) []waiter {
	out := ws[:0]
	for _, w := range ws {
		if w.ch != ch {
			out = append(out, w)
		}
	}
	return out
}

// The loop feeds inputs and ticks to the engine from its own goroutine; a
// fake clock runs a minute of session in far less.
func TestRunLoop(t *testing.T) {
	cfg := rigConfig(shippedProtocol(t))
	cfg.Protocol.AutoStartAfter = 0
	e, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: t0}
	in := make(chan any, 16)
	var mu sync.Mutex
	var evs []Event
	steps := 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunLoop(ctx, e, clock, in, func(b []Event) {
			mu.Lock()
			evs = append(evs, b...)
			mu.Unlock()
		}, func(*Engine) { steps++ })
	}()
	clock.waitArmed(t)
	in <- Command{Command: wire.Command{V: 1, ID: "c1", T: wire.At(t0), Action: wire.ActionSessionStart, By: "nurse"}}
	for i := 0; i < 60; i++ {
		in <- vitals.Reading{Sensor: oxi, Param: vitals.SpO2, Value: 86}
		clock.advance(t, time.Second)
	}
	in <- "not an input"
	if err := <-done; err == nil {
		t.Fatal("the loop accepted a string as input")
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	var vitalsN int
	var alarm bool
	for _, ev := range evs {
		switch v := ev.(type) {
		case wire.Vital:
			vitalsN++
		case wire.Alarm:
			alarm = alarm || (v.Condition == "spo2_low" && v.Priority == "high")
		}
	}
	if vitalsN < 118 || !alarm {
		t.Fatalf("vitals %d (want about 120), spo2_low high alarm %v", vitalsN, alarm)
	}
	// One step per input (61) and per tick: the engine has something due
	// every second (the vitals), not every TickEvery.
	if steps < 121 || steps > 200 {
		t.Fatalf("afterStep ran %d times; want one per input and one per tick, about one tick a second", steps)
	}
}

// The loop ticks when the engine has something due, not on a fixed grid: a
// condition delay ends within TickEvery of its time, and an idle engine is
// ticked once every MaxTickEvery.
func TestRunLoopTicksAtDeadlines(t *testing.T) {
	cfg := rigConfig(shippedProtocol(t))
	cfg.Protocol.AutoStartAfter = 0
	e, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: t0}
	in := make(chan any)
	var mu sync.Mutex
	var evs []Event
	steps := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = RunLoop(ctx, e, clock, in, func(b []Event) {
			mu.Lock()
			evs = append(evs, b...)
			mu.Unlock()
		}, func(*Engine) { mu.Lock(); steps++; mu.Unlock() })
	}()
	clock.waitArmed(t)
	clock.advance(t, 10*time.Second) // idle
	mu.Lock()
	idleSteps := steps
	mu.Unlock()
	if idleSteps < 9 || idleSteps > 12 {
		t.Errorf("idle for 10 s: %d ticks, want about one a second", idleSteps)
	}
	// send hands the loop an input and waits until it has taken it (and
	// armed its next tick).
	send := func(v any) {
		mu.Lock()
		n := steps
		mu.Unlock()
		in <- v
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Microsecond) {
			mu.Lock()
			done := steps > n
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the loop did not take an input")
			}
		}
	}
	send(Command{Command: wire.Command{V: 1, ID: "c1", T: wire.At(clock.Now()), Action: wire.ActionSessionStart, By: "nurse"}})
	var first time.Time
	for i := 0; i < 20; i++ {
		// Every 0.7 s: the delay ends between two readings and off the
		// vitals' second, so only a tick at its deadline ends it on time.
		clock.advance(t, 700*time.Millisecond)
		if i == 3 {
			first = clock.Now()
		}
		v := int16(97)
		if i >= 3 {
			v = 86 // below the high limit (88, delay 5 s)
		}
		send(vitals.Reading{Sensor: oxi, Param: vitals.SpO2, Value: v})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range evs {
		if a, ok := ev.(wire.Alarm); ok && a.Condition == "spo2_low" && a.Priority == "high" && a.Phase == wire.PhaseStart {
			late := a.T.Time.Sub(first) - 5*time.Second
			if late < 0 || late > TickEvery {
				t.Errorf("spo2_low high started %v after its 5 s delay ended; want within %v", late, TickEvery)
			}
			return
		}
	}
	t.Fatal("no spo2_low high alarm")
}
