package mqttlink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRunReturnsSoonAfterCancel(t *testing.T) {
	t.Run("connected", func(t *testing.T) {
		b := startMochi(t, nil)
		l := runLink(t, heartbeatConfig(t, b.url()))
		waitUp(t, l.Link)
		if el := l.stop(t); el > 2*time.Second {
			t.Fatalf("Run took %v", el)
		}
		if l.Up() {
			t.Fatal("still connected after Run returned")
		}
		if _, open := <-l.Health(); open {
			// drain a last report, then it must be closed
			if _, open := <-l.Health(); open {
				t.Fatal("Health channel not closed after Run returned")
			}
		}
	})
	t.Run("broker unreachable", func(t *testing.T) {
		b := startMochi(t, nil)
		url := b.url()
		b.stop()
		l := runLink(t, baseConfig(t, url))
		eventually(t, "a failed attempt", func() bool { return l.LastError() != nil })
		if el := l.stop(t); el > 2*time.Second {
			t.Fatalf("Run took %v", el)
		}
	})
	t.Run("messages in flight", func(t *testing.T) {
		b := startMochi(t, nil)
		cfg := baseConfig(t, b.url())
		cfg.PublishTimeout = time.Minute
		b.hook.setNoAck(cfg.ClientID, true)
		l := runLink(t, cfg)
		waitUp(t, l.Link)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for range 100 {
			wg.Add(1)
			l.Publish("chairside/chair-t/alarm", 1, false, []byte("x"), func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				wg.Done()
			})
		}
		if el := l.stop(t); el > 5*time.Second {
			t.Fatalf("Run took %v", el)
		}
		wg.Wait() // every done called (exactly once: WaitGroup would panic below zero)
		for _, err := range errs {
			if err == nil {
				t.Fatal("done(nil) for a message the broker never acknowledged")
			}
		}
		d := newDone(t)
		l.Publish("chairside/chair-t/alarm", 1, false, []byte("late"), d.fn)
		if err := d.wait(t); !errors.Is(err, ErrNotConnected) && !errors.Is(err, ErrClosed) {
			t.Fatalf("publish after Run: done(%v)", err)
		}
	})
	t.Run("Run twice", func(t *testing.T) {
		b := startMochi(t, nil)
		l := runLink(t, baseConfig(t, b.url()))
		waitUp(t, l.Link) // the first Run is under way
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Run(ctx); err == nil {
			t.Fatal("second Run accepted")
		}
	})
}
