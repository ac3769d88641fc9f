package suntech

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/monitor/vitals"
)

// Hardware-in-the-loop: the Module model on a pty master, the driver on the
// slave through a udev-like symlink, exactly as it opens /dev/ttyAMA0.

// recSink records what the driver sends.
type recSink struct {
	results chan vitals.Result
	mu      sync.Mutex
	status  []vitals.Status
}

func newRecSink() *recSink { return &recSink{results: make(chan vitals.Result, 16)} }

func (s *recSink) Reading(vitals.Reading) {}
func (s *recSink) Result(r vitals.Result) { s.results <- r }
func (s *recSink) Status(st vitals.Status) {
	s.mu.Lock()
	s.status = append(s.status, st)
	s.mu.Unlock()
}

func (s *recSink) lastStatus() (vitals.Status, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.status) == 0 {
		return vitals.Status{}, 0
	}
	return s.status[len(s.status)-1], len(s.status)
}

// rig is one driver and one (replaceable) module.
type rig struct {
	t       *testing.T
	path    string // the symlink the driver opens
	clock   *ScaledClock
	sink    *recSink
	dev     *Dev
	mod     *Module
	pty     *serialtest.PTY
	modStop func()
	cancel  context.CancelFunc
	runDone chan error
	logs    *syncBuffer
}

// syncBuffer collects the driver's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const sensorIndex = 2

func newRig(t *testing.T, tune func(*Opts)) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "ttyNIBP"), clock: NewScaledClock(1), sink: newRecSink(), logs: &syncBuffer{}}
	r.plug()
	o := Opts{Sensor: sensorIndex, Clock: r.clock, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if tune != nil {
		tune(&o)
	}
	dev, err := New(r.path, &o)
	if err != nil {
		t.Fatal(err)
	}
	r.dev = dev
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.runDone = cancel, make(chan error, 1)
	go func() { r.runDone <- dev.Run(ctx, r.sink) }()
	t.Cleanup(func() {
		r.stop()
		r.modStop()
		if t.Failed() {
			t.Logf("driver log:\n%s", r.logs.String())
		}
	})
	r.waitOpen()
	return r
}

// plug makes a new pty with a module model on it and points the symlink at it.
func (r *rig) plug() {
	r.t.Helper()
	r.pty = serialtest.New(r.t)
	r.mod = NewModule(r.pty.Master, r.clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.mod.Run(ctx) }()
	r.modStop = func() { cancel(); r.pty.Unplug(); <-done }
	serialtest.Link(r.t, r.path, r.pty.Name)
}

// unplug pulls the adapter: the driver's read fails as on a USB unplug, and
// the link goes away as udev removes a /dev/serial/by-id link (left in place,
// it would point at a /dev/pts number another process may reuse).
func (r *rig) unplug() {
	r.modStop()
	if err := os.Remove(r.path); err != nil {
		r.t.Fatal(err)
	}
}

// stop cancels Run and checks it returns nil promptly.
func (r *rig) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.runDone:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
		r.runDone <- nil // later stops return at once
	case <-time.After(5 * time.Second):
		r.t.Fatal("Run did not return within 5 s of cancel")
	}
}

func (r *rig) waitOpen() {
	r.t.Helper()
	waitFor(r.t, "port open", func() bool {
		r.dev.mu.Lock()
		defer r.dev.mu.Unlock()
		return r.dev.open
	})
}

func (r *rig) start(id string) {
	r.t.Helper()
	if err := r.dev.Start(context.Background(), id); err != nil {
		r.t.Fatalf("Start(%s): %v", id, err)
	}
}

// result waits for the next Result and checks that no second one follows
// for the same request.
func (r *rig) result(within time.Duration) vitals.Result {
	r.t.Helper()
	select {
	case res := <-r.sink.results:
		select {
		case again := <-r.sink.results:
			r.t.Fatalf("two results: %+v then %+v", res, again)
		case <-time.After(100 * time.Millisecond):
		}
		return res
	case <-time.After(within):
		r.t.Fatalf("no result within %v", within)
	}
	return vitals.Result{}
}

