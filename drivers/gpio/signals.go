package gpio

import (
	"time"

	"github.com/chairside/chairside/monitor/protocol"
)

// Pulse timing of the buzzer.
const (
	pulseOn    = 150 * time.Millisecond
	pulseOff   = 100 * time.Millisecond
	groupPause = 350 * time.Millisecond
	reminderOn = 200 * time.Millisecond
)

// burst is one priority's sound: groups of pulses, repeated every period.
type burst struct {
	groups []int
	period time.Duration
}

var bursts = map[protocol.Priority]burst{
	protocol.High:   {groups: []int{5, 5}, period: 10 * time.Second},
	protocol.Medium: {groups: []int{3}, period: 25 * time.Second},
	protocol.Low:    {groups: []int{1}, period: 30 * time.Second},
}

// Buzzer reports whether the buzzer sounds at elapsed time since the tone of
// priority p began.
func Buzzer(p protocol.Priority, elapsed time.Duration) bool {
	b, ok := bursts[p]
	if !ok || elapsed < 0 {
		return false
	}
	t := elapsed % b.period
	for gi, n := range b.groups {
		for i := 0; i < n; i++ {
			if t < pulseOn {
				return true
			}
			t -= pulseOn
			if i < n-1 {
				if t < pulseOff {
					return false
				}
				t -= pulseOff
			}
		}
		if gi < len(b.groups)-1 {
			if t < groupPause {
				return false
			}
			t -= groupPause
		}
	}
	return false
}

// Flash periods (IEC 60601-1-8: high 1.4–2.8 Hz, medium 0.4–0.8 Hz), 50 % lit.
const (
	highFlash   = 500 * time.Millisecond
	mediumFlash = 1600 * time.Millisecond
)

// Lamps reports which lamps are lit at elapsed time since the lamp state
// began: red flashing for high, yellow flashing for medium, yellow steady for
// low (and for any priority when flashing is off).
func Lamps(p protocol.Priority, flashing bool, elapsed time.Duration) (red, yellow bool) {
	lit := func(period time.Duration) bool { return !flashing || elapsed%period < period/2 }
	switch p {
	case protocol.High:
		return lit(highFlash), false
	case protocol.Medium:
		return false, lit(mediumFlash)
	case protocol.Low:
		return false, true
	}
	return false, false
}
