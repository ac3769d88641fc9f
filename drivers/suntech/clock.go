package suntech

import (
	"sync"
	"time"
)

// Clock is the timeline of a measurement cycle: the driver measures
// Opts.CycleLimit by it and the module model runs its cycles by it. Line
// timing (polls, the gap between commands, answer timeouts) stays in real
// time, because the wire does not speed up. The clock must move forward with
// real time, as the driver looks at it between reads; a test skips it ahead
// (ScaledClock.Skip) and reaches the 180 s limit in milliseconds.
type Clock interface {
	Now() time.Time
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ScaledClock runs Speed times faster than real time from the moment it is
// made, for a simulator that plays a scenario's timeline fast while frames
// keep their real rate. Skip moves it ahead at once. Safe for concurrent use.
type ScaledClock struct {
	mu    sync.Mutex
	speed float64
	start time.Time
	skip  time.Duration
}

// NewScaledClock returns a clock running speed times real time (speed <= 0
// means 1).
func NewScaledClock(speed float64) *ScaledClock {
	if speed <= 0 {
		speed = 1
	}
	return &ScaledClock{speed: speed, start: time.Now()}
}

// Now returns the scaled time.
func (c *ScaledClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := time.Since(c.start)
	return c.start.Add(time.Duration(float64(el)*c.speed) + c.skip)
}

// Skip moves the clock ahead by d.
func (c *ScaledClock) Skip(d time.Duration) {
	c.mu.Lock()
	c.skip += d
	c.mu.Unlock()
}
