package suntech

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// pipePort joins two os.Pipes into the model's port: reads come from r,
// writes go to w. Pipes buffer, so the model never blocks on the test.
type pipePort struct{ r, w *os.File }

func (p pipePort) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p pipePort) Write(b []byte) (int, error) { return p.w.Write(b) }

// modelHost is the test's end of a running Module.
type modelHost struct {
	t      *testing.T
	m      *Module
	clock  *ScaledClock
	toMod  *os.File
	frames chan Frame
	stats  chan ParserStats
}

func newModelHost(t *testing.T) *modelHost {
	t.Helper()
	hr, mw, err := os.Pipe() // module → host
	if err != nil {
		t.Fatal(err)
	}
	mr, hw, err := os.Pipe() // host → module
	if err != nil {
		t.Fatal(err)
	}
	clock := NewScaledClock(1)
	h := &modelHost{t: t, m: NewModule(pipePort{mr, mw}, clock), clock: clock, toMod: hw,
		frames: make(chan Frame, 100), stats: make(chan ParserStats, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- h.m.Run(ctx) }()
	go func() {
		var p Parser
		buf := make([]byte, 256)
		for {
			n, err := hr.Read(buf)
			b := buf[:n]
			for {
				f, k, ok := p.Next(b)
				b = b[k:]
				if !ok {
					break
				}
				h.frames <- f
			}
			h.stats <- p.Stats()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Module.Run: %v", err)
		}
		for _, f := range []*os.File{hr, mw, mr, hw} {
			_ = f.Close()
		}
	})
	return h
}

func (h *modelHost) send(b []byte) {
	h.t.Helper()
	if _, err := h.toMod.Write(b); err != nil {
		h.t.Fatal(err)
	}
}

// expect waits for the next frame and checks its description.
func (h *modelHost) expect(want string) Frame {
	h.t.Helper()
	select {
	case f := <-h.frames:
		if want != "" && f.String() != want {
			h.t.Fatalf("got %v, want %s", &f, want)
		}
		return f
	case <-time.After(2 * time.Second):
		h.t.Fatalf("no frame, want %s", want)
	}
	return Frame{}
}

// expectNone checks that nothing arrives for d.
func (h *modelHost) expectNone(d time.Duration) {
	h.t.Helper()
	select {
	case f := <-h.frames:
		h.t.Fatalf("unexpected %v", &f)
	case <-time.After(d):
	}
}

func (h *modelHost) pressure() int16 {
	h.t.Helper()
	h.send(GetCuffPressure().Bytes())
	f := h.expect("")
	if f.Kind != KindPressure {
		h.t.Fatalf("got %v, want a pressure", &f)
	}
	return f.Pressure
}

func TestModuleCycle(t *testing.T) {
	h := newModelHost(t)
	h.m.Queue(Measurement{Sys: 131, Dia: 87, Map: 102, HR: 66, Duration: 40 * time.Second})
	if p := h.pressure(); p != 0 {
		t.Errorf("idle pressure %d", p)
	}
	h.send(StartBP(Adult).Bytes())
	h.expect("ack 'O' received")
	if !h.m.Measuring() {
		t.Fatal("not measuring after start")
	}
	h.clock.Skip(4 * time.Second) // 10 %: inflating
	p1 := h.pressure()
	h.clock.Skip(3 * time.Second) // 17.5 %
	p2 := h.pressure()
	h.clock.Skip(13 * time.Second) // 50 %: deflating
	p3 := h.pressure()
	if !(0 < p1 && p1 < p2 && p2 > p3 && p3 > 0) {
		t.Errorf("pressure should rise then fall: %d %d %d", p1, p2, p3)
	}
	h.clock.Skip(20 * time.Second) // the end: an unsolicited 'K'
	h.expect("ack 'K' done")
	if h.m.Measuring() {
		t.Error("still measuring after 'K'")
	}
	h.send(GetBPData().Bytes())
	h.expect("result SYS 131 DIA 87 MAP 102 HR 66 error 0x00")
	want := []string{"get cuff pressure", "start adult", "get cuff pressure", "get cuff pressure", "get cuff pressure", "get BP data"}
	if got := h.m.Received(); !slices.Equal(got, want) {
		t.Errorf("received %q", got)
	}
}

func TestModuleQueueThenSet(t *testing.T) {
	h := newModelHost(t)
	h.m.Set(Measurement{Sys: 100, Dia: 60, Map: 73, HR: 50, Duration: time.Second})
	h.m.Queue(Measurement{Sys: 0, Dia: 0, ErrorCode: InflateTimeout, Duration: time.Second},
		Measurement{Sys: 150, Dia: 95, Map: 113, HR: 90, Duration: time.Second})
	for _, want := range []string{
		"result SYS 0 DIA 0 MAP 0 HR 0 error 0x57",
		"result SYS 150 DIA 95 MAP 113 HR 90 error 0x00",
		"result SYS 100 DIA 60 MAP 73 HR 50 error 0x00",
		"result SYS 100 DIA 60 MAP 73 HR 50 error 0x00",
	} {
		h.send(StartBP(Adult).Bytes())
		h.expect("ack 'O' received")
		h.clock.Skip(time.Second)
		h.expect("ack 'K' done")
		h.send(GetBPData().Bytes())
		h.expect(want)
	}
}

