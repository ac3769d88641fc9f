package nonin

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// lockedBuffer is an io.Writer the test reads while the device writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// tickDevice runs dev with a hand-driven ticker; tick(n) sends n ticks and
// waits until n frames more have been written.
func tickDevice(t *testing.T, dev *Device, ticks chan time.Time, w *lockedBuffer) (tick func(n int), stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx, w) }()
	tick = func(n int) {
		t.Helper()
		want := dev.Frames() + uint64(n)
		for i := 0; i < n; i++ {
			ticks <- time.Time{}
		}
		for deadline := time.Now().Add(5 * time.Second); dev.Frames() < want; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("device wrote %d frames, want %d", dev.Frames(), want)
			}
		}
	}
	stop = func() error {
		cancel()
		return <-done
	}
	return tick, stop
}

func TestDeviceRunPacedByTicks(t *testing.T) {
	ticks := make(chan time.Time)
	s := Steady(98, 64)
	s.SREV, s.Timer = 0x30, 100
	dev, err := NewDevice(DeviceOpts{Format: DF2, Ticks: ticks}, s)
	if err != nil {
		t.Fatal(err)
	}
	var w lockedBuffer
	tick, stop := tickDevice(t, dev, ticks, &w)

	tick(25)
	if w.Len() != 25*5 {
		t.Fatalf("after 25 ticks: %d bytes, want 125", w.Len())
	}
	d, r := newDec(t, DF2)
	d.Feed(w.Bytes())
	if len(r.readings) != 0 {
		t.Errorf("readings before the packet was closed: %+v", r.readings)
	}

	// A change of state shows in the next frames; the timer keeps counting
	// (one step per packet, the device's 3 Hz). Each packet is decoded when
	// the next one's SYNC frame closes it.
	next := Steady(85, 120)
	next.Flags = vitals.Artifact
	dev.Set(next)
	tick(25)
	d.Feed(w.Bytes()[125:])
	if s := d.Last(); s.SpO2 != 98 || s.HR != 64 || s.Timer != 100 || s.SREV != 0x30 {
		t.Errorf("first packet: %+v", s)
	}
	tick(1)
	d.Feed(w.Bytes()[250:])
	if s := d.Last(); s.SpO2 != 85 || s.HR != 120 || s.Timer != 101 || s.Flags != vitals.Artifact {
		t.Errorf("after Set: %+v, want 85/120, timer 101, artifact", s)
	}
	if got := dev.State(); got.Timer != 102 || got.SpO2 != 85 {
		t.Errorf("State() = %+v", got)
	}
	if len(r.readings) != 4 || r.readings[2].Value != 120 || r.readings[3].Value != 85 {
		t.Errorf("readings %+v", r.readings)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v after cancel", err)
	}
}

func TestDeviceGarbage(t *testing.T) {
	dev, _ := NewDevice(DeviceOpts{Format: DF2, Seed: 42}, Steady(97, 72))
	d, r := newDec(t, DF2)
	var b []byte
	for i := 0; i < 50; i++ {
		b = dev.Next(b[:0])
		d.Feed(b)
	}
	clean := d.Garbled()
	dev.Garbage(200)
	b = dev.Next(b[:0])
	if len(b) != 205 {
		t.Fatalf("Next after Garbage(200) gave %d bytes, want 205", len(b))
	}
	d.Feed(b)
	for i := 0; i < 50; i++ {
		b = dev.Next(b[:0])
		d.Feed(b)
	}
	if d.Garbled() < clean+200/5 {
		t.Errorf("garbled %d after 200 bytes of garbage (was %d)", d.Garbled(), clean)
	}
	for _, x := range r.readings {
		if (x.Param == vitals.SpO2 && x.Value != 97) || (x.Param == vitals.Pulse && x.Value != 72) {
			t.Errorf("bogus %+v", x)
		}
	}
	if s := d.Last(); s.SpO2 != 97 {
		t.Errorf("no recovery after garbage: %+v", s)
	}
	// Same seed, same garbage: fault tests are reproducible.
	a, _ := NewDevice(DeviceOpts{Format: DF2, Seed: 7}, State{})
	c, _ := NewDevice(DeviceOpts{Format: DF2, Seed: 7}, State{})
	a.Garbage(64)
	c.Garbage(64)
	if !bytes.Equal(a.Next(nil), c.Next(nil)) {
		t.Error("Garbage not reproducible with the same seed")
	}
	// Inject sends exact bytes.
	a.Inject([]byte{1, 2, 3})
	if got := a.Next(nil); !bytes.Equal(got[:3], []byte{1, 2, 3}) || len(got) != 8 {
		t.Errorf("Inject: % x", got)
	}
}

func TestDevicePlethAndRates(t *testing.T) {
	dev, _ := NewDevice(DeviceOpts{Format: DF7, Pleth: func(n uint64, s State) uint16 { return uint16(n*1000) + uint16(s.HR) }}, Steady(97, 60))
	d, _ := newDec(t, DF7)
	for i := 0; i < 26; i++ {
		d.Feed(dev.Next(nil))
	}
	if got := d.Last().Pleth; got != 25*1000+60 {
		t.Errorf("pleth %d, want %d", got, 25*1000+60)
	}
	if p := dev.Period(); p != time.Second/75 {
		t.Errorf("DF7 period %v", p)
	}
	df8, _ := NewDevice(DeviceOpts{Format: DF8}, State{})
	if p := df8.Period(); p != time.Second {
		t.Errorf("DF8 period %v", p)
	}
	if _, err := NewDevice(DeviceOpts{Format: 9}, State{}); err == nil {
		t.Error("NewDevice accepted format 9")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("input/output error") }

func TestDeviceRunWriteError(t *testing.T) {
	ticks := make(chan time.Time, 1)
	ticks <- time.Time{}
	dev, _ := NewDevice(DeviceOpts{Format: DF8, Ticks: ticks}, Steady(97, 72))
	err := dev.Run(context.Background(), failWriter{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("nonin: device write")) {
		t.Errorf("Run = %v, want a wrapped write error", err)
	}
}
