package cms50

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/monitor/vitals"
	"go.bug.st/serial"
)

// These tests put the Device on a pseudo-terminal master and the driver on
// the slave, opened through a symlink in t.TempDir() as the daemon opens a
// /dev/serial/by-id link. A pty ignores baud and parity (TestModes pins
// those); everything else is the real path: go.bug.st/serial, serialport's
// reopen, the decoder, the sink.

const hilTimeout = 10 * time.Second // a wait that reaches it is a failure

// waitFor polls cond until it holds or hilTimeout passes, and then fails
// with the harness's state.
func (h *hil) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(hilTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			st, _ := h.lastStatus()
			h.t.Fatalf("timed out waiting for %s; device %+v, %d readings, last status %+v",
				what, h.dev.Stats(), h.readings(), st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testLogger logs through t until the test ends.
func testLogger(t *testing.T) *slog.Logger {
	var ended atomic.Bool
	t.Cleanup(func() { ended.Store(true) })
	w := writerFunc(func(b []byte) (int, error) {
		if !ended.Load() {
			t.Logf("%s", bytes.TrimRight(b, "\n"))
		}
		return len(b), nil
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// hil is a driver on a symlinked pty, fed by a Device.
type hil struct {
	t    *testing.T
	link string
	dev  *Device
	drv  *Dev
	sink *recSink

	mu        sync.Mutex
	pty       *serialtest.PTY
	devCancel context.CancelFunc
	devDone   chan error
}

// newHIL starts the driver on a link in a temporary directory and plugs a
// device in. tune, when not nil, adjusts the driver's timing before it runs.
func newHIL(t *testing.T, opts DeviceOpts, sensor int, tune func(*Dev)) *hil {
	t.Helper()
	dev, err := NewDevice(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &hil{t: t, link: filepath.Join(t.TempDir(), "ttyCMS50"), dev: dev, sink: newRecSink()}
	h.plug()
	drv, err := New(h.link, &Opts{Protocol: opts.Protocol, Sensor: sensor, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	drv.port.ReadTimeout = 20 * time.Millisecond
	drv.port.MinBackoff = 10 * time.Millisecond
	drv.port.MaxBackoff = 100 * time.Millisecond
	drv.statusEvery = 50 * time.Millisecond
	drv.keepAliveEvery = 100 * time.Millisecond
	if tune != nil {
		tune(drv)
	}
	h.drv = drv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("driver Run: %v", err)
			}
		case <-time.After(hilTimeout):
			t.Error("driver Run did not return after cancel")
		}
		h.unplug()
	})
	go func() { done <- drv.Run(ctx, h.sink) }()
	return h
}

// plug makes a new pty, points the link at it and runs the device on it.
func (h *hil) plug() {
	h.t.Helper()
	p := serialtest.New(h.t)
	serialtest.Link(h.t, h.link, p.Name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.dev.Run(ctx, p.Master) }()
	h.mu.Lock()
	h.pty, h.devCancel, h.devDone = p, cancel, done
	h.mu.Unlock()
}

// unplug stops the device, removes the link and closes the pty, as pulling
// the cable does (udev removes the by-id link). Leaving the link would point
// it at a /dev/pts number that another process's pty may take next: the
// driver would then open that one.
func (h *hil) unplug() {
	h.mu.Lock()
	p, cancel, done := h.pty, h.devCancel, h.devDone
	h.pty = nil
	h.mu.Unlock()
	if p == nil {
		return
	}
	if err := os.Remove(h.link); err != nil {
		h.t.Errorf("remove link: %v", err)
	}
	cancel()
	<-done
	p.Unplug()
}

// readings gives the number of readings so far.
func (h *hil) readings() int {
	r, _ := h.sink.snapshot()
	return len(r)
}

// lastStatus gives the latest Status, and whether there was one.
func (h *hil) lastStatus() (vitals.Status, bool) {
	_, st := h.sink.snapshot()
	if len(st) == 0 {
		return vitals.Status{}, false
	}
	return st[len(st)-1], true
}

// waitReadings waits for n more readings than there are now.
func (h *hil) waitReadings(n int) {
	h.t.Helper()
	from := h.readings()
	h.waitFor(fmt.Sprintf("%d more readings", n), func() bool { return h.readings() >= from+n })
}

// checkReadings checks every reading is one of the allowed (spo2, pr) pairs'
// values, with no flags and the right sensor: a garbled packet must never
// turn into a number.
func (h *hil) checkReadings(sensor int, states ...State) {
	h.t.Helper()
	rs, _ := h.sink.snapshot()
	for i, r := range rs {
		ok := false
		for _, s := range states {
			if (r.Param == vitals.SpO2 && r.Value == s.SpO2) || (r.Param == vitals.Pulse && r.Value == s.PR) {
				ok = true
			}
		}
		if !ok || r.Flags != 0 || r.Sensor != sensor {
			h.t.Fatalf("reading %d is %+v: not from any state the device had", i, r)
		}
	}
	// SpO2 and pulse alternate, one pair per packet.
	for i := 0; i+1 < len(rs); i += 2 {
		if rs[i].Param != vitals.SpO2 || rs[i+1].Param != vitals.Pulse {
			h.t.Fatalf("readings %d, %d out of order: %+v %+v", i, i+1, rs[i], rs[i+1])
		}
	}
}

// checkStatuses checks the counts only grow and carry the sensor index.
func (h *hil) checkStatuses(sensor int) {
	h.t.Helper()
	_, sts := h.sink.snapshot()
	for i, st := range sts {
		if st.Sensor != sensor {
			h.t.Fatalf("status %d for sensor %d", i, st.Sensor)
		}
		if i > 0 && (st.Frames < sts[i-1].Frames || st.Garbled < sts[i-1].Garbled) {
			h.t.Fatalf("status went back: %+v after %+v", st, sts[i-1])
		}
	}
}

// garbage is a noise burst that must not yield a reading: random bytes, a
// packet cut short, and packets with plausible but wrong values that each
// break the framing in one place.
func garbage(p Protocol) []byte {
	rng := rand.New(rand.NewPCG(7, 11))
	var g []byte
	if p == Live9 {
		for range 300 {
			g = append(g, byte(rng.UintN(256)))
		}
		bogus := State{SpO2: 50, PR: 200, Signal: 5}
		bad := AppendLive9(nil, bogus)
		bad[8] = 0xFE // wrong trailer
		g = append(g, bad...)
		g = append(g, AppendLive9(nil, bogus)[:6]...) // cut short
		return g
	}
	// Legacy has no checksum: noise with bit 7 set could frame. Use bytes
	// that cannot (bit 7 clear with no sync before them), then a cut packet.
	for range 60 {
		g = append(g, byte(rng.UintN(128)))
	}
	return append(g, AppendLegacy(nil, State{SpO2: 50, PR: 200, Signal: 5})[:3]...)
}

func TestHILLive9(t *testing.T) {
	const sensor = 2
	s1 := State{SpO2: 97, PR: 65, Pleth: 40, Bar: 3, Signal: 5}
	h := newHIL(t, DeviceOpts{Protocol: Live9, State: s1, KeepAliveTimeout: 400 * time.Millisecond}, sensor, nil)

	// The device hears the start command and streams; the values are exact.
	h.waitFor("the start command", func() bool { return h.dev.Stats().Starts >= 1 })
	h.waitReadings(20)
	h.checkReadings(sensor, s1)

	// Keep-alives keep it going well past the device's 400 ms timeout.
	time.Sleep(1200 * time.Millisecond)
	h.waitReadings(2)
	if st := h.dev.Stats(); st.Timeouts != 0 || st.KeepAlives < 3 || st.Starts != 1 {
		t.Errorf("device stats %+v: want keep-alives, no timeout, one start", st)
	}

	// A change of state reaches the sink.
	s2 := s1
	s2.SpO2 = 88
	h.dev.Set(s2)
	h.waitFor("SpO2 88", func() bool {
		rs, _ := h.sink.snapshot()
		for _, r := range rs {
			if r.Param == vitals.SpO2 && r.Value == 88 {
				return true
			}
		}
		return false
	})

	// A garbage burst raises the garbled count and yields no bogus value.
	st0, _ := h.lastStatus()
	h.dev.Inject(garbage(Live9))
	h.waitFor("the garbled count to rise", func() bool {
		st, _ := h.lastStatus()
		return st.Garbled > st0.Garbled+30 // 300 noise bytes are 34 frames' worth
	})
	h.waitReadings(20)
	h.checkReadings(sensor, s1, s2)

	// Unplug: readings stop. Replug a new pty behind the same link: the
	// driver reopens, sends start again, and readings resume.
	h.unplug()
	time.Sleep(300 * time.Millisecond)
	stopped := h.readings()
	time.Sleep(300 * time.Millisecond)
	if n := h.readings(); n != stopped {
		t.Fatalf("%d readings arrived while unplugged", n-stopped)
	}
	h.plug()
	h.waitFor("start after replug", func() bool { return h.dev.Stats().Starts >= 2 })
	h.waitReadings(20)
	h.checkReadings(sensor, s1, s2)
	h.checkStatuses(sensor)
	st, _ := h.lastStatus()
	if st.Frames < 60 {
		t.Errorf("last status %+v", st)
	}
}

// TestHILLive9Restart lets the device time out between keep-alives: the
// driver sees no live data since its last command and sends start again.
func TestHILLive9Restart(t *testing.T) {
	s := State{SpO2: 95, PR: 80, Signal: 4}
	h := newHIL(t, DeviceOpts{Protocol: Live9, State: s, KeepAliveTimeout: 50 * time.Millisecond}, 0,
		func(d *Dev) { d.keepAliveEvery = 200 * time.Millisecond })
	h.waitFor("a timeout and a second start", func() bool {
		st := h.dev.Stats()
		return st.Timeouts >= 1 && st.Starts >= 2
	})
	h.waitReadings(10)
	h.checkReadings(0, s)
}

func TestHILLegacy(t *testing.T) {
	const sensor = 1
	s := State{SpO2: 93, PR: 140, Pleth: 20, Bar: 4, Signal: 6}
	h := newHIL(t, DeviceOpts{Protocol: Legacy, State: s}, sensor, nil)
	h.waitReadings(20)
	h.checkReadings(sensor, s)
	st0, _ := h.lastStatus()
	h.dev.Inject(garbage(Legacy))
	h.waitFor("the garbled count to rise", func() bool {
		st, _ := h.lastStatus()
		return st.Garbled > st0.Garbled+10
	})
	h.waitReadings(20)
	h.checkReadings(sensor, s)
	if n := h.dev.Stats().Noise; n != 0 {
		t.Errorf("the legacy driver wrote %d bytes to the device", n)
	}
	h.checkStatuses(sensor)
}

// TestHILSilenceReopen plugs in a pty with no device behind it: the driver
// must close and reopen the port after silenceReopen, and keep sending the
// start command meanwhile.
func TestHILSilenceReopen(t *testing.T) {
	var opens atomic.Int32
	h := newHIL(t, DeviceOpts{Protocol: Live9}, 0, func(d *Dev) {
		d.silenceReopen = 150 * time.Millisecond
		d.port.Open = func(path string, mode *serial.Mode) (serial.Port, error) {
			opens.Add(1)
			return serial.Open(path, mode)
		}
	})
	h.unplug() // the device goes; a new pty with nothing behind it: a device switched off
	p := serialtest.New(t)
	serialtest.Link(t, h.link, p.Name)
	master := p.Master
	from := opens.Load()
	h.waitFor("two reopens", func() bool { return opens.Load() >= from+2 })
	// The driver sent start on each open; read them off the master.
	buf := make([]byte, 4*live9Len)
	if _, err := io.ReadFull(master, buf); err != nil {
		t.Fatal(err)
	}
	start := Command(CmdStartLive, 0)
	for i := 0; i < len(buf); i += live9Len {
		if !bytes.Equal(buf[i:i+live9Len], start[:]) {
			t.Fatalf("driver wrote % X, want start commands", buf)
		}
	}
	if n := h.readings(); n != 0 {
		t.Errorf("%d readings from a silent port", n)
	}
}
