package cms50

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/monitor/vitals"
)

// Driver timing.
const (
	// StatusInterval is how often Run sends the frame counts to the sink
	// while the port is open.
	StatusInterval = time.Second
	// KeepAliveInterval is how often Run sends a Live9 keep-alive (or, when
	// no live packet came since the last command, the start command again:
	// the device may have been switched off and on behind a cable that
	// stayed plugged in, or may have stopped for want of a keep-alive).
	// headrotor keeps a device streaming with one every ~1.7 s.
	KeepAliveInterval = 2 * time.Second
	// SilenceReopen is how long an open port may go without a single framed
	// packet before Run closes and reopens it. A device that is switched
	// off is not helped by it, but a path that now leads to another tty (a
	// stale ttyUSBn reused by another adapter, a link re-pointed behind an
	// open descriptor) or a wedged USB bridge is: the reopen resolves the
	// path again. It is not how silence is reported: the engine times that.
	SilenceReopen = 10 * time.Second

	readBufSize = 256 // about 28 Live9 packets, half a second of data
)

// errSilent ends a session that framed nothing for SilenceReopen.
var errSilent = errors.New("cms50: no packet framed; reopening the port")

// ErrOpts is wrapped by every error New returns for bad options; the message
// names the field.
var ErrOpts = errors.New("cms50: invalid Opts")

// Opts configures a Dev; New(port, nil) takes DefaultOpts.
type Opts struct {
	// Protocol is Live9 (driver "cms50") or Legacy ("cms50-legacy").
	Protocol Protocol
	// Sensor is the index of the sensor in the configuration, put into every
	// Reading and Status.
	Sensor int
	// Logger receives the driver's log lines; nil discards them.
	Logger *slog.Logger
}

// DefaultOpts are the usual settings: the Live9 protocol, sensor 0. New does
// not read this variable except for nil opts: it is a starting point to copy.
var DefaultOpts = Opts{Protocol: Live9}

// Dev is a CMS50 oximeter on a serial port. Run owns the port.
type Dev struct {
	path string
	opts Opts
	log  *slog.Logger
	dec  *Decoder     // touched only by the Run goroutine
	sink drivers.Sink // Run's, touched only by its goroutine
	life drivers.Lifecycle

	// Timing, fixed by New; tests in this package shorten it.
	port           serialport.Config
	statusEvery    time.Duration
	keepAliveEvery time.Duration
	silenceReopen  time.Duration
	now            func() time.Time

	// quiet is set once the "no live data" warning is logged, and cleared by
	// the next live packet, so a device left off warns once, not once per
	// reopen. Touched only by the Run goroutine.
	quiet bool
}

// New validates opts and returns a Dev for the serial device at port, best a
// stable /dev/serial/by-id/... link: it is resolved again on every reopen.
// nil opts means DefaultOpts. New opens nothing: Run does.
func New(port string, opts *Opts) (*Dev, error) {
	if opts == nil {
		opts = &DefaultOpts
	}
	o := *opts
	switch {
	case port == "":
		return nil, fmt.Errorf("%w: port is empty", ErrOpts)
	case !o.Protocol.Valid():
		return nil, fmt.Errorf("%w: Opts.Protocol %v is not Live9 or Legacy", ErrOpts, o.Protocol)
	case o.Sensor < 0:
		return nil, fmt.Errorf("%w: Opts.Sensor %d is negative", ErrOpts, o.Sensor)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dec, err := NewDecoder(o.Protocol)
	if err != nil {
		return nil, err
	}
	logger := o.Logger.With("driver", o.Protocol.Driver(), "sensor", o.Sensor)
	return &Dev{
		path: port,
		opts: o,
		log:  logger,
		dec:  dec,
		port: serialport.Config{
			Path:   port,
			Mode:   o.Protocol.Mode(),
			Logger: logger,
		},
		statusEvery:    StatusInterval,
		keepAliveEvery: KeepAliveInterval,
		silenceReopen:  SilenceReopen,
		now:            time.Now,
	}, nil
}

// String names the driver, its port, its protocol and its sensor:
// "cms50(/dev/ttyUSB0, live9, sensor 0)".
func (d *Dev) String() string {
	return fmt.Sprintf("cms50(%s, %s, sensor %d)", d.path, d.opts.Protocol, d.opts.Sensor)
}

// Run opens the port with the protocol's line settings, decodes until ctx is
// done or Halt is called and returns nil then; it sends what it decodes to
// sink. After an unplug or an I/O error it reopens the port with back-off
// (see serialport.Run); a missing device is not an error, the engine notices
// the silence. It also reopens a port that framed no packet for
// SilenceReopen. For Live9 it sends the start command on every open and
// keep-alives while open. While the port is open it sends the cumulative
// frame counts to the sink about once a second. It returns an error only
// when it cannot start: a nil sink, a Run already running, after Halt.
func (d *Dev) Run(ctx context.Context, sink drivers.Sink) error {
	if sink == nil {
		return fmt.Errorf("%v: %w", d, drivers.ErrNilSink)
	}
	ctx, end, err := d.life.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%v: %w", d, err)
	}
	defer end()
	d.sink = sink
	if err := serialport.Run(ctx, d.port, d.session); err != nil {
		return fmt.Errorf("%v: %w", d, err)
	}
	return nil
}

