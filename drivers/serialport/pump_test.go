package serialport_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
)

func TestPump(t *testing.T) {
	pt := serialtest.New(t)
	var (
		mu    sync.Mutex
		got   []byte
		ticks atomic.Int32
	)
	ended := make(chan error, 1)
	cfg := ptyConfig(pt.Name)
	runInBackground(t, cfg, func(ctx context.Context, p *serialport.Port) error {
		err := serialport.Pump(ctx, p, make([]byte, 4), func(b []byte) {
			mu.Lock()
			got = append(got, b...)
			mu.Unlock()
		}, 30*time.Millisecond, func() { ticks.Add(1) })
		select {
		case ended <- err:
		default:
		}
		return err
	})

	// Ticks come on a silent port too (the read timeout wakes the loop).
	waitFor(t, "3 ticks on a silent port", func() bool { return ticks.Load() >= 3 })

	want := "0123456789abcdef" // longer than buf: arrives in several chunks
	if _, err := pt.Master.Write([]byte(want)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "data", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= len(want) })
	mu.Lock()
	if string(got) != want {
		t.Errorf("fed %q, want %q", got, want)
	}
	mu.Unlock()

	before := ticks.Load()
	pt.Unplug()
	select {
	case err := <-ended:
		if !serialport.IsUnplug(err) {
			t.Errorf("Pump = %v after unplug, want an unplug error", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Pump did not return after unplug")
	}
	if ticks.Load() <= before {
		t.Errorf("no final tick when Pump returned")
	}
}

func TestPumpReturnsOnCancel(t *testing.T) {
	pt := serialtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_ = serialport.Run(ctx, ptyConfig(pt.Name), func(ctx context.Context, p *serialport.Port) error {
			close(started)
			err := serialport.Pump(ctx, p, make([]byte, 8), func([]byte) {}, 0, nil)
			res <- err
			return err
		})
	}()
	<-started
	cancel()
	select {
	case err := <-res:
		if err != context.Canceled {
			t.Errorf("Pump = %v on cancel, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Pump did not return on cancel")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
