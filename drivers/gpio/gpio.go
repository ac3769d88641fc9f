package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/protocol"
)

// Pins are the annunciator's pins; any may be nil (not fitted), though a
// clinic's config requires the buzzer and the red lamp.
type Pins struct {
	Buzzer    gpio.PinOut
	RedLED    gpio.PinOut
	YellowLED gpio.PinOut
	AckButton gpio.PinIn
}

// Opts configure an Annunciator.
type Opts struct {
	OnPress func(Press) // the button was pressed (called from the button's goroutine)
	OnFault func(error) // a pin failed; nil error: all pins work again
	Now     func() time.Time
	Logger  *slog.Logger
}

// Names are the configured pin names, e.g. "GPIO18".
type Names struct {
	Buzzer, RedLED, YellowLED, AckButton string
}

// Lookup initialises periph and finds the named pins. On a machine without
// GPIO (not a Pi) it fails clearly, naming the pin, instead of returning nil
// pins that would panic later.
func Lookup(n Names, log *slog.Logger) (Pins, error) {
	state, err := host.Init()
	if err != nil {
		return Pins{}, fmt.Errorf("gpio: periph init: %w", err)
	}
	if log != nil {
		for _, f := range state.Failed {
			log.Warn("periph driver failed", "driver", f.D.String(), "err", f.Err)
		}
	}
	var p Pins
	var errs []error
	find := func(name string) gpio.PinIO {
		if name == "" {
			return nil
		}
		pin := gpioreg.ByName(name)
		if pin == nil {
			errs = append(errs, fmt.Errorf("gpio: pin %q not found (is this a Raspberry Pi with /dev/gpiochip*?)", name))
			return nil
		}
		return pin
	}
	if pin := find(n.Buzzer); pin != nil {
		p.Buzzer = pin
	}
	if pin := find(n.RedLED); pin != nil {
		p.RedLED = pin
	}
	if pin := find(n.YellowLED); pin != nil {
		p.YellowLED = pin
	}
	if pin := find(n.AckButton); pin != nil {
		p.AckButton = pin
	}
	return p, errors.Join(errs...)
}

// Annunciator renders the engine's annunciation on the pins.
type Annunciator struct {
	pins Pins
	opts Opts
	life drivers.Lifecycle

	mu        sync.Mutex
	want      monitor.Annunciation
	lampSince time.Time
	toneSince time.Time
	remindAt  time.Time
	levels    [3]gpio.Level // last written: buzzer, red, yellow
	written   bool
	faulty    bool
}

// New makes an annunciator; nothing is written until Run.
func New(p Pins, o Opts) *Annunciator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Annunciator{pins: p, opts: o}
}

// Show sets the wanted state; patterns restart when the priority changes.
func (a *Annunciator) Show(w monitor.Annunciation) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	if w.Lamp != a.want.Lamp || w.Flashing != a.want.Flashing {
		a.lampSince = now
	}
	if w.Tone != a.want.Tone {
		a.toneSince = now
	}
	a.want = w
}

// Remind plays one short reminder pulse.
func (a *Annunciator) Remind() {
	a.mu.Lock()
	a.remindAt = a.opts.Now()
	a.mu.Unlock()
}

// Render writes the pins for the current instant. Run calls it every 25 ms;
// tests call it directly.
func (a *Annunciator) Render() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	buzz := Buzzer(a.want.Tone, now.Sub(a.toneSince))
	if a.want.Tone == protocol.None && !a.remindAt.IsZero() && now.Sub(a.remindAt) < reminderOn {
		buzz = true
	}
	red, yellow := Lamps(a.want.Lamp, a.want.Flashing, now.Sub(a.lampSince))
	levels := [3]gpio.Level{gpio.Level(buzz), gpio.Level(red), gpio.Level(yellow)}
	if a.written && levels == a.levels && !a.faulty {
		return
	}
	var errs []error
	for i, pin := range []gpio.PinOut{a.pins.Buzzer, a.pins.RedLED, a.pins.YellowLED} {
		if pin == nil {
			continue
		}
		if err := pin.Out(levels[i]); err != nil {
			errs = append(errs, fmt.Errorf("gpio: write %s: %w", pin, err))
		}
	}
	a.levels, a.written = levels, true
	err := errors.Join(errs...)
	if (err != nil) != a.faulty && a.opts.OnFault != nil {
		a.opts.OnFault(err)
	}
	a.faulty = err != nil
}

// Run renders the signals until ctx ends or Halt is called, then switches
// everything off and returns nil. It watches the button in a goroutine of its
// own. It returns an error only when it cannot start: another Run is in
// progress (two would fight over the pins) or Halt was called.
func (a *Annunciator) Run(ctx context.Context) error {
	ctx, end, err := a.life.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	defer end()
	if b := a.pins.AckButton; b != nil {
		if err := b.In(gpio.PullUp, gpio.BothEdges); err != nil {
			err = fmt.Errorf("gpio: button %s: %w", b, err)
			if a.opts.OnFault != nil {
				a.opts.OnFault(err)
			}
		} else {
			go a.watchButton(ctx, b)
		}
	}
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.Show(monitor.Annunciation{})
			a.mu.Lock()
			a.remindAt = time.Time{}
			a.mu.Unlock()
			a.Render()
			return nil
		case <-t.C:
			a.Render()
		}
	}
}

// Halt stops Run, which switches everything off, and returns once it has; a
// later Run fails. It may be called more than once, and before Run.
func (a *Annunciator) Halt() error {
	a.life.Halt()
	return nil
}

// String names the pins: "gpio(buzzer GPIO18, red GPIO23, yellow -, button GPIO24)",
// "-" for a pin not fitted.
func (a *Annunciator) String() string {
	name := func(p interface{ Name() string }) string {
		if p == nil {
			return "-"
		}
		return p.Name()
	}
	p := a.pins
	return fmt.Sprintf("gpio(buzzer %s, red %s, yellow %s, button %s)", name(p.Buzzer), name(p.RedLED), name(p.YellowLED), name(p.AckButton))
}

var _ conn.Resource = (*Annunciator)(nil)
