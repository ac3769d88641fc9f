package sim

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c := NewClock(func() time.Time { return now }, 60)
	if c.Elapsed() != 0 {
		t.Fatal("not at 0")
	}
	now = now.Add(1500 * time.Millisecond)
	if got := c.Elapsed(); got != 90*time.Second {
		t.Errorf("Elapsed = %v, want 1m30s", got)
	}
	now = now.Add(-time.Hour) // a clock step back
	if got := c.Elapsed(); got != 0 {
		t.Errorf("Elapsed after a step back = %v", got)
	}
	c.Reset()
	now = now.Add(time.Second)
	if got := c.Elapsed(); got != time.Minute {
		t.Errorf("after Reset %v", got)
	}
	if d := NewClock(nil, 0); d.speed != 1 || d.Elapsed() < 0 {
		t.Errorf("defaults %+v", d)
	}
}
