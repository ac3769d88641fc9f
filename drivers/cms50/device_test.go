package cms50

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// manualTicker is stepped by the test: each send is one tick at that time.
type manualTicker struct {
	c      chan time.Time
	period time.Duration
}

func (m *manualTicker) C() <-chan time.Time { return m.c }
func (m *manualTicker) Stop()               {}

// memPort is the device's side of a fake serial line: the device reads what
// the host sends and its writes collect in a buffer.
type memPort struct {
	in *io.PipeReader // commands from the host

	mu     sync.Mutex
	out    bytes.Buffer
	failed error // returned by Write when set
}

func (m *memPort) Read(b []byte) (int, error) { return m.in.Read(b) }

func (m *memPort) Write(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed != nil {
		return 0, m.failed
	}
	return m.out.Write(b)
}

// take returns and clears what the device wrote.
func (m *memPort) take() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := bytes.Clone(m.out.Bytes())
	m.out.Reset()
	return b
}

// devHarness runs a Device on a memPort with a manual ticker.
type devHarness struct {
	t      *testing.T
	dev    *Device
	ticker *manualTicker
	port   *memPort
	host   *io.PipeWriter
	now    time.Time
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func newDevHarness(t *testing.T, p Protocol, s State) *devHarness {
	t.Helper()
	tk := &manualTicker{c: make(chan time.Time)}
	dev, err := NewDevice(DeviceOpts{Protocol: p, State: s, NewTicker: func(d time.Duration) Ticker {
		tk.period = d
		return tk
	}})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	h := &devHarness{t: t, dev: dev, ticker: tk, port: &memPort{in: pr}, host: pw,
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- dev.Run(ctx, h.port) }()
	t.Cleanup(func() {
		h.stop()
		_ = pw.Close() // ends the command reader
	})
	return h
}

// stop cancels Run and checks it returned nil; later calls do nothing.
func (h *devHarness) stop() {
	h.once.Do(func() {
		h.cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			h.t.Fatal("Run did not return")
		}
	})
}

// tick advances the fake clock by d and delivers one tick.
func (h *devHarness) tick(d time.Duration) {
	h.now = h.now.Add(d)
	select {
	case h.ticker.c <- h.now:
	case <-time.After(5 * time.Second):
		h.t.Fatal("device did not take a tick")
	}
}

