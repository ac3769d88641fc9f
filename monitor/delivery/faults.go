package delivery

import (
	"log/slog"
	"sync"
	"time"
)

// FaultRaiser raises store_fault for a store error: at once for the first,
// then at most once a minute with a new message, so a disk failing on every
// write does not turn into an alarm update per write (each an urgent record
// that fails again). Its Fault is what Config.Fault and the store's OnFault
// want.
type FaultRaiser struct {
	log   *slog.Logger
	raise func(msg string)
	now   func() time.Time

	mu     sync.Mutex
	last   string
	lastAt time.Time
}

// NewFaultRaiser makes a FaultRaiser that logs every fault to log and hands
// the ones to raise to raise, which must not block.
func NewFaultRaiser(log *slog.Logger, raise func(msg string)) *FaultRaiser {
	return &FaultRaiser{log: log, raise: raise, now: time.Now}
}

// faultEvery is how often a new message may update a raised store_fault.
const faultEvery = time.Minute

// Fault reports a store error; safe from any goroutine.
func (f *FaultRaiser) Fault(err error) {
	msg := "store: " + err.Error()
	f.log.Error("store fault", "err", err)
	f.mu.Lock()
	now := f.now()
	send := f.lastAt.IsZero() || (msg != f.last && now.Sub(f.lastAt) >= faultEvery)
	if send {
		f.last, f.lastAt = msg, now
	}
	f.mu.Unlock()
	if send {
		f.raise(msg)
	}
}
