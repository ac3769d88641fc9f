package suntech

import (
	"bytes"
	"fmt"
	"time"

	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/monitor/vitals"
)

// phase is where a measurement cycle stands.
type phase uint8

const (
	starting  phase = iota + 1 // start sent, waiting for 'O'
	measuring                  // polling cuff pressure, waiting for 'K'
	fetching                   // get-BP-data sent, waiting for the result
)

func (p phase) String() string {
	switch p {
	case starting:
		return "waiting for the start's acknowledge"
	case measuring:
		return "measuring"
	case fetching:
		return "waiting for the result"
	}
	return "idle"
}

// cycle is the measurement the session is carrying out; zero when idle.
type cycle struct {
	id       string
	phase    phase
	started  time.Time // Opts.Clock time the start was queued: CycleLimit counts from here
	heard    time.Time // last frame, or entry into the phase (real time)
	nextPoll time.Time
}

// link is the state of one session, owned by its goroutine.
type link struct {
	d        *Dev
	o        *Opts
	p        *serialport.Port
	gen      uint64
	wakeable bool // p.CanWake: reads may wait until the next deadline

	queue     [4][]byte // commands waiting for the gap, oldest first
	queued    int
	lastWrite time.Time
	lastByte  time.Time

	nextIdle   time.Time
	nextStatus time.Time
	version    []byte
	cyc        cycle

	// frame holds the frame being handled. It lives here, in the link that
	// is on the heap anyway, because handle's log lines make a *Frame
	// escape: a local in drain would be a heap allocation per frame.
	frame Frame
}

// feed parses received bytes and acts on each frame.
func (l *link) feed(b []byte, now time.Time) {
	l.lastByte = now
	l.drain(b, now)
}

// quiet is called when a read timed out: a frame still incomplete after
// frameGap is given up so that it does not swallow the next ones.
func (l *link) quiet(now time.Time) {
	if l.d.parser.Pending() > 0 && now.Sub(l.lastByte) >= frameGap {
		l.d.parser.Flush()
		l.drain(nil, now)
	}
}

// drain runs the parser over b (and what it holds) and publishes its counts.
func (l *link) drain(b []byte, now time.Time) {
	for {
		var n int
		var ok bool
		l.frame, n, ok = l.d.parser.Next(b)
		b = b[n:]
		if !ok {
			break
		}
		l.handle(&l.frame, now)
	}
	st := l.d.parser.Stats()
	l.d.mu.Lock()
	l.d.stats = st
	l.d.mu.Unlock()
}

// handle acts on one valid frame. A frame of a known kind that can answer
// what was asked counts in Status.Valid, which keeps sensor_silent away
// between measurements; a frame that only passed LEN and CHK does not
// (random bytes pass those now and then).
func (l *link) handle(f *Frame, now time.Time) {
	if l.cyc.id != "" {
		l.cyc.heard = now
	}
	// An acknowledgement counts only inside a cycle, where one is awaited:
	// a short ACK frame is what random bytes form most often, and the idle
	// version polls prove the module alive between measurements.
	inCycle := l.cyc.phase == starting || l.cyc.phase == measuring
	if f.Kind == KindAck && inCycle || f.Kind == KindVersion || f.Kind == KindPressure && l.cyc.phase == measuring ||
		f.Kind == KindResult && l.cyc.phase == fetching {
		l.d.answers++
	}
	switch f.Kind {
	case KindAck:
		l.ack(f.Ack, now)
	case KindPressure:
		if l.cyc.phase == measuring && f.Pressure != NoPressure {
			l.d.mu.Lock()
			l.d.pressure, l.d.inCycle = f.Pressure, true
			l.d.mu.Unlock()
		}
	case KindResult:
		if l.cyc.phase != fetching {
			l.d.log.Debug("result frame outside a cycle ignored", "frame", f.String())
			return
		}
		l.result(f.BP, now)
	case KindVersion:
		if t := f.Text(); !bytes.Equal(t, l.version) {
			l.version = append(l.version[:0], t...)
			l.d.log.Info("NIBP module version", "version", string(t))
		}
	default:
		l.d.log.Debug("unknown frame ignored", "frame", f.String())
	}
}

// ack moves the cycle on an acknowledge. Outside a cycle acks answer the
// abort sent at open and are ignored; so is an 'A' while starting, which can
// only be that abort's late answer.
func (l *link) ack(a Ack, now time.Time) {
	switch l.cyc.phase {
	case starting:
		switch a {
		case AckReceived:
			l.cyc.phase = measuring
			l.cyc.nextPoll = now.Add(l.o.PollEvery)
		case AckDone, AckError, AckTimedOut:
			l.fetch(now)
		case AckBusy:
			l.fail(ErrBusy, now)
		case AckBadFrame, AckUnknown, AckSleep:
			l.fail(fmt.Errorf("%w: the module answered the start with %v", ErrRejected, a), now)
		}
	case measuring:
		switch a {
		case AckDone, AckAborted, AckError, AckTimedOut:
			// The cycle is over, well or not: the result's error code says.
			l.fetch(now)
		}
	default:
		l.d.log.Debug("acknowledge outside a cycle", "ack", a.String(), "phase", l.cyc.phase.String())
	}
}

// fetch asks for the result of the cycle that just ended.
func (l *link) fetch(now time.Time) {
	l.cyc.phase = fetching
	l.cyc.heard = now
	l.unqueue(l.d.cmdPressure)
	l.push(l.d.cmdData)
}

