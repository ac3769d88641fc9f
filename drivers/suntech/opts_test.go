package suntech

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/monitor/vitals"
)

type nopSink struct{}

func (nopSink) Reading(vitals.Reading) {}
func (nopSink) Status(vitals.Status)   {}
func (nopSink) Result(vitals.Result)   {}

func TestOptsDefaults(t *testing.T) {
	d, err := New("/dev/ttyAMA0", &Opts{Sensor: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultOpts
	got := d.opts
	if got.CycleLimit != 180*time.Second || got.PollEvery != 200*time.Millisecond || got.Patient != Adult ||
		got.IdlePollEvery != want.IdlePollEvery || got.AnswerTimeout != want.AnswerTimeout || got.CommandGap != want.CommandGap {
		t.Errorf("defaults not applied: %+v", got)
	}
	if got.Sensor != 1 || got.Logger == nil || got.Clock == nil {
		t.Errorf("options: %+v", got)
	}
	if got, want := d.String(), "suntech(/dev/ttyAMA0, adult, sensor 1)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// TestNewNilOptsIsDefaultOpts: New(port, nil) is New(port, &DefaultOpts);
// the zero fields take the defaults whatever a caller did to DefaultOpts;
// New copies the options.
func TestNewNilOptsIsDefaultOpts(t *testing.T) {
	d, err := New("/dev/ttyAMA0", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, want := d.opts, DefaultOpts
	if got.Sensor != 0 || got.Patient != want.Patient || got.CycleLimit != want.CycleLimit || got.PollEvery != want.PollEvery ||
		got.IdlePollEvery != want.IdlePollEvery || got.AnswerTimeout != want.AnswerTimeout || got.CommandGap != want.CommandGap {
		t.Errorf("New(port, nil) options %+v, want DefaultOpts %+v", got, want)
	}
	if got, want := d.String(), "suntech(/dev/ttyAMA0, adult, sensor 0)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	o := Opts{Patient: Neonate, Sensor: 3}
	d, err = New("/dev/ttyAMA0", &o)
	if err != nil {
		t.Fatal(err)
	}
	o.Patient, o.Sensor = Adult, 4
	if d.opts.Patient != Neonate || d.opts.Sensor != 3 || d.String() != "suntech(/dev/ttyAMA0, neonate, sensor 3)" {
		t.Errorf("New kept a reference to the caller's Opts: %+v", d.opts)
	}
}

func TestOptsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		port string
		o    Opts
		want string
	}{
		{"", Opts{}, "suntech: port is empty"},
		{"p", Opts{Sensor: -1}, "Opts.Sensor -1 is negative"},
		{"p", Opts{Patient: 0x99}, "Opts.Patient 0x99"},
		{"p", Opts{CycleLimit: time.Hour}, "Opts.CycleLimit 1h0m0s is outside"},
		{"p", Opts{CycleLimit: -time.Second}, "Opts.CycleLimit -1s is outside"},
		{"p", Opts{PollEvery: time.Millisecond}, "Opts.PollEvery 1ms is outside"},
		{"p", Opts{IdlePollEvery: time.Hour}, "Opts.IdlePollEvery 1h0m0s is outside"},
		{"p", Opts{AnswerTimeout: time.Minute}, "Opts.AnswerTimeout 1m0s is outside"},
		{"p", Opts{AnswerTimeout: 250 * time.Millisecond}, "must exceed PollEvery + CommandGap"},
		{"p", Opts{CommandGap: -1}, "Opts.CommandGap -1ns is outside"},
		{"p", Opts{MinBackoff: -1}, "Opts.MinBackoff"},
		{"p", Opts{MaxBackoff: -1}, "Opts.MaxBackoff"},
	} {
		_, err := New(tc.port, &tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %+v: %v, want %q", tc.port, tc.o, err, tc.want)
		}
	}
	if _, err := New("", nil); err == nil || !strings.Contains(err.Error(), "port is empty") {
		t.Errorf("New(\"\", nil) = %v", err)
	}
	d, err := New("p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background(), nil); !errors.Is(err, drivers.ErrNilSink) {
		t.Errorf("Run with a nil sink = %v", err)
	}
	// Several mistakes are all reported.
	_, err = New("", &Opts{Sensor: -2, PollEvery: time.Hour})
	for _, want := range []string{"port", "Sensor", "PollEvery"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("joined error %v lacks %s", err, want)
		}
	}
}

// TestHalt: Halt stops a running Run (which then returns nil) and returns
// only after it did; it may be called twice and before Run, and a Run after
// Halt is refused at once instead of opening the port.
func TestHalt(t *testing.T) {
	d, err := New("/nonexistent/tty", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background(), nopSink{}) }()
	for deadline := time.Now().Add(5 * time.Second); !d.life.Running(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
	}
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
	if err := d.Run(context.Background(), nopSink{}); !errors.Is(err, drivers.ErrHalted) || !strings.Contains(err.Error(), d.String()) {
		t.Errorf("Run after Halt = %v, want ErrHalted naming %s", err, d)
	}
	if err := d.Start(context.Background(), "n-1-1"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Start after Halt = %v, want ErrNotOpen", err)
	}

	d2, _ := New("/dev/ttyAMA0", nil)
	if err := d2.Halt(); err != nil {
		t.Errorf("Halt before Run = %v", err)
	}
	if err := d2.Run(context.Background(), nopSink{}); !errors.Is(err, drivers.ErrHalted) {
		t.Errorf("Run after an early Halt = %v, want ErrHalted", err)
	}
}

func TestStartWithoutPort(t *testing.T) {
	d, err := New("/nonexistent/tty", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background(), "n-1-1"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Start: %v", err)
	}
	if err := d.Start(context.Background(), ""); err == nil {
		t.Error("empty request id accepted")
	}
	if err := d.Abort(); !errors.Is(err, ErrIdle) {
		t.Errorf("Abort: %v", err)
	}
	if _, ok := d.Pressure(); ok {
		t.Error("Pressure ok while idle")
	}
	// Run on a missing device keeps retrying quietly and stops with ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nopSink{}) }()
	time.Sleep(20 * time.Millisecond)
	if err := d.Run(ctx, nopSink{}); !errors.Is(err, drivers.ErrRunning) || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not stop")
	}
}
