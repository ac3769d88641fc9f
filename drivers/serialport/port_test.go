package serialport_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"go.bug.st/serial"
)

// waitTimeout bounds every wait in these tests; reaching it is a failure,
// never the expected path, so it can be generous.
const waitTimeout = 5 * time.Second

// harness runs Run in the background and reports what its sessions see.
type harness struct {
	t      *testing.T
	ports  chan *serialport.Port // each opened port, as the session starts
	data   chan []byte           // bytes read by readSession
	ended  chan error            // what ended each readSession
	cancel context.CancelFunc
	done   chan error // Run's result
}

func start(t *testing.T, cfg serialport.Config, reading bool) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{
		t: t, ports: make(chan *serialport.Port, 16), data: make(chan []byte, 64),
		ended: make(chan error, 16), cancel: cancel, done: make(chan error, 1),
	}
	session := h.holdSession
	if reading {
		session = h.readSession
	}
	go func() { h.done <- serialport.Run(ctx, cfg, session) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return after cancel")
		}
	})
	return h
}

// holdSession hands the port to the test and waits for cancellation, so the
// test can call Read itself.
func (h *harness) holdSession(ctx context.Context, p *serialport.Port) error {
	h.ports <- p
	<-ctx.Done()
	return nil
}

// readSession is a driver's read loop: it forwards bytes and returns on the
// first error that is not a timeout.
func (h *harness) readSession(ctx context.Context, p *serialport.Port) error {
	h.ports <- p
	for {
		buf := make([]byte, 64)
		n, err := p.Read(buf)
		if n > 0 {
			h.data <- buf[:n]
		}
		if err != nil && !errors.Is(err, serialport.ErrTimeout) {
			h.ended <- err
			return err
		}
	}
}

func (h *harness) port() *serialport.Port {
	h.t.Helper()
	select {
	case p := <-h.ports:
		return p
	case <-time.After(waitTimeout):
		h.t.Fatalf("no port opened within %v", waitTimeout)
		return nil
	}
}

// read collects n bytes from readSession.
func (h *harness) read(n int) string {
	h.t.Helper()
	var got []byte
	for len(got) < n {
		select {
		case b := <-h.data:
			got = append(got, b...)
		case <-time.After(waitTimeout):
			h.t.Fatalf("read %q, want %d bytes", got, n)
		}
	}
	return string(got)
}

func (h *harness) sessionEnd() error {
	h.t.Helper()
	select {
	case err := <-h.ended:
		return err
	case <-time.After(waitTimeout):
		h.t.Fatalf("session did not end within %v", waitTimeout)
		return nil
	}
}

func ptyConfig(path string) serialport.Config {
	return serialport.Config{
		Path:        path,
		Mode:        serial.Mode{BaudRate: 9600},
		ReadTimeout: 20 * time.Millisecond,
		MinBackoff:  5 * time.Millisecond,
		MaxBackoff:  50 * time.Millisecond,
	}
}

func TestReadTimeoutAndData(t *testing.T) {
	pt := serialtest.New(t)
	h := start(t, ptyConfig(pt.Name), false)
	p := h.port()

	t0 := time.Now()
	n, err := p.Read(make([]byte, 8))
	if n != 0 || !errors.Is(err, serialport.ErrTimeout) {
		t.Fatalf("Read on a silent port = %d, %v; want 0, ErrTimeout", n, err)
	}
	if d := time.Since(t0); d < 15*time.Millisecond {
		t.Errorf("timeout came after %v, before the 20ms read timeout", d)
	}
	if serialport.IsUnplug(err) {
		t.Errorf("IsUnplug(ErrTimeout) = true")
	}
	if n, err := p.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}

	// Bytes a tty would mangle in cooked mode pass unchanged.
	want := []byte{0x00, 0x03, 0x0d, 0x0a, 0x11, 0x13, 0x7f, 0xff, 0x01, 0x81}
	if _, err := pt.Master.Write(want); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 16)
	for deadline := time.Now().Add(waitTimeout); len(got) < len(want) && time.Now().Before(deadline); {
		n, err := p.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil && !errors.Is(err, serialport.ErrTimeout) {
			t.Fatalf("Read: %v", err)
		}
	}
	if string(got) != string(want) {
		t.Errorf("read % x, want % x", got, want)
	}

	// And the other way: a driver's command reaches the device.
	if _, err := p.Write([]byte("ping")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	cmd := make([]byte, 4)
	if _, err := io.ReadFull(pt.Master, cmd); err != nil || string(cmd) != "ping" {
		t.Errorf("master read %q, %v; want ping", cmd, err)
	}
	if s := p.String(); s != pt.Name {
		t.Errorf("String() = %q, want %q", s, pt.Name)
	}
}

func TestUnplugThenReplugAtSymlink(t *testing.T) {
	link := filepath.Join(t.TempDir(), "usb-Nonin_OEM_III-if00-port0")
	pt1 := serialtest.New(t)
	serialtest.Link(t, link, pt1.Name)

	var opens atomic.Int32
	cfg := ptyConfig(link)
	cfg.Open = func(path string, mode *serial.Mode) (serial.Port, error) {
		opens.Add(1)
		return serial.Open(path, mode)
	}
	h := start(t, cfg, true)

	p1 := h.port()
	if s, want := p1.String(), link+" -> "+pt1.Name; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}
	if _, err := pt1.Master.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if got := h.read(3); got != "one" {
		t.Fatalf("first device: read %q", got)
	}

	pt1.Unplug()
	if err := h.sessionEnd(); !serialport.IsUnplug(err) {
		t.Fatalf("session ended with %v; IsUnplug = false", err)
	}
	if _, err := p1.Write([]byte("x")); !serialport.IsUnplug(err) {
		t.Errorf("Write after the session ended: %v; IsUnplug = false", err)
	}

	// While the link still points at the dead pty, Run keeps retrying.
	before := opens.Load()
	for deadline := time.Now().Add(waitTimeout); opens.Load() < before+2; {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not retry the stale link (opens %d)", opens.Load())
		}
		time.Sleep(time.Millisecond)
	}

	// Replug: a new pty, with another name, behind the same link.
	pt2 := serialtest.New(t)
	serialtest.Link(t, link, pt2.Name)
	var p2 *serialport.Port
	for p2 == nil {
		p := h.port()
		if p.String() == link+" -> "+pt2.Name {
			p2 = p
		} else if err := h.sessionEnd(); !serialport.IsUnplug(err) {
			// A session on the hung-up old pty may start and end at once.
			t.Fatalf("session on stale port %v ended with %v", p, err)
		}
	}
	if _, err := pt2.Master.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	if got := h.read(3); got != "two" {
		t.Errorf("after replug read %q, want two", got)
	}
}

func TestCancelUnblocksRead(t *testing.T) {
	pt := serialtest.New(t)
	cfg := ptyConfig(pt.Name)
	cfg.ReadTimeout = time.Hour // only the close on cancel can end the Read
	ctx, cancel := context.WithCancel(context.Background())
	opened := make(chan struct{})
	readErr := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- serialport.Run(ctx, cfg, func(ctx context.Context, p *serialport.Port) error {
			close(opened)
			_, err := p.Read(make([]byte, 8))
			readErr <- err
			return err
		})
	}()
	select {
	case <-opened:
	case <-time.After(waitTimeout):
		t.Fatal("port not opened")
	}
	time.Sleep(10 * time.Millisecond) // let the session block in Read
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after cancel")
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Run took %v to return after cancel", d)
	}
	if err := <-readErr; !serialport.IsUnplug(err) {
		t.Errorf("blocked Read ended with %v, want a closed-port error", err)
	}
}
