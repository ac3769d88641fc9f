package serialport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"go.bug.st/serial"
)

// openLog records when Open was called; it fails every call unless port is set.
type openLog struct {
	mu    sync.Mutex
	times []time.Time
	paths []string
	port  func() serial.Port
}

func (o *openLog) open(path string, _ *serial.Mode) (serial.Port, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.times = append(o.times, time.Now())
	o.paths = append(o.paths, path)
	if o.port != nil {
		return o.port(), nil
	}
	return nil, &os.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
}

func (o *openLog) waitCalls(t *testing.T, n int) []time.Time {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		o.mu.Lock()
		if len(o.times) >= n {
			ts := append([]time.Time(nil), o.times...)
			o.mu.Unlock()
			return ts
		}
		o.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("Open called %d times, want %d", len(o.times), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func runInBackground(t *testing.T, cfg serialport.Config, session func(context.Context, *serialport.Port) error) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serialport.Run(ctx, cfg, session) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return after cancel")
		}
	})
	return cancel
}

func TestOpenFailureBacksOff(t *testing.T) {
	var o openLog
	missing := filepath.Join(t.TempDir(), "no-such-tty")
	cfg := serialport.Config{Path: missing, MinBackoff: 4 * time.Millisecond, MaxBackoff: 32 * time.Millisecond, Open: o.open}
	runInBackground(t, cfg, func(context.Context, *serialport.Port) error {
		t.Error("session called although every open fails")
		return nil
	})
	ts := o.waitCalls(t, 8)
	want := []time.Duration{4, 8, 16, 32, 32, 32, 32} // ms: doubling, capped
	for i, w := range want {
		gap := ts[i+1].Sub(ts[i])
		if gap < w*time.Millisecond {
			t.Errorf("wait before open %d = %v, want at least %vms", i+2, gap, w)
		}
	}
	// Sanity against a stuck back-off: the last waits stay near the cap.
	if gap := ts[7].Sub(ts[6]); gap > 20*32*time.Millisecond {
		t.Errorf("wait at the cap = %v, far above MaxBackoff", gap)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.paths[0] != missing {
		t.Errorf("Open got path %q, want the configured %q", o.paths[0], missing)
	}
}

// fakePort is a serial.Port whose Read blocks until Close.
type fakePort struct {
	serial.Port // nil: any method not below panics, which the test would show
	once        sync.Once
	closed      chan struct{}
}

func newFakePort() serial.Port { return &fakePort{closed: make(chan struct{})} }

func (f *fakePort) SetReadTimeout(time.Duration) error { return nil }
func (f *fakePort) Read([]byte) (int, error) {
	<-f.closed
	return 0, io.EOF
}
func (f *fakePort) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func TestBackoffResetsAfterLongSession(t *testing.T) {
	o := openLog{port: newFakePort}
	const minB, maxB = 5 * time.Millisecond, 200 * time.Millisecond
	cfg := serialport.Config{Path: "/dev/fake", MinBackoff: minB, MaxBackoff: maxB, Open: o.open}
	var mu sync.Mutex
	var ends []time.Time
	n := 0
	runInBackground(t, cfg, func(ctx context.Context, p *serialport.Port) error {
		mu.Lock()
		n++
		long := n == 7
		mu.Unlock()
		if long { // a session that worked for longer than MaxBackoff
			time.Sleep(maxB + 50*time.Millisecond)
		}
		mu.Lock()
		ends = append(ends, time.Now())
		mu.Unlock()
		return errors.New("device went quiet")
	})
	ts := o.waitCalls(t, 8)
	mu.Lock()
	defer mu.Unlock()
	// Sessions 1..6 fail at once: waits 5,10,20,40,80,160ms. Session 7 lasts
	// 250ms, so the wait before open 8 is MinBackoff again, not 200ms.
	if gap := ts[6].Sub(ends[5]); gap < 160*time.Millisecond {
		t.Errorf("wait before open 7 = %v, want >= 160ms (doubling)", gap)
	}
	if gap := ts[7].Sub(ends[6]); gap >= 150*time.Millisecond {
		t.Errorf("wait after a long session = %v, want about MinBackoff (%v)", gap, minB)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := func(context.Context, *serialport.Port) error { return nil }
	for _, tc := range []struct {
		name    string
		cfg     serialport.Config
		session func(context.Context, *serialport.Port) error
		want    string
	}{
		{"empty path", serialport.Config{}, ok, "Path"},
		{"negative", serialport.Config{Path: "/dev/x", ReadTimeout: -1}, ok, "negative"},
		{"max below min", serialport.Config{Path: "/dev/x", MinBackoff: time.Second, MaxBackoff: time.Millisecond}, ok, "MaxBackoff"},
		{"nil session", serialport.Config{Path: "/dev/x"}, nil, "session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := serialport.Run(context.Background(), tc.cfg, tc.session)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	var o openLog
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := serialport.Run(ctx, serialport.Config{Path: "/dev/x", Open: o.open}, func(context.Context, *serialport.Port) error { return nil })
	if err != nil || len(o.times) != 0 {
		t.Errorf("Run on a done ctx = %v after %d opens, want nil and none", err, len(o.times))
	}
}

func TestIsUnplug(t *testing.T) {
	pt := serialtest.New(t)
	sp, err := serial.Open(pt.Name, &serial.Mode{})
	if err != nil {
		t.Fatal(err)
	}
	_ = sp.Close()
	_, closedErr := sp.Read(make([]byte, 1)) // the library's own PortError{PortClosed}
	var pe *serial.PortError
	if !errors.As(closedErr, &pe) || pe.Code() != serial.PortClosed {
		t.Fatalf("setup: read after close = %v, want PortError{PortClosed}", closedErr)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{serialport.ErrTimeout, false},
		{errors.New("checksum"), false},
		{syscall.ENOENT, false},
		{closedErr, true},
		{fmt.Errorf("nonin: read: %w", closedErr), true},
		{io.EOF, true},
		{syscall.EIO, true},
		{&os.PathError{Op: "write", Path: "/dev/ttyUSB0", Err: syscall.EIO}, true},
		{fmt.Errorf("x: %w", syscall.ENXIO), true},
		{syscall.ENODEV, true},
	} {
		if got := serialport.IsUnplug(tc.err); got != tc.want {
			t.Errorf("IsUnplug(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