// waitMeasuring waits until the module inflates and the driver has seen it.
func (r *rig) waitMeasuring() {
	r.t.Helper()
	waitFor(r.t, "cuff pressure", func() bool {
		p, ok := r.dev.Pressure()
		return r.mod.Measuring() && ok && p > 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// indexAfter returns the index of the first name after position from, or -1.
func indexAfter(names []string, from int, name string) int {
	for i := from + 1; i < len(names); i++ {
		if names[i] == name {
			return i
		}
	}
	return -1
}

func TestHILMeasurement(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{Sys: 118, Dia: 76, Map: 90, HR: 64, Duration: 1200 * time.Millisecond})
	r.start("n-1-1")
	if err := r.dev.Start(context.Background(), "n-1-2"); !errors.Is(err, ErrInProgress) {
		t.Errorf("second Start: %v, want ErrInProgress", err)
	}
	r.waitMeasuring()
	got := r.result(5 * time.Second)
	want := vitals.Result{Sensor: sensorIndex, Request: "n-1-1", Systolic: 118, Diastolic: 76, Mean: 90, Pulse: 64}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, ok := r.dev.Pressure(); ok {
		t.Error("Pressure still reported after the cycle")
	}
	names := r.mod.Received()
	if len(names) == 0 || names[0] != "abort" {
		t.Errorf("the first command at open must be abort: %q", names)
	}
	s := indexAfter(names, -1, "start adult")
	p := indexAfter(names, s, "get cuff pressure")
	d := indexAfter(names, p, "get BP data")
	if s < 0 || p < 0 || d < 0 {
		t.Errorf("command sequence %q", names)
	}
	// About 5 polls per second over a 1.2 s cycle.
	if n := strings.Count(strings.Join(names, ","), "get cuff pressure"); n < 3 || n > 10 {
		t.Errorf("%d cuff pressure polls in a 1.2 s cycle", n)
	}
	// The next measurement can start at once.
	r.mod.Queue(Measurement{Sys: 121, Dia: 79, Map: 93, HR: 70, Duration: 300 * time.Millisecond})
	r.start("n-1-3")
	if got := r.result(5 * time.Second); got.Request != "n-1-3" || got.Systolic != 121 || got.Failed() {
		t.Errorf("second measurement %+v", got)
	}
	st, n := r.sink.lastStatus()
	if n == 0 || st.Sensor != sensorIndex || st.Frames < 5 || st.Garbled != 0 {
		t.Errorf("status %+v after %d reports", st, n)
	}
}

func TestHILModuleError(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{ErrorCode: InflateTimeout, Duration: 400 * time.Millisecond})
	r.start("n-1-7")
	got := r.result(5 * time.Second)
	want := vitals.Result{Sensor: sensorIndex, Request: "n-1-7", Failure: "0x57 inflate timeout, leak or loose cuff"}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// An unnamed code still fails, with its number.
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, ErrorCode: 0x91, Duration: 200 * time.Millisecond})
	r.start("n-1-8")
	if got := r.result(5 * time.Second); got.Failure != "0x91 unknown module error" {
		t.Errorf("got %+v", got)
	}
}

func TestHILAbort(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, Duration: time.Minute})
	r.start("n-2-1")
	r.waitMeasuring()
	if err := r.dev.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := r.result(2 * time.Second); got != (vitals.Result{Sensor: sensorIndex, Request: "n-2-1", Failure: "aborted"}) {
		t.Errorf("got %+v", got)
	}
	waitFor(t, "the module to stop", func() bool { return !r.mod.Measuring() })
	names := r.mod.Received()
	if indexAfter(names, indexAfter(names, -1, "start adult"), "abort") < 0 {
		t.Errorf("no abort after the start: %q", names)
	}
	if err := r.dev.Abort(); !errors.Is(err, ErrIdle) {
		t.Errorf("Abort when idle: %v", err)
	}
}

func TestHILSilentModule(t *testing.T) {
	r := newRig(t, func(o *Opts) { o.AnswerTimeout = 600 * time.Millisecond })
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, Duration: time.Minute})
	r.start("n-3-1")
	r.waitMeasuring()
	r.mod.SetSilent(true)
	got := r.result(3 * time.Second)
	if got.Request != "n-3-1" || !strings.HasPrefix(got.Failure, "timeout: no answer from the module for 600ms") {
		t.Errorf("got %+v", got)
	}
	// The silent module still hears the abort and deflates.
	waitFor(t, "the module to stop", func() bool { return !r.mod.Measuring() })
}

func TestHILNoAnswerToStart(t *testing.T) {
	r := newRig(t, func(o *Opts) { o.AnswerTimeout = 400 * time.Millisecond })
	r.mod.SetSilent(true)
	r.start("n-3-2")
	got := r.result(3 * time.Second)
	if !strings.HasPrefix(got.Failure, "timeout: no answer") || !strings.Contains(got.Failure, "start") {
		t.Errorf("got %+v", got)
	}
}

