package sim

import (
	"sync"
	"time"
)

// Clock turns a time source into elapsed scenario time, speed times faster
// than the source. The source is injected: vitalsim passes time.Now, a test a
// function it moves by hand, so nothing needs to sleep. Safe for concurrent
// use.
type Clock struct {
	now   func() time.Time
	speed float64

	mu    sync.Mutex
	start time.Time
}

// NewClock starts a scenario clock at the source's present moment; now nil
// means time.Now, speed <= 0 means 1.
func NewClock(now func() time.Time, speed float64) *Clock {
	if now == nil {
		now = time.Now
	}
	if speed <= 0 {
		speed = 1
	}
	return &Clock{now: now, speed: speed, start: now()}
}

// Elapsed is the scenario time since the clock started (or was Reset); never
// negative, even if the source goes back.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	start := c.start
	c.mu.Unlock()
	return max(time.Duration(float64(c.now().Sub(start))*c.speed), 0)
}

// Reset starts the scenario again from t = 0 now.
func (c *Clock) Reset() {
	c.mu.Lock()
	c.start = c.now()
	c.mu.Unlock()
}
