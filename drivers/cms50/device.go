package cms50

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Device defaults.
const (
	// DefaultPeriod is the packet interval of both protocols: 60 packets a
	// second (atbrask; titinho11 README "60 time per second").
	DefaultPeriod = time.Second / 60
	// DefaultKeepAliveTimeout is how long a Live9 Device keeps streaming
	// after the last start or keep-alive command. The real timeout is not
	// public. headrotor's script sends a keep-alive every 100 packets (about
	// 1.7 s) and calls it possibly unneeded; we assume a device stops within
	// a few seconds and model 5 s, well above the driver's 2 s keep-alive
	// interval and short enough that a driver which never sends one is
	// caught by a test.
	DefaultKeepAliveTimeout = 5 * time.Second

	readRetry = 20 * time.Millisecond // pause after a read error before trying again
)

// DeviceOpts configures a Device.
type DeviceOpts struct {
	Protocol Protocol
	State    State         // the initial state
	Period   time.Duration // packet interval; 0 means DefaultPeriod
	// KeepAliveTimeout applies to Live9 only; 0 means DefaultKeepAliveTimeout.
	KeepAliveTimeout time.Duration
	// NewTicker paces the packets and is the Device's clock; nil means real
	// time. Tests pass a ticker they step by hand.
	NewTicker NewTicker
}

// DeviceStats are a Device's running counts over all its Runs.
type DeviceStats struct {
	Packets    uint64 // live packets written
	Starts     uint64 // CmdStartLive received
	KeepAlives uint64 // CmdKeepAlive received
	Stops      uint64 // CmdStopLive or CmdStopStored received (each answered 0C 80)
	Other      uint64 // other well-formed commands (ignored)
	Noise      uint64 // received bytes that were not part of a command
	Timeouts   uint64 // times the live stream stopped for want of a keep-alive
	Streaming  bool   // whether live packets are being sent now
}

// Device models a CMS50 oximeter for the simulator and the tests: it writes
// the packets of its current State at the real rate to an io.ReadWriter (a
// pty master, a real serial port) and answers commands as the device does.
//
// Legacy: it streams from the start of Run and ignores what it receives, like
// a CMS50D+ on firmware 4.5 (the download mode, F5 F5, is not modelled).
//
// Live9: every Run starts silent, as a device does until a host asks; the
// start command starts the stream, the stop commands stop it (and are
// answered 0C 80), and the stream stops by itself when neither a start nor a
// keep-alive has come for KeepAliveTimeout (see DefaultKeepAliveTimeout for
// why that figure is an assumption). A real device keeps its state across a
// cable replug; the model starts silent on each Run, which is stricter: a
// driver that does not send start after reopening is caught.
//
// The pleth, bar and beat marker are sent as the State has them; the model
// does not animate a waveform. Set, State, Inject and Stats are safe to call
// while Run runs.
type Device struct {
	proto     Protocol
	period    time.Duration
	timeout   time.Duration
	newTicker NewTicker

	mu     sync.Mutex
	state  State
	inject []byte
	stats  DeviceStats
}

// NewDevice returns a Device, or an error naming the bad field of opts.
func NewDevice(opts DeviceOpts) (*Device, error) {
	if !opts.Protocol.Valid() {
		return nil, fmt.Errorf("cms50: DeviceOpts.Protocol %v is not Live9 or Legacy", opts.Protocol)
	}
	if opts.Period < 0 || opts.KeepAliveTimeout < 0 {
		return nil, fmt.Errorf("cms50: DeviceOpts: negative Period (%v) or KeepAliveTimeout (%v)", opts.Period, opts.KeepAliveTimeout)
	}
	d := &Device{proto: opts.Protocol, period: opts.Period, timeout: opts.KeepAliveTimeout,
		newTicker: opts.NewTicker, state: opts.State}
	if d.period == 0 {
		d.period = DefaultPeriod
	}
	if d.timeout == 0 {
		d.timeout = DefaultKeepAliveTimeout
	}
	if d.newTicker == nil {
		d.newTicker = newRealTicker
	}
	return d, nil
}

// String names the model: "cms50 device (live9)".
func (d *Device) String() string { return "cms50 device (" + d.proto.String() + ")" }

// Set changes the state the next packets carry.
func (d *Device) Set(s State) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
}

// State gives the current state.
func (d *Device) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// Inject queues raw bytes to be written at the next tick, before that tick's
// packet and whether or not the device is streaming: noise, a truncated
// packet, a packet with a wrong pattern, for fault tests.
func (d *Device) Inject(b []byte) {
	d.mu.Lock()
	d.inject = append(d.inject, b...)
	d.mu.Unlock()
}

// Stats gives the running counts.
func (d *Device) Stats() DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Run writes packets to rw at every tick until ctx is done (then it returns
// nil) or a write fails (then it returns that error, wrapped). It reads
// commands from rw in a goroutine; a read error (a pty master reads EIO while
// no one has the slave open) is retried after a pause rather than ending
// Run, so the device survives the host closing and reopening the port. That
// goroutine stays blocked in rw.Read after Run returns until rw yields a byte
// or an error: close rw to end it.
func (d *Device) Run(ctx context.Context, rw io.ReadWriter) error {
	if rw == nil {
		return errors.New("cms50: Device.Run: nil ReadWriter")
	}
	done := make(chan struct{})
	defer close(done)
	cmds := make(chan byte, 16)
	go d.readCommands(rw, cmds, done)

	t := d.newTicker(d.period)
	defer t.Stop()
	run := deviceRun{d: d, streaming: d.proto == Legacy}
	d.setStreaming(run.streaming)
	defer d.setStreaming(false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-cmds:
			if err := run.command(rw, c); err != nil {
				return err
			}
		case now := <-t.C():
			if err := run.tick(rw, now); err != nil {
				return err
			}
		}
	}
}

// deviceRun is the state of one Run, owned by its goroutine.
type deviceRun struct {
	d         *Device
	streaming bool
	refreshed bool      // a start or keep-alive came since the last tick
	lastCmd   time.Time // tick time of the last start or keep-alive
	out       []byte    // reused write buffer
}

// command acts on one Live9 command.
func (r *deviceRun) command(w io.Writer, c byte) error {
	d := r.d
	switch c {
	case CmdStartLive:
		r.streaming, r.refreshed = true, true
		d.count(func(s *DeviceStats) { s.Starts++; s.Streaming = true })
	case CmdKeepAlive:
		r.refreshed = true
		d.count(func(s *DeviceStats) { s.KeepAlives++ })
	case CmdStopLive, CmdStopStored:
		r.streaming = false
		d.count(func(s *DeviceStats) { s.Stops++; s.Streaming = false })
		if _, err := w.Write([]byte{TypeAck, 0x80}); err != nil {
			return fmt.Errorf("cms50 device: write ack: %w", err)
		}
	default:
		d.count(func(s *DeviceStats) { s.Other++ })
	}
	return nil
}

// tick writes the injected bytes and, when streaming, one packet.
func (r *deviceRun) tick(w io.Writer, now time.Time) error {
	d := r.d
	if r.refreshed {
		r.lastCmd, r.refreshed = now, false
	}
	if d.proto == Live9 && r.streaming && now.Sub(r.lastCmd) > d.timeout {
		r.streaming = false
		d.count(func(s *DeviceStats) { s.Timeouts++; s.Streaming = false })
	}
	d.mu.Lock()
	r.out = append(r.out[:0], d.inject...)
	d.inject = d.inject[:0]
	if r.streaming {
		r.out = d.proto.Append(r.out, d.state)
		d.stats.Packets++
	}
	d.mu.Unlock()
	if len(r.out) == 0 {
		return nil
	}
	if _, err := w.Write(r.out); err != nil {
		return fmt.Errorf("cms50 device: write: %w", err)
	}
	return nil
}

// count updates the stats under the lock.
func (d *Device) count(f func(*DeviceStats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

func (d *Device) setStreaming(on bool) { d.count(func(s *DeviceStats) { s.Streaming = on }) }

// readCommands parses Live9 commands from r and hands them to Run until done.
// In Legacy every byte is noise.
func (d *Device) readCommands(r io.Reader, cmds chan<- byte, done <-chan struct{}) {
	var p cmdParser
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			cmd, ok, noise := p.feed(c)
			if d.proto == Legacy {
				ok, noise = false, 1
			}
			if noise > 0 {
				d.count(func(s *DeviceStats) { s.Noise += uint64(noise) })
			}
			if ok {
				select {
				case cmds <- cmd:
				case <-done:
					return
				}
			}
		}
		if err != nil {
			select {
			case <-done:
				return
			case <-time.After(readRetry):
			}
		}
	}
}

// cmdParser frames 9-byte Live9 commands: 7D 81, then seven bytes with bit 7
// set, the first of which is the command.
type cmdParser struct {
	n   int
	cmd byte
}

// feed adds one byte; it gives the command when one completes and the number
// of bytes it discarded as noise.
func (p *cmdParser) feed(c byte) (cmd byte, ok bool, noise int) {
	switch {
	case p.n == 0 && c == 0x7D, p.n == 1 && c == 0x81, p.n >= 2 && c&0x80 != 0:
		if p.n == 2 {
			p.cmd = c
		}
		p.n++
		if p.n == live9Len {
			p.n = 0
			return p.cmd, true, 0
		}
		return 0, false, 0
	}
	noise = p.n
	p.n = 0
	if c == 0x7D {
		p.n = 1
	} else {
		noise++
	}
	return 0, false, noise
}

var _ fmt.Stringer = (*Device)(nil)
