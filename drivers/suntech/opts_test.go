package suntech

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

type nopSink struct{}

func (nopSink) Reading(vitals.Reading) {}
func (nopSink) Status(vitals.Status)   {}
func (nopSink) Result(vitals.Result)   {}

func TestOptsDefaults(t *testing.T) {
	d, err := New(Opts{Port: "/dev/ttyAMA0"}, nopSink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultOpts()
	got := d.opts
	if got.CycleLimit != 180*time.Second || got.PollEvery != 200*time.Millisecond || got.Patient != Adult ||
		got.IdlePollEvery != want.IdlePollEvery || got.AnswerTimeout != want.AnswerTimeout || got.CommandGap != want.CommandGap {
		t.Errorf("defaults not applied: %+v", got)
	}
	if d.String() != "SunTech Advantage NIBP on /dev/ttyAMA0" {
		t.Errorf("String = %q", d.String())
	}
}

func TestOptsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		o    Opts
		want string
	}{
		{Opts{}, "Opts.Port is empty"},
		{Opts{Port: "p", Sensor: -1}, "Opts.Sensor -1 is negative"},
		{Opts{Port: "p", Patient: 0x99}, "Opts.Patient 0x99"},
		{Opts{Port: "p", CycleLimit: time.Hour}, "Opts.CycleLimit 1h0m0s is outside"},
		{Opts{Port: "p", CycleLimit: -time.Second}, "Opts.CycleLimit -1s is outside"},
		{Opts{Port: "p", PollEvery: time.Millisecond}, "Opts.PollEvery 1ms is outside"},
		{Opts{Port: "p", IdlePollEvery: time.Hour}, "Opts.IdlePollEvery 1h0m0s is outside"},
		{Opts{Port: "p", AnswerTimeout: time.Minute}, "Opts.AnswerTimeout 1m0s is outside"},
		{Opts{Port: "p", AnswerTimeout: 250 * time.Millisecond}, "must exceed PollEvery + CommandGap"},
		{Opts{Port: "p", CommandGap: -1}, "Opts.CommandGap -1ns is outside"},
		{Opts{Port: "p", MinBackoff: -1}, "Opts.MinBackoff"},
	} {
		_, err := New(tc.o, nopSink{}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	if _, err := New(Opts{Port: "p"}, nil, nil); err == nil {
		t.Error("nil sink accepted")
	}
	// Several mistakes are all reported.
	_, err := New(Opts{Sensor: -2, PollEvery: time.Hour}, nopSink{}, nil)
	for _, want := range []string{"Port", "Sensor", "PollEvery"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("joined error %v lacks %s", err, want)
		}
	}
}

func TestStartWithoutPort(t *testing.T) {
	d, err := New(Opts{Port: "/nonexistent/tty"}, nopSink{}, nil)
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
	go func() { done <- d.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	if err := d.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
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
