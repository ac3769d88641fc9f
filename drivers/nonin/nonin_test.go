package nonin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/monitor/vitals"
)

func TestNewValidates(t *testing.T) {
	ok := Opts{Format: DF2}
	with := func(edit func(*Opts)) *Opts { o := ok; edit(&o); return &o }
	for _, tc := range []struct {
		name string
		port string
		opts *Opts
		want string // a word the error must contain: the bad field
	}{
		{"no port", "", &ok, "port is empty"},
		{"no port, default opts", "", nil, "port is empty"},
		{"format 0", "/dev/ttyUSB0", with(func(o *Opts) { o.Format = 0 }), "Opts.Format"},
		{"format 13", "/dev/ttyUSB0", with(func(o *Opts) { o.Format = 13 }), "Opts.Format"},
		{"negative sensor", "/dev/ttyUSB0", with(func(o *Opts) { o.Sensor = -1 }), "Opts.Sensor"},
		{"negative status period", "/dev/ttyUSB0", with(func(o *Opts) { o.StatusEvery = -time.Second }), "Opts.StatusEvery"},
		{"negative read timeout", "/dev/ttyUSB0", with(func(o *Opts) { o.ReadTimeout = -1 }), "Opts.ReadTimeout"},
		{"negative min backoff", "/dev/ttyUSB0", with(func(o *Opts) { o.MinBackoff = -1 }), "Opts.MinBackoff"},
		{"negative max backoff", "/dev/ttyUSB0", with(func(o *Opts) { o.MaxBackoff = -1 }), "Opts.MaxBackoff"},
		{"min above max", "/dev/ttyUSB0", with(func(o *Opts) { o.MinBackoff, o.MaxBackoff = time.Second, time.Millisecond }), "Opts.MinBackoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.port, tc.opts)
			if err == nil || d != nil {
				t.Fatalf("New = %v, %v; want an error", d, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "nonin: ") {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
	d, err := New("/dev/ttyUSB0", &Opts{Format: DF7, Sensor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), "nonin(/dev/ttyUSB0, DF7, sensor 1)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if d.opts.MaxBackoff != time.Second || d.opts.StatusEvery != time.Second {
		t.Errorf("defaults: %+v", d.opts)
	}
}

// TestNewNilOptsIsDefaultOpts: New(port, nil) is New(port, &DefaultOpts),
// and New copies the options: editing them afterwards changes nothing.
func TestNewNilOptsIsDefaultOpts(t *testing.T) {
	d, err := New("/dev/ttyUSB0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.opts.Format != DefaultOpts.Format || d.opts.Sensor != 0 || d.opts.StatusEvery != DefaultOpts.StatusEvery || d.opts.Logger == nil {
		t.Errorf("New(port, nil) options %+v, want DefaultOpts %+v", d.opts, DefaultOpts)
	}
	if got, want := d.String(), "nonin(/dev/ttyUSB0, DF2, sensor 0)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	o := Opts{Format: DF8, Sensor: 3}
	d, err = New("/dev/ttyUSB1", &o)
	if err != nil {
		t.Fatal(err)
	}
	o.Format, o.Sensor = DF2, 4
	if d.opts.Format != DF8 || d.opts.Sensor != 3 {
		t.Errorf("New kept a reference to the caller's Opts: %+v", d.opts)
	}
}

// TestHalt: Halt stops a running Run (which then returns nil) and returns
// only after it did; it may be called twice and before Run, and a Run after
// Halt is refused at once instead of opening the port.
func TestHalt(t *testing.T) {
	dir := t.TempDir()
	d, err := New(filepath.Join(dir, "missing-tty"), &Opts{Format: DF2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background(), nil); !errors.Is(err, drivers.ErrNilSink) {
		t.Errorf("Run with a nil sink = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background(), newSink()) }()
	waitRunning(t, &d.life)
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if d.life.Running() {
		t.Error("Halt returned while Run still held the port")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Halt = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Halt")
	}
	if err := d.Halt(); err != nil {
		t.Errorf("second Halt = %v", err)
	}
	if err := d.Run(context.Background(), newSink()); !errors.Is(err, drivers.ErrHalted) || !strings.Contains(err.Error(), d.String()) {
		t.Errorf("Run after Halt = %v, want ErrHalted naming %s", err, d)
	}

	d2, _ := New("/dev/ttyUSB0", nil)
	if err := d2.Halt(); err != nil {
		t.Errorf("Halt before Run = %v", err)
	}
	if err := d2.Run(context.Background(), newSink()); !errors.Is(err, drivers.ErrHalted) {
		t.Errorf("Run after an early Halt = %v, want ErrHalted", err)
	}
}

// waitRunning waits until a Run holds l.
func waitRunning(t *testing.T, l *drivers.Lifecycle) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !l.Running(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
	}
}

// waitSink waits until cond holds for what the sink has received.
func waitSink(t *testing.T, s *sink, what string, cond func([]vitals.Reading, []vitals.Status) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if cond(s.snapshot()) {
			return
		}
		select {
		case <-s.notify:
		case <-deadline:
			r, st := s.snapshot()
			t.Fatalf("timed out waiting for %s (%d readings, last status %+v)", what, len(r), lastStatus(st))
		}
	}
}

func lastStatus(st []vitals.Status) vitals.Status {
	if len(st) == 0 {
		return vitals.Status{}
	}
	return st[len(st)-1]
}

func hasReading(want vitals.Reading, from int) func([]vitals.Reading, []vitals.Status) bool {
	return func(rs []vitals.Reading, _ []vitals.Status) bool {
		for _, r := range rs[min(from, len(rs)):] {
			if r == want {
				return true
			}
		}
		return false
	}
}

// runDevice runs dev on a pty master until the returned stop is called.
func runDevice(t *testing.T, dev *Device, pt *serialtest.PTY) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx, pt.Master) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestHardwareInTheLoop: a simulated oximeter on a pseudo-terminal, the
// driver on the slave through a by-id style symlink, as on the Pi. Readings
// must be exactly the device's values; an unplug (the link removed, as udev
// does, and the pty closed) and a replug (a new pty behind the same link)
// must resume them; a garbage burst must raise the garbled count by the
// frame lengths it held and never produce a value the device did not send;
// opening the port mid-stream counts no garbled frame.
func TestHardwareInTheLoop(t *testing.T) {
	link := filepath.Join(t.TempDir(), "usb-Nonin_Medical_OEM_III-if00-port0")
	pt1 := serialtest.New(t)
	serialtest.Link(t, link, pt1.Name)

	snk := newSink()
	drv, err := New(link, &Opts{
		Format: DF2, Sensor: 2, StatusEvery: 20 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- drv.Run(ctx, snk) }()
	defer func() {
		cancel()
		select {
		case err := <-runDone:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("Run did not return within 2s of cancel")
		}
	}()
	// Device 1 at 4x the real rate, to keep the test short.
	fast := time.NewTicker(3 * time.Millisecond)
	defer fast.Stop()
	dev1, _ := NewDevice(DeviceOpts{Format: DF2, Ticks: fast.C, Seed: 1}, Steady(97, 72))
	stop1 := runDevice(t, dev1, pt1)

	waitSink(t, snk, "SpO2 97", hasReading(vitals.Reading{Sensor: 2, Param: vitals.SpO2, Value: 97}, 0))
	waitSink(t, snk, "pulse 72", hasReading(vitals.Reading{Sensor: 2, Param: vitals.Pulse, Value: 72}, 0))
	if err := drv.Run(ctx, snk); !errors.Is(err, drivers.ErrRunning) || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second concurrent Run = %v, want an error", err)
	}

	// A desaturation with poor perfusion.
	low := Steady(88, 110)
	low.Flags = vitals.LowPerfusion
	dev1.Set(low)
	waitSink(t, snk, "SpO2 88 low perfusion", hasReading(vitals.Reading{Sensor: 2, Param: vitals.SpO2, Value: 88, Flags: vitals.LowPerfusion}, 0))

	// The port opened somewhere in a clean stream: no garbled frame.
	_, st := snk.snapshot()
	if g := lastStatus(st).Garbled; g != 0 {
		t.Errorf("%d garbled frames before any garbage was sent", g)
	}

	// Garbage burst: 500 random bytes (seed 1) between two frames, 100
	// frame lengths; none of the windows in them is a valid DF2 frame.
	g0 := lastStatus(st).Garbled
	dev1.Garbage(500)
	rs, _ := snk.snapshot()
	waitSink(t, snk, "garbled count to rise by 100", func(_ []vitals.Reading, st []vitals.Status) bool {
		return lastStatus(st).Garbled >= g0+100
	})
	waitSink(t, snk, "values after the burst", hasReading(vitals.Reading{Sensor: 2, Param: vitals.SpO2, Value: 88, Flags: vitals.LowPerfusion}, len(rs)))
	// Frames the device sent after the burst are good frames, not garbled.
	_, st = snk.snapshot()
	f1 := lastStatus(st).Frames
	waitSink(t, snk, "a status after the values", func(_ []vitals.Reading, st []vitals.Status) bool {
		return lastStatus(st).Frames > f1
	})
	if _, st = snk.snapshot(); lastStatus(st).Garbled != g0+100 {
		t.Errorf("500 bytes of garbage counted as %d garbled frames, want 100", lastStatus(st).Garbled-g0)
	}

	// Unplug: the device stops, udev removes its by-id link, its pty
	// disappears. The link goes first: left in place it would name a
	// /dev/pts number the kernel may give to another process's pty, which
	// the driver, retrying, would then open.
	stop1()
	serialtest.Unlink(t, link)
	pt1.Unplug()
	rs, _ = snk.snapshot()

	// Replug: a new pty behind the same link, with another state.
	pt2 := serialtest.New(t)
	dev2, _ := NewDevice(DeviceOpts{Format: DF2, Ticks: fast.C}, Steady(93, 80))
	runDevice(t, dev2, pt2)
	t0 := time.Now()
	serialtest.Link(t, link, pt2.Name)
	waitSink(t, snk, "SpO2 93 after replug", hasReading(vitals.Reading{Sensor: 2, Param: vitals.SpO2, Value: 93}, len(rs)))
	t.Logf("replug to first reading: %v", time.Since(t0))

	// Everything the sink got: only the values the devices sent, counts that
	// only grow, the configured sensor.
	rs, st = snk.snapshot()
	allowed := map[vitals.Param]map[int16]bool{
		vitals.SpO2:  {97: true, 88: true, 93: true},
		vitals.Pulse: {72: true, 110: true, 80: true},
	}
	for _, r := range rs {
		if r.Sensor != 2 || !allowed[r.Param][r.Value] || r.Flags&^vitals.LowPerfusion != 0 {
			t.Errorf("reading the devices never sent: %+v", r)
		}
	}
	for i := 1; i < len(st); i++ {
		if st[i].Sensor != 2 || st[i].Frames < st[i-1].Frames || st[i].Garbled < st[i-1].Garbled {
			t.Fatalf("status %d went back: %+v after %+v", i, st[i], st[i-1])
		}
	}
	// Garbled: the burst, and at most one frame cut off by the unplug; the
	// replug opened mid-stream and cost none.
	if g := lastStatus(st).Garbled; g < g0+100 || g > g0+101 {
		t.Errorf("%d garbled frames in the end, want 100 or 101", g-g0)
	}
	// Never more good frames than the devices sent; and some were counted.
	if last, sent := lastStatus(st), dev1.Frames()+dev2.Frames(); last.Frames > sent || last.Frames < 10 {
		t.Errorf("%d good frames counted, devices sent %d", last.Frames, sent)
	}
}
