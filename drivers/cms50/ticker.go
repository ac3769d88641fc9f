package cms50

import "time"

// Ticker is what the Device paces its packets with, so that tests can drive
// it tick by tick instead of sleeping. Its times are also the Device's clock:
// the keep-alive timeout is measured between tick times.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// NewTicker makes a Ticker; the Device calls it once per Run.
type NewTicker func(d time.Duration) Ticker

// realTicker is a time.Ticker.
type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// newRealTicker is the default NewTicker.
func newRealTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }
