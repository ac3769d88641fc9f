package nonin

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// DeviceOpts configures a simulated device.
type DeviceOpts struct {
	Format Format // 2, 7 or 8
	// Ticks, when set, paces the device instead of a real ticker: one frame
	// per receive (DF2/DF7) or one DF8 frame per receive. Tests drive it by
	// hand and never sleep.
	Ticks <-chan time.Time
	// Pleth, when set, gives the pleth sample of frame n (counted from Run's
	// start) in place of State.Pleth, e.g. a waveform that follows State.HR.
	Pleth func(n uint64, s State) uint16
	// Seed makes Garbage reproducible.
	Seed uint64
}

// Device is a simulated Nonin oximeter: it writes the frames of its current
// State to an io.Writer at the real rate (75 frames/s in DF2/DF7, one frame a
// second in DF8), advancing the 3 Hz timer once per packet as the device does.
// Set and Garbage may be called from any goroutine while Run is running.
type Device struct {
	opts   DeviceOpts
	period time.Duration

	mu      sync.Mutex
	enc     *Encoder
	state   State
	pending []byte // bytes to send before the next frame (Garbage, Inject)
	rng     *rand.Rand
	n       uint64 // frames written
	buf     []byte
}

// NewDevice returns a device in the given initial state.
func NewDevice(opts DeviceOpts, initial State) (*Device, error) {
	enc, err := NewEncoder(opts.Format)
	if err != nil {
		return nil, err
	}
	period := time.Second / framesPerSec
	if opts.Format == DF8 {
		period = time.Second
	}
	return &Device{
		opts: opts, period: period, enc: enc, state: initial,
		rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		buf: make([]byte, 0, 64),
	}, nil
}

// Period is the time between frames at the real rate.
func (d *Device) Period() time.Duration { return d.period }

// Set replaces the state that the next frames describe, except the timer,
// which keeps counting from the initial state's Timer as the device's does.
func (d *Device) Set(s State) {
	d.mu.Lock()
	s.Timer = d.state.Timer
	d.state = s
	d.mu.Unlock()
}

// State gives the current state, with the timer as it runs.
func (d *Device) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// Garbage queues n random bytes to go out before the next frame, for fault
// tests (line noise, a wrong baud rate). The bytes may by chance contain
// something frame-like; DF2/DF7 checksums make a decoded value from them
// vanishingly rare, DF8 has no such protection.
func (d *Device) Garbage(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ; n > 0; n-- {
		d.pending = append(d.pending, byte(d.rng.Uint32()))
	}
}

// Inject queues exact bytes to go out before the next frame.
func (d *Device) Inject(b []byte) {
	d.mu.Lock()
	d.pending = append(d.pending, b...)
	d.mu.Unlock()
}

// Frames counts the frames written so far.
func (d *Device) Frames() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// Next appends to dst what the device sends at its next tick: pending
// garbage, then one frame. It is what Run writes; tests may call it directly.
func (d *Device) Next(dst []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	dst = append(dst, d.pending...)
	d.pending = d.pending[:0]
	s := d.state
	if d.opts.Pleth != nil {
		s.Pleth = d.opts.Pleth(d.n, s)
	}
	end := d.enc.Index() == packetFrames-1 && d.opts.Format != DF8
	dst = d.enc.Append(dst, &s)
	d.n++
	if end { // the 3 Hz timer ticks once per packet
		d.state.Timer = (d.state.Timer + 1) & 0x3fff
	}
	return dst
}

// Run writes frames to w until ctx is done (then it returns nil) or a write
// fails (a closed pty: it returns the error).
func (d *Device) Run(ctx context.Context, w io.Writer) error {
	ticks := d.opts.Ticks
	if ticks == nil {
		t := time.NewTicker(d.period)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-ticks:
			if !ok {
				return nil
			}
			d.buf = d.Next(d.buf[:0])
			if _, err := w.Write(d.buf); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("nonin: device write: %w", err)
			}
		}
	}
}