// result ends the cycle with the module's result.
func (l *link) result(b BPData, now time.Time) {
	r := vitals.Result{Sensor: l.o.Sensor, Request: l.cyc.id}
	if err := b.Check(); err != nil {
		r.Failure = err.Error()
	} else {
		r.Systolic, r.Diastolic, r.Mean, r.Pulse = b.Systolic, b.Diastolic, max(b.Mean, 0), int16(b.HeartRate)
	}
	l.end(r, now)
}

// fail aborts the cycle (deflating the cuff) and reports why.
func (l *link) fail(why error, now time.Time) {
	l.pushFirst(l.d.cmdAbort)
	l.end(vitals.Result{Sensor: l.o.Sensor, Request: l.cyc.id, Failure: why.Error()}, now)
}

// end reports r and returns to idle polling.
func (l *link) end(r vitals.Result, now time.Time) {
	l.cyc = cycle{}
	l.unqueue(l.d.cmdPressure)
	l.unqueue(l.d.cmdData)
	l.nextIdle = now.Add(l.o.IdlePollEvery)
	l.d.finish(r)
}

// takeRequests acts on Start and Abort calls.
func (l *link) takeRequests(now time.Time) {
	for {
		var r request
		select {
		case r = <-l.d.reqs:
		default:
			return
		}
		switch {
		case r.gen != l.gen:
			// Made for a session that has ended; closed() reported it.
		case r.abort:
			if l.cyc.id == r.id {
				l.fail(ErrAborted, now)
			}
		case l.cyc.id != "":
			// Start refuses while busy, so this cannot happen; keep the
			// promise of one Result per Start anyway.
			l.d.finish(vitals.Result{Sensor: l.o.Sensor, Request: r.id, Failure: ErrInProgress.Error()})
		default:
			l.cyc = cycle{id: r.id, phase: starting, started: l.o.Clock.Now(), heard: now}
			l.unqueue(l.d.cmdVersion)
			l.push(l.d.cmdStart)
			l.d.log.Info("NIBP measurement started", "request", r.id)
		}
	}
}

// tick keeps the deadlines and polls, reports Status and sends the next
// queued command once the gap allows.
func (l *link) tick(now time.Time) error {
	c := &l.cyc
	switch {
	case c.id == "":
		if !now.Before(l.nextIdle) {
			l.push(l.d.cmdVersion)
			l.nextIdle = now.Add(l.o.IdlePollEvery)
		}
	case l.o.Clock.Now().Sub(c.started) > l.o.CycleLimit:
		l.fail(fmt.Errorf("%w: cycle longer than %v", ErrTimeout, l.o.CycleLimit), now)
	case now.Sub(c.heard) > l.o.AnswerTimeout:
		l.fail(fmt.Errorf("%w: no answer from the module for %v while %v", ErrTimeout, l.o.AnswerTimeout, c.phase), now)
	case c.phase == measuring && !now.Before(c.nextPoll):
		l.push(l.d.cmdPressure)
		c.nextPoll = now.Add(l.o.PollEvery)
	}
	if !now.Before(l.nextStatus) {
		st := l.d.parser.Stats()
		l.d.sink.Status(vitals.Status{Sensor: l.o.Sensor, Frames: st.Frames, Garbled: st.Garbled, Valid: l.d.answers})
		l.nextStatus = now.Add(statusEvery)
	}
	if l.queued == 0 || now.Sub(l.lastWrite) < l.o.CommandGap {
		return nil
	}
	cmd := l.queue[0]
	copy(l.queue[:], l.queue[1:l.queued])
	l.queued--
	l.lastWrite = now
	return l.write(cmd)
}

// answersCanWait reports whether what the module sends next may wait in the
// port's buffer until the loop's next deadline: during a measurement, with
// nothing queued to send, what comes are the answers to the pressure polls,
// which nothing here waits for, and the 'K' that ends the cycle, seen then
// at most a poll late. Reading them with the next poll makes a poll one
// wake-up of the process instead of two. The result that follows is read as
// it arrives, like everything outside a measurement.
func (l *link) answersCanWait() bool {
	return l.wakeable && l.cyc.id != "" && l.cyc.phase == measuring && l.queued == 0
}

// wait is how long the next read may wait: until the earliest time tick or
// quiet has something to do (a poll, a status, a queued command's gap, a
// time-out, an incomplete frame's end), at most maxWait. Requests and
// shutdown wake the read. On a port that cannot be woken, and during a cycle
// whose CycleLimit runs on an injected Clock the loop cannot foresee, it is
// readTimeout, as always before.
func (l *link) wait(now time.Time) time.Duration {
	if !l.wakeable {
		return readTimeout
	}
	next := l.nextStatus
	c := &l.cyc
	if c.id == "" {
		next = earlier(next, l.nextIdle)
	} else {
		if _, real := l.o.Clock.(systemClock); !real {
			return readTimeout
		}
		next = earlier(next, c.started.Add(l.o.CycleLimit))
		next = earlier(next, c.heard.Add(l.o.AnswerTimeout))
		if c.phase == measuring {
			next = earlier(next, c.nextPoll)
		}
	}
	if l.queued > 0 {
		next = earlier(next, l.lastWrite.Add(l.o.CommandGap))
	}
	if l.d.parser.Pending() > 0 {
		next = earlier(next, l.lastByte.Add(frameGap))
	}
	return min(max(next.Sub(now), minWait), maxWait)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// stop is the shutdown path: abort a running cycle at once, gap or not.
func (l *link) stop() {
	if l.cyc.id == "" {
		return
	}
	if err := l.write(l.d.cmdAbort); err != nil {
		l.d.log.Warn("could not send abort at shutdown", "err", err)
	}
	id := l.cyc.id
	l.cyc = cycle{}
	l.d.finish(vitals.Result{Sensor: l.o.Sensor, Request: id, Failure: ErrStopped.Error()})
}
