package suntech

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.bug.st/serial"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/monitor/vitals"
)

// Loop timing.
const (
	// readTimeout is the longest a read waits on a port that cannot be
	// woken (serialport.Port.CanWake), so it is also how often the loop
	// looks at its deadlines and requests when the line is quiet; during a
	// cycle measured by an injected Clock, likewise.
	readTimeout = 50 * time.Millisecond
	// maxWait is the longest a read waits on a port that can be woken: the
	// loop then reads until its next deadline (see link.wait), and Start,
	// Abort and shutdown wake it. Each wake-up of an idle daemon costs some
	// tens of microseconds of a core; 20 a second was a tenth of the
	// daemon's budget.
	maxWait = time.Second
	// minWait keeps a deadline just reached from becoming a busy loop.
	minWait = time.Millisecond
	// statusEvery is the Sink.Status cadence.
	statusEvery = time.Second
	// frameGap: a frame still incomplete after this long of quiet never
	// will be (a 67-byte frame takes 70 ms at 9600 baud, with no pauses).
	frameGap = 100 * time.Millisecond
	// stopGrace is how long a shutdown waits for the session to send the
	// abort before closing the port under it.
	stopGrace = time.Second
)

// Run owns the port until ctx is done or Halt is called: it opens it at 9600
// 8N1, talks to the module, and after an unplug reopens it with back-off. On
// every open it first sends an abort, so a cuff left inflated by a crash or a
// lost link deflates. When ctx is done (or Halt is called) during a
// measurement it sends the abort before closing the port and reports the
// measurement as ErrStopped. Results and Status go to sink. It returns nil
// once stopped, and an error only when it cannot start: a nil sink, a second
// concurrent Run, after Halt.
func (d *Dev) Run(ctx context.Context, sink drivers.Sink) error {
	if sink == nil {
		return fmt.Errorf("%s: %w", d, drivers.ErrNilSink)
	}
	ctx, end, err := d.life.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	defer end()
	d.sink = sink
	// serialport closes the port as soon as its context ends; the inner
	// context ends only after the session has had its chance to abort.
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go d.stopper(ctx, inner, cancel)
	cfg := serialport.Config{
		Path: d.path,
		Mode: serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit},

		ReadTimeout: readTimeout,
		MinBackoff:  d.opts.MinBackoff,
		MaxBackoff:  d.opts.MaxBackoff,
		Logger:      d.log,
		Open:        d.opts.Open,
	}
	err = serialport.Run(inner, cfg, func(_ context.Context, p *serialport.Port) error {
		return d.session(ctx, cancel, p) // it watches ctx itself, to abort first
	})
	if err != nil {
		return fmt.Errorf("suntech: %w", err)
	}
	return nil
}

// Halt stops Run as the end of its context does (a measurement in progress
// is aborted and reported as ErrStopped) and waits for it to return; a later
// Run fails. It may be called more than once, and before Run, but not from
// the Sink.
func (d *Dev) Halt() error {
	d.life.Halt()
	return nil
}

// stopper ends the inner context once outer is done: at once when no port is
// open, otherwise when the session has aborted, or after stopGrace.
func (d *Dev) stopper(outer, inner context.Context, cancel context.CancelFunc) {
	select {
	case <-inner.Done():
		return
	case <-outer.Done():
	}
	d.mu.Lock()
	open := d.open
	d.mu.Unlock()
	if !open {
		cancel()
		return
	}
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-inner.Done():
	case <-t.C:
		cancel()
	}
}

// session is one open port's life: the read loop that also sends commands
// and keeps the deadlines. It returns on an unplug, an I/O error or shutdown.
func (d *Dev) session(outer context.Context, cancel context.CancelFunc, p *serialport.Port) (err error) {
	l := &link{d: d, o: &d.opts, p: p, gen: d.opened(p), wakeable: p.CanWake()}
	defer func() { d.closed(outer, err) }()
	// Shutdown must not wait for a long read (Start and Abort wake it too).
	defer context.AfterFunc(outer, p.Wake)()
	d.parser.Discard() // bytes from before the unplug are not a frame's beginning
	now := time.Now()
	l.push(d.cmdAbort) // deflate whatever a crash or a lost link left inflating
	l.nextIdle = now   // ask for the version at once: it goes in the log
	l.nextStatus = now.Add(statusEvery)
	l.lastWrite = now.Add(-d.opts.CommandGap)
	buf := make([]byte, 256)
	for {
		if outer.Err() != nil {
			l.stop()
			cancel()
			return nil
		}
		var n int
		var rerr error
		if wait := l.wait(time.Now()); l.answersCanWait() {
			n, rerr = p.ReadAfter(buf, wait)
		} else {
			n, rerr = p.ReadWait(buf, wait)
		}
		now := time.Now() // line timing is real time; only CycleLimit follows Clock
		if n > 0 {
			l.feed(buf[:n], now)
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, serialport.ErrTimeout):
			l.quiet(now)
		case outer.Err() != nil:
			continue // shutdown closed the port: stop() reports it
		default:
			return rerr
		}
		l.takeRequests(now)
		if err := l.tick(now); err != nil {
			return err
		}
	}
}

// opened marks a session as holding the port p and returns its number.
func (d *Dev) opened(p *serialport.Port) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.open = true
	d.port = p
	d.gen++
	return d.gen
}

// closed marks the port as gone and fails the measurement in progress (or
// accepted but not yet begun), so every Start still gets its one Result.
func (d *Dev) closed(outer context.Context, cause error) {
	d.mu.Lock()
	d.open = false
	d.port = nil
	id := d.busy
	d.busy, d.aborting, d.inCycle, d.pressure = "", false, false, 0
	d.mu.Unlock()
	if id == "" {
		return
	}
	var why error
	switch {
	case outer.Err() != nil:
		why = ErrStopped
	case serialport.IsUnplug(cause):
		why = ErrUnplugged
	default:
		why = fmt.Errorf("%w: %v", ErrPort, cause)
	}
	d.report(vitals.Result{Sensor: d.opts.Sensor, Request: id, Failure: why.Error()})
}

// finish ends the measurement in progress with r.
func (d *Dev) finish(r vitals.Result) {
	d.mu.Lock()
	if d.busy != r.Request {
		d.mu.Unlock()
		return // already reported (cannot happen: one loop owns the cycle)
	}
	d.busy, d.aborting, d.inCycle, d.pressure = "", false, false, 0
	d.mu.Unlock()
	d.report(r)
}

// report logs a Result and hands it to the sink, outside the lock so that
// the sink may call Start at once.
func (d *Dev) report(r vitals.Result) {
	if r.Failed() {
		d.log.Warn("NIBP measurement failed", "request", r.Request, "failure", r.Failure)
	} else {
		d.log.Info("NIBP measurement", "request", r.Request, "systolic", r.Systolic,
			"diastolic", r.Diastolic, "mean", r.Mean, "pulse", r.Pulse)
	}
	d.sink.Result(r)
}
