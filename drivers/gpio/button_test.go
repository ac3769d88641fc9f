package gpio

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// play feeds the button a script of levels, one character per millisecond
// ('_' pressed = Low, '-' released = High), sampling every millisecond, and
// gives the presses with the millisecond each was reported at.
func play(t *testing.T, script string) []string {
	t.Helper()
	b := newButton()
	t0 := time.Unix(1000, 0)
	var out []string
	for ms, c := range script {
		l := gpio.High
		if c == '_' {
			l = gpio.Low
		}
		if p := b.sample(l, t0.Add(time.Duration(ms)*time.Millisecond)); p != 0 {
			out = append(out, p.String()+"@"+strconv.Itoa(ms))
		}
	}
	return out
}

func ms(c byte, n int) string { return strings.Repeat(string(c), n) }

func TestButtonShortPress(t *testing.T) {
	// Pressed at 100 ms for 300 ms: one short press, on release (400) once
	// the release has held 50 ms (450).
	got := play(t, ms('-', 100)+ms('_', 300)+ms('-', 200))
	if strings.Join(got, " ") != "short@450" {
		t.Fatalf("presses = %v, want [short@450]", got)
	}
}

func TestButtonBouncesAreOnePress(t *testing.T) {
	// Contact bounce on press and on release (1-5 ms flickers): one press.
	bouncy := ms('-', 100) + "_-_--_-__" + ms('_', 200) + "-_-_--_" + ms('-', 200)
	got := play(t, bouncy)
	if len(got) != 1 || !strings.HasPrefix(got[0], "short@") {
		t.Fatalf("presses = %v, want one short press", got)
	}
	// Taps shorter than the debounce (a knock, interference) are no press.
	var taps strings.Builder
	for range 20 {
		taps.WriteString(ms('_', 40) + ms('-', 20))
	}
	taps.WriteString(ms('-', 200))
	if got := play(t, taps.String()); len(got) != 0 {
		t.Fatalf("40 ms taps made presses %v", got)
	}
}

func TestButtonLongPressOnceWhileHeld(t *testing.T) {
	// Held 5 s: one long press at 2 s after the press began (100 + 2000),
	// nothing more while held, no short press on release.
	got := play(t, ms('-', 100)+ms('_', 5000)+ms('-', 300))
	if strings.Join(got, " ") != "long@2100" {
		t.Fatalf("presses = %v, want [long@2100]", got)
	}
	// Held 1.9 s: short. Then held 2 s: long. Each press is judged alone.
	got = play(t, ms('-', 100)+ms('_', 1900)+ms('-', 500)+ms('_', 2100)+ms('-', 100))
	if strings.Join(got, " ") != "short@2050 long@4500" {
		t.Fatalf("presses = %v, want [short@2050 long@4500]", got)
	}
}

func TestButtonStuckAtStartDoesNotRepeat(t *testing.T) {
	// A button held (or shorted) from the start: one long press, then
	// silence for a minute.
	got := play(t, ms('_', 60000))
	if strings.Join(got, " ") != "long@2000" {
		t.Fatalf("presses = %v, want [long@2000]", got)
	}
}

// The annunciator's watcher on a fake pin with an injected clock: short and
// long presses reach OnPress, once each.
func TestButtonOnPinShortAndLong(t *testing.T) {
	btn := &gpiotest.Pin{N: "GPIO25", EdgesChan: make(chan gpio.Level, 4)}
	c := &clock{now: time.Unix(0, 0)}
	presses := make(chan Press, 8)
	a := New(Pins{AckButton: btn}, Opts{Now: c.Now, OnPress: func(p Press) { presses <- p }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitPull(t, btn)

	expect := func(want Press) {
		t.Helper()
		select {
		case p := <-presses:
			if p != want {
				t.Fatalf("press = %v, want %v", p, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%v press not seen", want)
		}
	}
	none := func(what string) {
		t.Helper()
		select {
		case p := <-presses:
			t.Fatalf("%s: unexpected %v press", what, p)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// settle lets the watcher sample the current level at the clock's time.
	settle := func(d time.Duration) { c.add(d); time.Sleep(40 * time.Millisecond) }

	btn.EdgesChan <- gpio.Low
	settle(0)
	settle(60 * time.Millisecond) // debounced: pressed
	none("pressed, not released")
	btn.EdgesChan <- gpio.High
	settle(0)
	settle(60 * time.Millisecond)
	expect(ShortPress)

	btn.EdgesChan <- gpio.Low
	settle(0)
	settle(60 * time.Millisecond)
	settle(time.Second)
	none("held 1 s")
	settle(time.Second)
	expect(LongPress)
	settle(10 * time.Second)
	none("held 11 s")
	btn.EdgesChan <- gpio.High
	settle(0)
	settle(60 * time.Millisecond)
	none("released after a long press")
}

// waitPull waits until Run has set the button up (pulled up, edges on).
func waitPull(t *testing.T, p *gpiotest.Pin) {
	t.Helper()
	for range 200 {
		p.Lock()
		pull := p.P
		p.Unlock()
		if pull == gpio.PullUp {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("Run did not pull the button up")
}

// edgePin records the edge Run asks the button for.
type edgePin struct {
	gpiotest.Pin
	mu   sync.Mutex
	edge gpio.Edge
}

func (p *edgePin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	p.edge = edge
	p.mu.Unlock()
	return p.Pin.In(pull, edge)
}

// The release must wake the watcher too: a release missed between polls
// would hide the next press.
func TestButtonWatchesBothEdges(t *testing.T) {
	btn := &edgePin{Pin: gpiotest.Pin{N: "GPIO25", EdgesChan: make(chan gpio.Level, 1)}}
	a := New(Pins{AckButton: btn}, Opts{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitPull(t, &btn.Pin)
	btn.mu.Lock()
	defer btn.mu.Unlock()
	if btn.edge != gpio.BothEdges {
		t.Fatalf("button edge = %v, want both", btn.edge)
	}
}