func TestModuleBusyAndAbort(t *testing.T) {
	h := newModelHost(t)
	h.send(StartBP(Adult).Bytes())
	h.expect("ack 'O' received")
	h.send(StartBP(Adult).Bytes())
	h.expect("ack 'B' busy")
	h.send(SetInitialInflation(180).Bytes())
	h.expect("ack 'B' busy")
	h.send(Abort().Bytes())
	h.expect("ack 'A' aborted")
	if h.m.Measuring() {
		t.Error("measuring after abort")
	}
	if p := h.pressure(); p != 0 {
		t.Errorf("pressure %d after abort", p)
	}
	h.send(GetBPData().Bytes())
	h.expect("result SYS 0 DIA 0 MAP 0 HR 0 error 0x56")
	h.send(Abort().Bytes()) // idle abort is answered too
	h.expect("ack 'A' aborted")
	h.expectNone(100 * time.Millisecond) // the aborted cycle sends no 'K'
}

func TestModuleBadFrames(t *testing.T) {
	h := newModelHost(t)
	h.send([]byte{0x3A, 0x20, 0xA7}) // bad checksum
	h.expect("ack 'N' bad frame or parameter")
	h.send([]byte{0x3A, 0x99}) // undocumented command byte
	h.expect("ack 'D' unrecognised command")
	h.send(newCommand(cmdRequest, 0x42, 0x00).Bytes()) // unknown request, valid checksum
	h.expect("ack 'D' unrecognised command")
	h.send([]byte{0x00, 0xFF, 0x13}) // noise between commands is ignored
	h.send([]byte{0x3A, 0x79})       // a command cut short, then quiet
	h.expect("ack 'N' bad frame or parameter")
	h.send(ModuleData().Bytes())
	if f := h.expect(""); string(f.Text()) != DefaultVersion {
		t.Errorf("version %q", f.Text())
	}
	h.m.SetVersion("SB2.0")
	h.send(ReturnString().Bytes())
	if f := h.expect(""); string(f.Text()) != "SB2.0" {
		t.Errorf("version %q", f.Text())
	}
	for _, c := range []Command{Status(), StatusAPlus(), Reset(), ControlPneumatics(false, false, true), SetInitialInflation(150)} {
		h.send(c.Bytes())
		h.expect("ack 'K' done")
	}
}

func TestModuleSilentAndInject(t *testing.T) {
	h := newModelHost(t)
	h.m.Set(Measurement{Sys: 120, Dia: 80, Duration: time.Second})
	h.m.SetSilent(true)
	h.send(StartBP(Adult).Bytes())
	h.expectNone(150 * time.Millisecond)
	if !h.m.Measuring() {
		t.Fatal("a silent model still measures")
	}
	h.clock.Skip(time.Second)
	h.expectNone(100 * time.Millisecond) // its 'K' is lost
	h.m.SetSilent(false)
	if p := h.pressure(); p != 0 {
		t.Errorf("pressure %d", p)
	}
	if err := h.m.Inject([]byte{0x3E, 0x05, 0x02, 0x01, 0xB1, 0x55}); err != nil {
		t.Fatal(err)
	}
	h.send(GetBPData().Bytes())
	h.expect("result SYS 120 DIA 80 MAP 0 HR 0 error 0x00")
	deadline := time.After(2 * time.Second)
	for {
		select {
		case st := <-h.stats:
			if st.Garbled > 0 {
				return
			}
		case <-deadline:
			t.Fatal("injected garbage not seen as garbled")
		}
	}
}

// The model's command decoder must read back every command constructor.
func TestHostDecoderRoundTrip(t *testing.T) {
	for name, c := range commandsByName {
		var h hostDecoder
		var got Command
		var n int
		for _, b := range c.Bytes() {
			if cmd, nak, ok := h.feed(b); ok {
				if nak != 0 {
					t.Fatalf("%s: nak %v", name, nak)
				}
				got, n = cmd, n+1
			}
		}
		if n != 1 || got != c {
			t.Errorf("%s: decoded %v (%d commands)", name, got, n)
		}
	}
}

// FuzzHostDecoder: the model's decoder must not panic or overrun on any input.
func FuzzHostDecoder(f *testing.F) {
	f.Add([]byte{0x3A, 0x20, 0xA6, 0x3A, 0x79, 0x05, 0x00, 0x48})
	f.Add([]byte{0x3A, 0x0C, 0x00, 0x01, 0x01, 0xB8, 0x3A})
	f.Fuzz(func(t *testing.T, in []byte) {
		var h hostDecoder
		for _, b := range in {
			c, nak, ok := h.feed(b)
			if h.n > maxCommandLen {
				t.Fatalf("holds %d bytes", h.n)
			}
			if ok && nak == 0 && (!ValidChecksum(c.b[:c.n]) || c.b[0] != HostStart) {
				t.Fatalf("invalid command accepted: %v", c)
			}
		}
	})
}
