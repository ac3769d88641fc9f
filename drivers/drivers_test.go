package drivers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/cms50"
	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/suntech"
)

// Every serial driver has the one shape, and that shape is a periph.io
// resource (String and Halt).
var (
	_ drivers.Driver = (*nonin.Dev)(nil)
	_ drivers.Driver = (*cms50.Dev)(nil)
	_ drivers.Driver = (*suntech.Dev)(nil)
	_ conn.Resource  = drivers.Driver(nil)
)

// TestLifecycle: one Run at a time; Halt ends the Run in progress, waits for
// it, and refuses every later one; Halt twice and before Run are fine.
func TestLifecycle(t *testing.T) {
	var l drivers.Lifecycle
	if l.Running() || l.Halted() {
		t.Fatal("zero Lifecycle running or halted")
	}
	ctx, end, err := l.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !l.Running() {
		t.Error("not Running after Begin")
	}
	if _, _, err := l.Begin(context.Background()); !errors.Is(err, drivers.ErrRunning) {
		t.Errorf("second Begin = %v, want ErrRunning", err)
	}

	// A Run that ends by its parent context frees the Lifecycle for another.
	end()
	if ctx.Err() == nil {
		t.Error("end left the Run's context alive")
	}
	if l.Running() {
		t.Error("Running after end")
	}

	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	ctx, end, err = l.Begin(parent)
	if err != nil {
		t.Fatalf("Begin after end = %v", err)
	}
	returned := make(chan struct{})
	go func() { // Run: waits for its context, then cleans up slowly
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		close(returned)
		end()
	}()
	l.Halt()
	select {
	case <-returned:
	default:
		t.Error("Halt returned before Run did")
	}
	if parent.Err() != nil {
		t.Error("Halt cancelled the caller's context")
	}
	l.Halt() // twice: nothing more
	if _, _, err := l.Begin(context.Background()); !errors.Is(err, drivers.ErrHalted) {
		t.Errorf("Begin after Halt = %v, want ErrHalted", err)
	}
	if !l.Halted() || l.Running() {
		t.Errorf("after Halt: Halted %v, Running %v", l.Halted(), l.Running())
	}

	var early drivers.Lifecycle
	early.Halt() // before any Run: does not block
	if _, _, err := early.Begin(context.Background()); !errors.Is(err, drivers.ErrHalted) {
		t.Errorf("Begin after an early Halt = %v, want ErrHalted", err)
	}
}

// TestHaltRacesBegin: Halt and Begin called together never leave a Run
// going: either Begin fails, or Halt ends the Run it started.
func TestHaltRacesBegin(t *testing.T) {
	for range 200 {
		var l drivers.Lifecycle
		started := make(chan context.Context, 1)
		go func() {
			ctx, end, err := l.Begin(context.Background())
			if err != nil {
				started <- nil
				return
			}
			started <- ctx
			<-ctx.Done()
			end()
		}()
		l.Halt()
		if ctx := <-started; ctx != nil {
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("a Run begun alongside Halt was not stopped")
			}
		}
	}
}
