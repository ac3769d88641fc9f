package cms50

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/chairside/chairside/drivers"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name  string
		port  string
		opts  *Opts
		field string // the field the error must name
	}{
		{"no port", "", &Opts{Protocol: Live9}, "port"},
		{"no port, default opts", "", nil, "port"},
		{"no protocol", "/dev/ttyUSB0", &Opts{}, "Opts.Protocol"},
		{"bad protocol", "/dev/ttyUSB0", &Opts{Protocol: 7}, "Opts.Protocol"},
		{"negative sensor", "/dev/ttyUSB0", &Opts{Protocol: Legacy, Sensor: -1}, "Opts.Sensor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.port, tc.opts)
			if d != nil || !errors.Is(err, ErrOpts) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("New(%q, %+v) = %v, %v; want ErrOpts naming %s", tc.port, tc.opts, d, err, tc.field)
			}
		})
	}
	d, err := New("/dev/ttyUSB0", &Opts{Protocol: Live9})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background(), nil); !errors.Is(err, drivers.ErrNilSink) {
		t.Errorf("Run with a nil sink = %v", err)
	}
}

func TestNewGood(t *testing.T) {
	for _, p := range []Protocol{Live9, Legacy} {
		d, err := New("/dev/serial/by-id/usb-x", &Opts{Protocol: p, Sensor: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.String(), "cms50(/dev/serial/by-id/usb-x, "+p.String()+", sensor 2)"; got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
		if d.port.Mode != p.Mode() || d.port.Path != "/dev/serial/by-id/usb-x" {
			t.Errorf("port config %+v", d.port)
		}
	}
}

// TestNewNilOptsIsDefaultOpts: New(port, nil) is New(port, &DefaultOpts),
// and New copies the options: editing them afterwards changes nothing.
func TestNewNilOptsIsDefaultOpts(t *testing.T) {
	d, err := New("/dev/ttyUSB0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.opts.Protocol != DefaultOpts.Protocol || d.opts.Protocol != Live9 || d.opts.Sensor != 0 || d.opts.Logger == nil {
		t.Errorf("New(port, nil) options %+v, want DefaultOpts %+v", d.opts, DefaultOpts)
	}
	if d.port.Mode != Live9.Mode() {
		t.Errorf("port mode %+v, want Live9's", d.port.Mode)
	}
	if got, want := d.String(), "cms50(/dev/ttyUSB0, live9, sensor 0)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	o := Opts{Protocol: Legacy, Sensor: 3}
	d, err = New("/dev/ttyUSB1", &o)
	if err != nil {
		t.Fatal(err)
	}
	o.Protocol, o.Sensor = Live9, 4
	if d.opts.Protocol != Legacy || d.opts.Sensor != 3 {
		t.Errorf("New kept a reference to the caller's Opts: %+v", d.opts)
	}
}

// TestRunTwice checks the second concurrent Run is refused, and that a Run
// whose context is done returns at once, nil.
func TestRunTwice(t *testing.T) {
	d, err := New("/nonexistent/cms50", &Opts{Protocol: Live9})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, newRecSink()) }()
	waitRunning(t, &d.life)
	if err := d.Run(ctx, newRecSink()); !errors.Is(err, drivers.ErrRunning) || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run = %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("first Run after cancel = %v", err)
	}
	if err := d.Run(ctx, newRecSink()); err != nil { // ctx done: returns at once, nil
		t.Errorf("Run after cancel = %v", err)
	}
}

// TestHalt: Halt stops a running Run (which then returns nil) and returns
// only after it did; it may be called twice and before Run, and a Run after
// Halt is refused at once instead of opening the port.
func TestHalt(t *testing.T) {
	d, err := New("/nonexistent/cms50", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background(), newRecSink()) }()
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
	if err := d.Run(context.Background(), newRecSink()); !errors.Is(err, drivers.ErrHalted) || !strings.Contains(err.Error(), d.String()) {
		t.Errorf("Run after Halt = %v, want ErrHalted naming %s", err, d)
	}

	d2, _ := New("/dev/ttyUSB0", nil)
	if err := d2.Halt(); err != nil {
		t.Errorf("Halt before Run = %v", err)
	}
	if err := d2.Run(context.Background(), newRecSink()); !errors.Is(err, drivers.ErrHalted) {
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

func TestProtocolNames(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Protocol
	}{
		{"live9", Live9}, {"cms50", Live9}, {"legacy", Legacy}, {"cms50-legacy", Legacy},
	} {
		got, err := ParseProtocol(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseProtocol(%q) = %v, %v", tc.in, got, err)
		}
	}
	if _, err := ParseProtocol("CMS50"); err == nil {
		t.Error("ParseProtocol accepted CMS50")
	}
	if Live9.Driver() != "cms50" || Legacy.Driver() != "cms50-legacy" || Protocol(0).Driver() != "" {
		t.Error("driver names")
	}
	if Protocol(0).String() != "protocol(0)" || Protocol(0).Valid() {
		t.Error("zero protocol")
	}
}

// TestModes pins the line settings: a pty ignores them, so only this test
// catches a wrong baud or parity.
func TestModes(t *testing.T) {
	if got, want := Live9.Mode(), (serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}); got != want {
		t.Errorf("Live9 mode %+v", got)
	}
	if got, want := Legacy.Mode(), (serial.Mode{BaudRate: 19200, DataBits: 8, Parity: serial.OddParity, StopBits: serial.OneStopBit}); got != want {
		t.Errorf("Legacy mode %+v", got)
	}
	if Live9.PacketLen() != 9 || Legacy.PacketLen() != 5 {
		t.Error("packet lengths")
	}
}
