package cms50

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.bug.st/serial"
)

func TestNewValidates(t *testing.T) {
	sink := newRecSink()
	tests := []struct {
		name  string
		opts  Opts
		field string // the field the error must name
	}{
		{"no port", Opts{Protocol: Live9}, "Port"},
		{"no protocol", Opts{Port: "/dev/ttyUSB0"}, "Protocol"},
		{"bad protocol", Opts{Port: "/dev/ttyUSB0", Protocol: 7}, "Protocol"},
		{"negative sensor", Opts{Port: "/dev/ttyUSB0", Protocol: Legacy, Sensor: -1}, "Sensor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.opts, sink, nil)
			if d != nil || !errors.Is(err, ErrOpts) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("New(%+v) = %v, %v; want ErrOpts naming %s", tc.opts, d, err, tc.field)
			}
		})
	}
	if d, err := New(Opts{Port: "/dev/ttyUSB0", Protocol: Live9}, nil, nil); d != nil || err == nil {
		t.Errorf("New with a nil sink = %v, %v", d, err)
	}
}

func TestNewGood(t *testing.T) {
	for _, p := range []Protocol{Live9, Legacy} {
		d, err := New(Opts{Port: "/dev/serial/by-id/usb-x", Protocol: p, Sensor: 2}, newRecSink(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.String(), "cms50("+p.String()+", /dev/serial/by-id/usb-x)"; got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
		if d.port.Mode != p.Mode() || d.port.Path != "/dev/serial/by-id/usb-x" {
			t.Errorf("port config %+v", d.port)
		}
	}
}

// TestRunTwice checks the second concurrent Run is refused.
func TestRunTwice(t *testing.T) {
	d, err := New(Opts{Port: "/nonexistent/cms50", Protocol: Live9}, newRecSink(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	d.running.Store(true) // as if Run were running
	go func() { done <- d.Run(ctx) }()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "while running") {
		t.Errorf("second Run = %v", err)
	}
	d.running.Store(false)
	cancel()
	if err := d.Run(ctx); err != nil { // ctx done: returns at once, nil
		t.Errorf("Run after cancel = %v", err)
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