// Halt stops Run and waits for it to return; a later Run fails. It may be
// called more than once, and before Run, but not from the Sink.
func (d *Dev) Halt() error {
	d.life.Halt()
	return nil
}

// session is one open port's lifetime. It ends on an unplug or a read error,
// when ctx is done, or after SilenceReopen without a framed packet.
func (d *Dev) session(ctx context.Context, p *serialport.Port) error {
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	s := &session{d: d, port: p, buf: make([]byte, readBufSize), stop: stop,
		lastFrame: d.now(), frames: d.dec.Stats().Frames}
	if d.opts.Protocol == Live9 {
		if err := s.command(CmdStartLive); err != nil {
			return err
		}
	}
	d.sendStatus()
	err := serialport.Pump(sctx, p, s.buf, s.feed, d.statusEvery, s.tick)
	if d.dec.Flush() { // the last packet, cut or still unconfirmed, is lost: count it
		d.sendStatus()
	}
	if cause := context.Cause(sctx); ctx.Err() == nil && errors.Is(cause, errSilent) {
		return cause
	}
	return err
}

// sendStatus sends the decoder's counts.
func (d *Dev) sendStatus() {
	st := d.dec.Stats()
	d.sink.Status(vitals.Status{Sensor: d.opts.Sensor, Frames: st.Frames, Garbled: st.Garbled})
}

// session is the state of one open port, owned by the Run goroutine.
type session struct {
	d        *Dev
	port     *serialport.Port
	buf      []byte
	lastCmd  time.Time // when the last command was sent
	liveSeen uint64    // live packets since the last command
	streamed bool      // a live packet came in this session

	stop      context.CancelCauseFunc // ends the session (silence)
	frames    uint64                  // decoder's Frames at the last tick
	lastFrame time.Time               // when a tick last saw Frames grow
}

// feed decodes a chunk and hands each trusted live packet's readings to the
// sink as soon as the decoder returns it (Legacy: not before a run of
// packets back to back, see Decoder.Trusted).
func (s *session) feed(b []byte) {
	d := s.d
	for len(b) > 0 {
		n, pkt, ok := d.dec.Next(b)
		b = b[n:]
		if !ok {
			continue
		}
		r, live := pkt.Readings(d.opts.Sensor)
		if !live || !d.dec.Trusted() {
			continue // Legacy: not yet a run of packets, maybe noise
		}
		s.liveSeen++
		if !s.streamed || d.quiet {
			s.streamed, d.quiet = true, false
			d.log.Info("cms50 streaming", "port", s.port.String())
		}
		d.sink.Reading(r[0])
		d.sink.Reading(r[1])
	}
}

// tick runs about every statusEvery: the counts, the silence check, and
// for Live9 the keep-alive when it is due.
func (s *session) tick() {
	d := s.d
	d.sendStatus()
	now := d.now()
	if f := d.dec.Stats().Frames; f != s.frames {
		s.frames, s.lastFrame = f, now
	} else if now.Sub(s.lastFrame) >= d.silenceReopen {
		s.stop(fmt.Errorf("%w (nothing for %v)", errSilent, now.Sub(s.lastFrame).Round(100*time.Millisecond)))
		return
	}
	if d.opts.Protocol != Live9 || now.Sub(s.lastCmd) < d.keepAliveEvery {
		return
	}
	cmd := byte(CmdKeepAlive)
	if s.liveSeen == 0 {
		cmd = CmdStartLive
		if !d.quiet {
			d.quiet = true
			d.log.Warn("cms50 sent no live data since the last command; sending start again", "port", s.port.String())
		}
	}
	if err := s.command(cmd); err != nil {
		// The next Read reports the unplug; Pump then ends the session.
		d.log.Debug("cms50 command failed", "cmd", fmt.Sprintf("%02X", cmd), "err", err)
	}
}

// command sends a Live9 command and restarts the keep-alive clock.
func (s *session) command(cmd byte) error {
	c := Command(cmd, 0)
	s.lastCmd, s.liveSeen = s.d.now(), 0
	if _, err := s.port.Write(c[:]); err != nil {
		return fmt.Errorf("cms50: send command %02X: %w", cmd, err)
	}
	return nil
}

var _ drivers.Driver = (*Dev)(nil)
