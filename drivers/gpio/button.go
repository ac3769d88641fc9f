package gpio

import (
	"context"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Press is what the nurse did with the bedside button.
type Press int

// The two presses: a short one acknowledges the chair's sounding alarms, a
// long one (held LongPress) pauses the audio.
const (
	ShortPress Press = iota + 1
	LongPress
)

func (p Press) String() string {
	switch p {
	case ShortPress:
		return "short"
	case LongPress:
		return "long"
	}
	return "none"
}

// Button timing. A contact must hold a level Debounce before it counts (a
// mechanical switch bounces for a few ms); a press held LongPressAfter is a
// long press, reported once while still held, so the nurse hears the audio
// stop without letting go, and a button held on does not repeat.
const (
	Debounce       = 50 * time.Millisecond
	LongPressAfter = 2 * time.Second
	// buttonPoll is how often a press in progress is sampled (a long press
	// has no edge at 2 s; a release's bounces must settle).
	buttonPoll = 10 * time.Millisecond
	// buttonIdle bounds the wait for an edge, so the watcher sees its
	// context end.
	buttonIdle = 500 * time.Millisecond
)

// button tells presses from the sampled level of a pulled-up button (Low
// while pressed). It is pure: the caller gives each sample's time.
type button struct {
	stable    gpio.Level // the debounced level
	cand      gpio.Level // the level last sampled
	candSince time.Time  // since when cand has held
	pressedAt time.Time
	longSent  bool
}

func newButton() *button { return &button{stable: gpio.High, cand: gpio.High} }

// busy reports whether the button needs sampling soon: a level change not
// yet debounced, or a press that may become long.
func (b *button) busy() bool {
	return b.cand != b.stable || (b.stable == gpio.Low && !b.longSent)
}

// sample takes the level at now and says which press, if any, it completes.
func (b *button) sample(l gpio.Level, now time.Time) Press {
	if l != b.cand {
		b.cand, b.candSince = l, now
	}
	if b.cand != b.stable && now.Sub(b.candSince) >= Debounce {
		b.stable = b.cand
		if b.stable == gpio.Low {
			b.pressedAt, b.longSent = b.candSince, false
		} else if !b.longSent {
			return ShortPress // released before LongPressAfter
		}
	}
	if b.stable == gpio.Low && !b.longSent && now.Sub(b.pressedAt) >= LongPressAfter {
		b.longSent = true
		return LongPress
	}
	return 0
}

// watchButton samples the button on each edge, and every buttonPoll while
// a press is in progress, and calls OnPress once per press.
func (a *Annunciator) watchButton(ctx context.Context, pin gpio.PinIn) {
	b := newButton()
	for ctx.Err() == nil {
		wait := buttonIdle
		if b.busy() {
			wait = buttonPoll
		}
		pin.WaitForEdge(wait)
		p := b.sample(pin.Read(), a.opts.Now())
		if p == 0 {
			continue
		}
		a.opts.Logger.Info("bedside button pressed", "press", p.String())
		if a.opts.OnPress != nil {
			a.opts.OnPress(p)
		}
	}
}