// The 180 s limit, reached by skipping the shared clock.
func TestHILCycleLimit(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, Duration: 10 * time.Minute}) // a stuck module
	r.start("n-4-1")
	r.waitMeasuring()
	// The real time already spent counts too: stay well short of 180 s.
	r.clock.Skip(170 * time.Second)
	select {
	case res := <-r.sink.results:
		t.Fatalf("failed before the limit: %+v", res)
	case <-time.After(300 * time.Millisecond):
	}
	r.clock.Skip(15 * time.Second)
	began := time.Now()
	got := r.result(2 * time.Second)
	if got != (vitals.Result{Sensor: sensorIndex, Request: "n-4-1", Failure: "timeout: cycle longer than 3m0s"}) {
		t.Errorf("got %+v", got)
	}
	if el := time.Since(began); el > time.Second {
		t.Errorf("took %v of real time", el)
	}
	waitFor(t, "the module to be aborted", func() bool { return !r.mod.Measuring() })
}

func TestHILUnplugAndReplug(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, Duration: time.Minute})
	r.start("n-5-1")
	r.waitMeasuring()
	r.unplug()
	if got := r.result(2 * time.Second); got != (vitals.Result{Sensor: sensorIndex, Request: "n-5-1", Failure: "unplugged"}) {
		t.Errorf("got %+v", got)
	}
	waitFor(t, "the port to close", func() bool {
		return errors.Is(r.dev.Start(context.Background(), "n-5-2"), ErrNotOpen)
	})
	r.plug() // a new pty behind the same symlink
	r.waitOpen()
	// Reopening sends an abort before anything else, for a cuff the lost
	// link left inflated.
	waitFor(t, "abort at reopen", func() bool {
		names := r.mod.Received()
		return len(names) > 0 && names[0] == "abort"
	})
	r.mod.Queue(Measurement{Sys: 133, Dia: 88, Map: 103, HR: 77, Duration: 300 * time.Millisecond})
	r.start("n-5-3")
	want := vitals.Result{Sensor: sensorIndex, Request: "n-5-3", Systolic: 133, Diastolic: 88, Mean: 103, Pulse: 77}
	if got := r.result(5 * time.Second); got != want {
		t.Errorf("after replug: %+v", got)
	}
}

func TestHILGarbageOnTheLine(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{Sys: 140, Dia: 91, Map: 107, HR: 58, Duration: time.Second})
	r.start("n-6-1")
	r.waitMeasuring()
	for _, junk := range [][]byte{
		{0x00, 0xFF, 0x3E},             // noise, then a lone start byte
		{0x3E, 0x05, 0x02, 0x01, 0xB1}, // bad checksum
		{0x3E, 0x44, 0x13},             // LEN too big
		{0x3E, 0x18, 0x73, 0x00},       // a truncated result: only a quiet line releases what follows
	} {
		if err := r.mod.Inject(junk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	want := vitals.Result{Sensor: sensorIndex, Request: "n-6-1", Systolic: 140, Diastolic: 91, Mean: 107, Pulse: 58}
	if got := r.result(5 * time.Second); got != want {
		t.Errorf("got %+v", got)
	}
	waitFor(t, "garbled count in Status", func() bool {
		st, _ := r.sink.lastStatus()
		return st.Garbled > 0 && st.Frames > 0
	})
}

func TestHILModuleBusy(t *testing.T) {
	r := newRig(t, nil)
	waitFor(t, "the abort sent at open", func() bool { return len(r.mod.Received()) > 0 })
	// A cycle the driver did not start (a front-panel button, another host).
	r.mod.mu.Lock()
	r.mod.cycle = r.mod.newCycle(r.clock.Now())
	r.mod.mu.Unlock()
	r.start("n-7-1")
	if got := r.result(3 * time.Second); got.Failure != "module busy" {
		t.Errorf("got %+v", got)
	}
	// The driver aborts the unknown cycle: a cuff nobody watches deflates.
	waitFor(t, "the module to stop", func() bool { return !r.mod.Measuring() })
}

func TestHILShutdownAborts(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, Duration: time.Minute})
	r.start("n-8-1")
	r.waitMeasuring()
	began := time.Now()
	r.stop()
	if el := time.Since(began); el > 2*time.Second {
		t.Errorf("shutdown took %v", el)
	}
	if got := r.result(time.Second); got.Failure != "stopped: driver shutting down" || got.Request != "n-8-1" {
		t.Errorf("got %+v", got)
	}
	waitFor(t, "the module to be aborted", func() bool { return !r.mod.Measuring() })
	if err := r.dev.Start(context.Background(), "n-8-2"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Start after Run: %v", err)
	}
}