// tickWait delivers one tick to a streaming device and waits until it has
// composed that tick's packet, so a Set after it applies to the next one.
func (h *devHarness) tickWait() {
	h.t.Helper()
	before := h.dev.Stats().Packets
	h.tick(DefaultPeriod)
	deadline := time.Now().Add(5 * time.Second)
	for h.dev.Stats().Packets == before {
		if time.Now().After(deadline) {
			h.t.Fatal("device sent no packet on a tick")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// ticks delivers n ticks one period apart.
func (h *devHarness) ticks(n int) {
	for range n {
		h.tick(DefaultPeriod)
	}
}

// commands gives the number of commands the device has acted on.
func (s DeviceStats) commands() uint64 { return s.Starts + s.KeepAlives + s.Stops + s.Other }

// send writes a command and waits until the device has acted on it. Since
// ticks and commands go through the same loop, everything sent before has
// then been written too: send doubles as a barrier.
func (h *devHarness) send(cmd byte) {
	h.t.Helper()
	before := h.dev.Stats().commands()
	c := Command(cmd, 0)
	if _, err := h.host.Write(c[:]); err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.dev.Stats().commands() == before {
		if time.Now().After(deadline) {
			h.t.Fatalf("device did not act on command %02X", cmd)
		}
		time.Sleep(time.Millisecond)
	}
}

// barrier makes sure every tick sent so far has been written out.
func (h *devHarness) barrier() { h.send(0xA8) } // "get model": ignored by the model

func TestDeviceLive9SilentUntilStart(t *testing.T) {
	h := newDevHarness(t, Live9, base)
	h.ticks(30)
	if h.ticker.period != DefaultPeriod { // read after a tick: Run set it before
		t.Errorf("ticker period %v, want %v", h.ticker.period, DefaultPeriod)
	}
	h.barrier()
	if out := h.port.take(); len(out) != 0 {
		t.Fatalf("device wrote % X before the start command", out)
	}
	h.send(CmdStartLive)
	h.ticks(3)
	h.barrier()
	if got, want := h.port.take(), stream(Live9, base, 3); !bytes.Equal(got, want) {
		t.Errorf("after start wrote\n% X\nwant\n% X", got, want)
	}
	st := h.dev.Stats()
	if st.Starts != 1 || st.Packets != 3 || !st.Streaming || st.Other != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeviceLive9StopCommands(t *testing.T) {
	for _, stop := range []byte{CmdStopLive, CmdStopStored} {
		h := newDevHarness(t, Live9, base)
		h.send(CmdStartLive)
		h.ticks(2)
		h.send(stop)
		h.ticks(10)
		h.barrier()
		want := append(stream(Live9, base, 2), TypeAck, 0x80)
		if got := h.port.take(); !bytes.Equal(got, want) {
			t.Errorf("stop %02X: wrote\n% X\nwant\n% X", stop, got, want)
		}
		if st := h.dev.Stats(); st.Stops != 1 || st.Streaming {
			t.Errorf("stop %02X: stats %+v", stop, st)
		}
		h.stop()
	}
}

// packetsWithin gives how many ticks one period apart (the first at 0) fall
// within timeout: what a device streams after a start with no keep-alive.
func packetsWithin(timeout time.Duration) int {
	n := 0
	for k := time.Duration(0); k*DefaultPeriod <= timeout; k++ {
		n++
	}
	return n
}

func TestDeviceLive9KeepAliveTimeout(t *testing.T) {
	h := newDevHarness(t, Live9, base)
	h.send(CmdStartLive)
	h.ticks(60 * 8) // 8 s without a keep-alive
	h.barrier()
	want := packetsWithin(DefaultKeepAliveTimeout)
	if got := len(h.port.take()) / live9Len; got != want {
		t.Errorf("streamed %d packets without keep-alive, want %d", got, want)
	}
	if st := h.dev.Stats(); st.Timeouts != 1 || st.Streaming {
		t.Errorf("stats %+v", st)
	}
	// A keep-alive does not restart a stopped stream; a start does.
	h.send(CmdKeepAlive)
	h.ticks(5)
	h.barrier()
	if out := h.port.take(); len(out) != 0 {
		t.Errorf("keep-alive restarted the stream: % X", out)
	}
	h.send(CmdStartLive)
	h.ticks(5)
	h.barrier()
	if got := len(h.port.take()); got != 5*live9Len {
		t.Errorf("restart wrote %d bytes, want %d", got, 5*live9Len)
	}
}

func TestDeviceLive9KeepAliveKeepsStreaming(t *testing.T) {
	h := newDevHarness(t, Live9, base)
	h.send(CmdStartLive)
	const seconds = 20
	for s := range seconds {
		if s%2 == 1 {
			h.send(CmdKeepAlive)
		}
		h.ticks(60)
	}
	h.barrier()
	if got := len(h.port.take()) / live9Len; got != seconds*60 {
		t.Errorf("streamed %d packets in %d s with keep-alives, want %d", got, seconds, seconds*60)
	}
	if st := h.dev.Stats(); st.Timeouts != 0 || !st.Streaming || st.KeepAlives != seconds/2 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeviceLegacyStreamsAtOnce(t *testing.T) {
	s := base
	h := newDevHarness(t, Legacy, s)
	for range 4 {
		h.tickWait()
	}
	s.SpO2 = 88
	h.dev.Set(s)
	h.ticks(2)
	// Commands mean nothing to a legacy device: it counts them as noise.
	c := Command(CmdStopLive, 0)
	if _, err := h.host.Write(c[:]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.dev.Stats().Noise < live9Len && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.ticks(61 * 60) // a minute: no keep-alive needed
	h.stop()
	out := h.port.take()
	want := append(stream(Legacy, base, 4), stream(Legacy, s, 2)...)
	if !bytes.HasPrefix(out, want) || len(out) != (6+61*60)*legacyLen {
		t.Errorf("wrote %d bytes starting % X", len(out), out[:min(len(out), 40)])
	}
	if st := h.dev.Stats(); st.Noise != live9Len || st.Stops != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeviceInject(t *testing.T) {
	h := newDevHarness(t, Live9, base)
	h.dev.Inject([]byte{0xDE, 0xAD}) // written even while silent
	h.tick(DefaultPeriod)
	h.send(CmdStartLive)
	h.dev.Inject([]byte{0x01, 0xE0})
	h.ticks(2)
	h.barrier()
	want := append([]byte{0xDE, 0xAD, 0x01, 0xE0}, stream(Live9, base, 2)...)
	if got := h.port.take(); !bytes.Equal(got, want) {
		t.Errorf("wrote\n% X\nwant\n% X", got, want)
	}
}

// TestDeviceConcurrentSet changes the state from other goroutines while the
// device streams (for the race detector) and checks every packet is one of
// the states set.
func TestDeviceConcurrentSet(t *testing.T) {
	h := newDevHarness(t, Legacy, base)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := base
				s.PR = int16(50 + g*10 + i%10)
				h.dev.Set(s)
				_ = h.dev.State()
				_ = h.dev.Stats()
			}
		}()
	}
	h.ticks(300)
	wg.Wait()
	h.stop()
	pkts, d := decodeAll(t, Legacy, closed(Legacy, h.port.take()))
	if len(pkts) != 300 || d.Stats().Garbled != 0 {
		t.Fatalf("%d packets, stats %+v", len(pkts), d.Stats())
	}
	for _, p := range pkts {
		if p.PR < 50 || p.PR > 89 {
			t.Fatalf("packet with PR %d", p.PR)
		}
	}
}

func TestDeviceRunWriteError(t *testing.T) {
	tk := &manualTicker{c: make(chan time.Time)}
	dev, _ := NewDevice(DeviceOpts{Protocol: Legacy, NewTicker: func(time.Duration) Ticker { return tk }})
	pr, pw := io.Pipe()
	defer pw.Close()
	boom := errors.New("unplugged")
	port := &memPort{in: pr, failed: boom}
	done := make(chan error, 1)
	go func() { done <- dev.Run(context.Background(), port) }()
	tk.c <- time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Run returned %v, want %v wrapped", err, boom)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a write error")
	}
	if dev.Stats().Streaming {
		t.Error("still streaming after Run returned")
	}
}

func TestNewDeviceValidates(t *testing.T) {
	for _, o := range []DeviceOpts{
		{},
		{Protocol: 9},
		{Protocol: Live9, Period: -1},
		{Protocol: Live9, KeepAliveTimeout: -time.Second},
	} {
		if d, err := NewDevice(o); err == nil || d != nil {
			t.Errorf("NewDevice(%+v) = %v, %v", o, d, err)
		}
	}
	if err := (&Device{}).Run(context.Background(), nil); err == nil {
		t.Error("Run(nil) did not fail")
	}
}

func TestCmdParser(t *testing.T) {
	start := Command(CmdStartLive, 0)
	keep := Command(CmdKeepAlive, 0)
	tests := []struct {
		name  string
		in    []byte
		cmds  []byte
		noise int
	}{
		{"one", start[:], []byte{CmdStartLive}, 0},
		{"two", append(start[:], keep[:]...), []byte{CmdStartLive, CmdKeepAlive}, 0},
		{"noise before", append([]byte{0x00, 0x81, 0xFF}, start[:]...), []byte{CmdStartLive}, 3},
		{"7D 7D", append([]byte{0x7D}, start[:]...), []byte{CmdStartLive}, 1},
		{"cut by a new command", append(append([]byte{}, start[:5]...), keep[:]...), []byte{CmdKeepAlive}, 5},
		{"byte without bit 7", []byte{0x7D, 0x81, 0xA1, 0x80, 0x00, 0x80, 0x80, 0x80, 0x80}, nil, 9},
		{"argument", func() []byte { c := Command(0xA6, 3); return c[:] }(), []byte{0xA6}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p cmdParser
			var cmds []byte
			noise := 0
			for _, c := range tc.in {
				cmd, ok, n := p.feed(c)
				noise += n
				if ok {
					cmds = append(cmds, cmd)
				}
			}
			if !bytes.Equal(cmds, tc.cmds) || noise != tc.noise {
				t.Errorf("commands % X noise %d, want % X noise %d", cmds, noise, tc.cmds, tc.noise)
			}
		})
	}
}

func TestCommandBytes(t *testing.T) {
	// The start command every Live9 script sends, byte for byte.
	if got, want := Command(CmdStartLive, 0), [9]byte{0x7D, 0x81, 0xA1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}; got != want {
		t.Errorf("start = % X, want % X", got, want)
	}
	if got, want := Command(CmdKeepAlive, 0), [9]byte{0x7D, 0x81, 0xAF, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}; got != want {
		t.Errorf("keep-alive = % X, want % X", got, want)
	}
	// OSCAR ORs a session argument into byte 4 (0-based).
	if got := Command(0xA6, 2); got[4] != 0x82 {
		t.Errorf("argument in % X", got)
	}
}
