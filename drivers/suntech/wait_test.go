package suntech

import (
	"slices"
	"testing"
	"time"
)

// idleDev is a Dev with options o on a port it never opens, for a look at a
// session's decisions without one.
func idleDev(t *testing.T, o Opts) *Dev {
	t.Helper()
	d, err := New("/dev/null", &o)
	if err != nil {
		t.Fatal(err)
	}
	d.sink = newRecSink() // as Run sets it
	return d
}

// TestWaitUntilNextDeadline: on a port that can be woken, the loop reads
// until its next deadline (at most maxWait, at least minWait); otherwise,
// and in a cycle timed by an injected Clock, every readTimeout.
func TestWaitUntilNextDeadline(t *testing.T) {
	o := DefaultOpts
	d := idleDev(t, o)
	now := time.Now()
	idle := func() *link {
		return &link{d: d, o: &d.opts, wakeable: true, nextStatus: now.Add(time.Hour), nextIdle: now.Add(time.Hour)}
	}
	for _, c := range []struct {
		name string
		set  func(*link)
		want time.Duration
	}{
		{"nothing due", func(*link) {}, maxWait},
		{"status", func(l *link) { l.nextStatus = now.Add(300 * time.Millisecond) }, 300 * time.Millisecond},
		{"version poll", func(l *link) { l.nextIdle = now.Add(20 * time.Millisecond) }, 20 * time.Millisecond},
		{"overdue", func(l *link) { l.nextIdle = now.Add(-time.Second) }, minWait},
		{"command gap", func(l *link) {
			l.push(d.cmdVersion)
			l.lastWrite = now.Add(-70 * time.Millisecond)
		}, 30 * time.Millisecond},
		{"measuring", func(l *link) {
			l.cyc = cycle{id: "r", phase: measuring, started: now, heard: now, nextPoll: now.Add(150 * time.Millisecond)}
		}, 150 * time.Millisecond},
		{"answer timeout", func(l *link) {
			l.cyc = cycle{id: "r", phase: fetching, started: now, heard: now.Add(-d.opts.AnswerTimeout + 40*time.Millisecond)}
		}, 40 * time.Millisecond},
		{"cycle limit", func(l *link) {
			l.cyc = cycle{id: "r", phase: fetching, started: now.Add(-d.opts.CycleLimit + 60*time.Millisecond), heard: now}
		}, 60 * time.Millisecond},
		{"not wakeable", func(l *link) { l.wakeable = false }, readTimeout},
	} {
		l := idle()
		c.set(l)
		if got := l.wait(now); got != c.want {
			t.Errorf("%s: wait = %v, want %v", c.name, got, c.want)
		}
	}

	// A cycle on an injected clock: its limit cannot be foreseen.
	o.Clock = NewScaledClock(10)
	ds := idleDev(t, o)
	l := &link{d: ds, o: &ds.opts, wakeable: true, nextStatus: now.Add(time.Hour), nextIdle: now.Add(time.Hour),
		cyc: cycle{id: "r", phase: starting, started: now, heard: now}}
	if got := l.wait(now); got != readTimeout {
		t.Errorf("cycle on a scaled clock: wait = %v, want %v", got, readTimeout)
	}
}

// TestStartAndStopWakeTheIdleLoop: an idle loop waits up to maxWait in a
// read, but a Start reaches the module at once, and so does a shutdown.
func TestStartAndStopWakeTheIdleLoop(t *testing.T) {
	r := newRig(t, nil)
	if !r.dev.port.CanWake() {
		t.Skip("the pty is read through the library: reads are not woken")
	}
	for i, id := range []string{"a", "b", "c"} {
		time.Sleep(300 * time.Millisecond) // idle: the loop sits in a long read
		n := len(r.mod.Received())
		t0 := time.Now()
		r.start(id)
		waitFor(t, "the start command", func() bool {
			return slices.Contains(r.mod.Received()[n:], "start adult")
		})
		if d := time.Since(t0); d > 150*time.Millisecond {
			t.Errorf("start %d reached the module after %v; the read was not woken", i, d)
		}
		if err := r.dev.Abort(); err != nil {
			t.Fatal(err)
		}
		if res := r.result(5 * time.Second); res.Request != id || !res.Failed() {
			t.Fatalf("result %+v, want the aborted %s", res, id)
		}
	}
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	r.stop()
	if d := time.Since(t0); d > 300*time.Millisecond {
		t.Errorf("idle Run took %v to stop", d)
	}
}

// TestAnswersCanWait: only during a measurement, with nothing queued to
// send, on a port that can be woken, does the loop leave the module's
// answers in the buffer until its next deadline.
func TestAnswersCanWait(t *testing.T) {
	d := idleDev(t, DefaultOpts)
	for _, c := range []struct {
		name string
		set  func(*link)
		want bool
	}{
		{"measuring", func(*link) {}, true},
		{"idle", func(l *link) { l.cyc = cycle{} }, false},
		{"starting", func(l *link) { l.cyc.phase = starting }, false},
		{"fetching the result", func(l *link) { l.cyc.phase = fetching }, false},
		{"a command queued", func(l *link) { l.push(d.cmdAbort) }, false},
		{"not wakeable", func(l *link) { l.wakeable = false }, false},
	} {
		l := &link{d: d, o: &d.opts, wakeable: true, cyc: cycle{id: "r", phase: measuring}}
		c.set(l)
		if got := l.answersCanWait(); got != c.want {
			t.Errorf("%s: answersCanWait = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestAbortWakesAMeasurementsWait: during a measurement the loop waits for
// its next poll without reading the answers as they come, yet an Abort
// reaches the module at once, and the answers are read (the cuff pressure
// is known).
func TestAbortWakesAMeasurementsWait(t *testing.T) {
	r := newRig(t, func(o *Opts) {
		o.Clock = nil // real time: the loop waits for its deadlines
		o.PollEvery, o.AnswerTimeout = 2*time.Second, 5*time.Second
	})
	if !r.dev.port.CanWake() {
		t.Skip("the pty is read through the library: reads are not woken")
	}
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, Duration: time.Minute})
	r.start("n-1")
	r.waitMeasuring()
	time.Sleep(400 * time.Millisecond) // the loop sits in a wait for its next deadline
	n := len(r.mod.Received())
	t0 := time.Now()
	if err := r.dev.Abort(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the abort", func() bool { return slices.Contains(r.mod.Received()[n:], "abort") })
	if d := time.Since(t0); d > 250*time.Millisecond {
		t.Errorf("the abort reached the module after %v; the wait was not woken", d)
	}
	if res := r.result(5 * time.Second); res.Request != "n-1" || res.Failure != "aborted" {
		t.Errorf("result %+v, want n-1 aborted", res)
	}
}