// Halt during a measurement does what shutdown does: the cuff is aborted and
// the measurement reported as stopped, both before Halt returns; a Run after
// it is refused, so the port stays closed.
func TestHILHaltAborts(t *testing.T) {
	r := newRig(t, nil)
	r.mod.Queue(Measurement{Sys: 120, Dia: 80, Duration: time.Minute})
	r.start("n-9-1")
	r.waitMeasuring()
	began := time.Now()
	if err := r.dev.Halt(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Errorf("Halt took %v", el)
	}
	select {
	case got := <-r.sink.results:
		if got.Failure != "stopped: driver shutting down" || got.Request != "n-9-1" {
			t.Errorf("got %+v", got)
		}
	default:
		t.Fatal("Halt returned before the measurement was reported")
	}
	select {
	case err := <-r.runDone:
		if err != nil {
			t.Errorf("Run after Halt: %v", err)
		}
		r.runDone <- nil // for the rig's stop
	case <-time.After(time.Second):
		t.Fatal("Run did not return with Halt")
	}
	waitFor(t, "the module to be aborted", func() bool { return !r.mod.Measuring() })
	if err := r.dev.Halt(); err != nil {
		t.Errorf("second Halt: %v", err)
	}
	if err := r.dev.Run(context.Background(), r.sink); !errors.Is(err, drivers.ErrHalted) {
		t.Errorf("Run after Halt: %v", err)
	}
	if err := r.dev.Start(context.Background(), "n-9-2"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Start after Halt: %v", err)
	}
}

// When idle the driver asks for the version string every IdlePollEvery, so
// Status shows a live module (its answers counted as Valid), and logs the
// version once.
func TestHILIdlePolls(t *testing.T) {
	r := newRig(t, func(o *Opts) { o.IdlePollEvery = 150 * time.Millisecond })
	waitFor(t, "the default version logged", func() bool {
		return strings.Contains(r.logs.String(), DefaultVersion)
	})
	r.mod.SetVersion("LX1.23 test module")
	waitFor(t, "idle polls", func() bool {
		return strings.Count(strings.Join(r.mod.Received(), ","), "return string") >= 4
	})
	waitFor(t, "status with frames", func() bool {
		st, _ := r.sink.lastStatus()
		return st.Sensor == sensorIndex && st.Frames >= 3
	})
	// The version answers are validated data: they keep sensor_silent away
	// (an unknown frame that passed LEN and CHK would not).
	waitFor(t, "status with valid answers", func() bool {
		st, _ := r.sink.lastStatus()
		return st.Valid >= 3 && st.Valid <= st.Frames
	})
	first, _ := r.sink.lastStatus()
	waitFor(t, "counts growing", func() bool {
		st, _ := r.sink.lastStatus()
		return st.Frames > first.Frames
	})
	if logs := r.logs.String(); strings.Count(logs, "LX1.23 test module") != 1 {
		t.Errorf("the version must be logged once when it changes:\n%s", logs)
	}
	if n := strings.Count(r.logs.String(), "NIBP module version"); n != 2 {
		t.Errorf("version logged %d times, want 2 (the default, then the new one)", n)
	}
	if st := r.dev.Stats(); st.Frames == 0 || st.Garbled != 0 {
		t.Errorf("Stats %+v", st)
	}
}

func TestHILStartRejected(t *testing.T) {
	r := newRig(t, nil)
	waitFor(t, "the abort sent at open", func() bool { return len(r.mod.Received()) > 0 })
	r.mod.SetSilent(true) // the module acts but its own answer is replaced by ours
	r.start("n-9-1")
	waitFor(t, "the start to reach the module", func() bool { return r.mod.Measuring() })
	if err := r.mod.Inject(AppendAck(nil, AckBadFrame)); err != nil {
		t.Fatal(err)
	}
	got := r.result(2 * time.Second)
	if got.Failure != "rejected: the module answered the start with 'N' bad frame or parameter" {
		t.Errorf("got %+v", got)
	}
	waitFor(t, "the abort after the rejection", func() bool { return !r.mod.Measuring() })
}
