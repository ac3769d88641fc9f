package nonin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/monitor/vitals"
	"go.bug.st/serial"
)

// Opts configures the driver; New(port, nil) takes DefaultOpts.
type Opts struct {
	Format Format // data format the device is set to: 2, 7 or 8
	Sensor int    // index of the sensor in the configuration, put into every Reading and Status

	// StatusEvery is how often a vitals.Status is sent while the port is
	// open; 0 means one second.
	StatusEvery time.Duration
	// ReadTimeout and MinBackoff tune the port (see serialport.Config); 0
	// means its defaults (100ms each).
	ReadTimeout time.Duration
	MinBackoff  time.Duration
	// MaxBackoff caps the wait between reopen attempts; 0 means one second
	// (not serialport's 5s): it is also the longest a replugged oximeter can
	// wait to be noticed, and a failed open of a missing device costs
	// nothing.
	MaxBackoff time.Duration

	// Logger receives the driver's log lines; nil discards them.
	Logger *slog.Logger
}

// DefaultOpts are the usual settings: DF2, sensor 0, status once a second.
// New(port, nil) uses them; New does not read this variable otherwise: it is
// a starting point to copy.
var DefaultOpts = Opts{Format: DF2, StatusEvery: time.Second}

// defaultMaxBackoff bounds how late a replugged device is noticed.
const defaultMaxBackoff = time.Second

// Line settings of every Nonin serial format (sensors.md §1).
var lineMode = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

// Dev is a Nonin oximeter on a serial port. Run owns the port: it reads,
// decodes, sends each value to the sink as soon as the decoder gives it (a
// DF2/DF7 packet's when the next SYNC frame closes it) and the frame counts
// once a second, and reopens the port after an unplug.
type Dev struct {
	port string
	opts Opts
	log  *slog.Logger
	dec  *Decoder
	buf  [256]byte // 256 bytes is 0.27 s of DF2 at 9600 baud
	life drivers.Lifecycle

	sink drivers.Sink // Run's, touched only by its goroutine

	// The session's pacing (see slack), touched only by its goroutine.
	onBeat  bool // the pause asked for last ends between two frames, by the stream's beat
	offBeat bool // a pause on the beat ended too late this session: the margin is back

	lastChunk time.Time // when the last chunk was read (DF8 gaps, see feedAt)
}

// New checks opts and returns a driver for the serial device at port (e.g.
// /dev/serial/by-id/usb-...; a symlink is resolved on every (re)open). nil
// opts means DefaultOpts. New opens nothing: Run does.
func New(port string, opts *Opts) (*Dev, error) {
	if opts == nil {
		opts = &DefaultOpts
	}
	o := *opts
	switch {
	case port == "":
		return nil, errors.New("nonin: port is empty")
	case !o.Format.valid():
		return nil, fmt.Errorf("nonin: Opts.Format %d is not supported (want 2, 7 or 8)", int(o.Format))
	case o.Sensor < 0:
		return nil, fmt.Errorf("nonin: Opts.Sensor %d is negative", o.Sensor)
	case o.StatusEvery < 0:
		return nil, fmt.Errorf("nonin: Opts.StatusEvery %v is negative", o.StatusEvery)
	case o.ReadTimeout < 0:
		return nil, fmt.Errorf("nonin: Opts.ReadTimeout %v is negative", o.ReadTimeout)
	case o.MinBackoff < 0:
		return nil, fmt.Errorf("nonin: Opts.MinBackoff %v is negative", o.MinBackoff)
	case o.MaxBackoff < 0:
		return nil, fmt.Errorf("nonin: Opts.MaxBackoff %v is negative", o.MaxBackoff)
	}
	if o.StatusEvery == 0 {
		o.StatusEvery = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(defaultMaxBackoff, o.MinBackoff)
	}
	if o.MinBackoff > o.MaxBackoff {
		return nil, fmt.Errorf("nonin: Opts.MinBackoff %v is above Opts.MaxBackoff %v", o.MinBackoff, o.MaxBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dev{port: port, opts: o, log: o.Logger.With("driver", "nonin", "sensor", o.Sensor)}
	dec, err := NewDecoder(o.Format, o.Sensor, func(r vitals.Reading) { d.sink.Reading(r) })
	if err != nil {
		return nil, err
	}
	dec.gateOnGaps() // DF8: only frames after a quiet line (see feedAt)
	d.dec = dec
	return d, nil
}

// Run reads the device until ctx is done or Halt is called, then returns
// nil; it sends what it decodes to sink. It returns an error only when it
// cannot start (a nil sink, a second Run on the same Dev, after Halt, a port
// configuration serialport rejects); unplugs and I/O errors are retried.
func (d *Dev) Run(ctx context.Context, sink drivers.Sink) error {
	if sink == nil {
		return fmt.Errorf("%s: %w", d, drivers.ErrNilSink)
	}
	ctx, end, err := d.life.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	defer end()
	d.sink = sink
	cfg := serialport.Config{
		Path:        d.port,
		Mode:        lineMode,
		ReadTimeout: d.opts.ReadTimeout,
		MinBackoff:  d.opts.MinBackoff,
		MaxBackoff:  d.opts.MaxBackoff,
		Logger:      d.log,
	}
	if err := serialport.Run(ctx, cfg, d.session); err != nil {
		return fmt.Errorf("nonin: %w", err)
	}
	return nil
}

// Halt stops Run and waits for it to return; a later Run fails. It may be
// called more than once, and before Run, but not from the Sink.
func (d *Dev) Halt() error {
	d.life.Halt()
	return nil
}

// session reads one opened port until it fails or ctx is done.
func (d *Dev) session(ctx context.Context, p *serialport.Port) error {
	d.newSession()
	feed := d.dec.Feed // only DF8 needs each chunk's time (see feedAt)
	if d.opts.Format == DF8 {
		feed = d.feed
	}
	err := serialport.PumpPaced(ctx, p, d.buf[:], feed, d.opts.StatusEvery, d.sendStatus, d.slack)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("nonin: %s: %w", p, err)
	}
	return nil
}

// newSession forgets the last session's stream: a frame cut off by the
// unplug is not continued on the new port, and its beat is learnt anew.
func (d *Dev) newSession() {
	d.dec.Reset()
	d.onBeat, d.offBeat = false, false
	d.lastChunk = time.Time{}
}

// df8Gap is how long the line may stay quiet inside a DF8 frame: its 4 bytes
// take 4 ms, the next frame comes a second later, and DF8 reads are never
// paused (slack is 0), so a chunk read this long after the last one with a
// frame begun is another frame's bytes.
const df8Gap = 200 * time.Millisecond

func (d *Dev) feed(p []byte) { d.feedAt(p, time.Now()) }

// feedAt feeds a chunk read at now. In DF8 it tells the decoder of each
// quiet line (Decoder.Gap): a frame begun before it is dropped rather than
// completed with the next frame's bytes, which after two lost bytes would
// give a well-formed frame with a value from the wrong place, and only a
// frame that begins right after it is decoded, so that random bytes at the
// line's rate, which form well-formed DF8 frames by chance, give no value
// (see gateOnGaps).
func (d *Dev) feedAt(p []byte, now time.Time) {
	if d.opts.Format == DF8 && !d.lastChunk.IsZero() && now.Sub(d.lastChunk) >= df8Gap {
		d.dec.Gap()
	}
	d.lastChunk = now
	d.dec.Feed(p)
}

func (d *Dev) sendStatus() { d.sink.Status(d.dec.Status()) }

// frameTime is the time one DF2/DF7 frame takes on the wire.
const frameTime = time.Second / framesPerSec

// slack is how long the session may leave frames in the port's buffer
// before it reads again, after a chunk whose last byte arrived just now
// (fresh) or at some time since the last read.
//
// Without knowing when the last frame arrived, it reads again a frame and a
// half (slackMargin) before the next frame that emits a value (the SYNC
// frame that closes a DF2/DF7 packet) can be complete. That frame follows
// the QuietFrames frames before it, a frame time each, except that the first
// of them may be all but complete when already begun, and otherwise may be
// about to start, and then takes only its time on the wire. After a SYNC
// frame that pause is about 305 ms and ends before the packet's last frame,
// which then wakes the process once more before the closing SYNC.
//
// After a fresh chunk ending on a whole frame, the stream's beat is known:
// the device sends a frame every frameTime, so the pause ends halfway
// between the last quiet frame's end and the value frame's first byte
// (beatGuard, 4 ms either side), and the next wake-up is for the value
// frame itself: two a packet instead of three. Should such a pause end
// after the value frame has begun (a host that delivers bytes in bursts, a
// timer very late), every later pause of the session keeps the margin. A
// pause shorter than two frames saves nothing.
func (d *Dev) slack(fresh bool) time.Duration {
	if d.onBeat {
		d.onBeat = false
		if d.dec.valueBegun() && !d.offBeat {
			d.offBeat = true
			d.log.Info("nonin frames arrive off their beat; pausing with a frame and a half of margin from now on")
		}
	}
	q := d.dec.QuietFrames()
	if q == 0 {
		return 0
	}
	if fresh && !d.offBeat && !d.dec.begun() {
		d.onBeat = true
		return time.Duration(q+1)*frameTime - d.frameWire() - d.beatGuard()
	}
	ahead := time.Duration(q) * frameTime
	if !d.dec.begun() {
		ahead += d.frameWire()
	}
	if p := ahead - slackMargin; p >= 2*frameTime {
		return p
	}
	return 0
}

// slackMargin is how long before the next value frame can be complete a
// paused session reads again when it does not know the stream's beat.
const slackMargin = 3 * frameTime / 2

// beatGuard is how long before the value frame's first byte a pause on the
// stream's beat ends: half the gap between two frames on the wire.
func (d *Dev) beatGuard() time.Duration { return (frameTime - d.frameWire()) / 2 }

// frameWire is how long one frame takes on the wire at the line's speed
// (8N1: ten bits a byte), the least time in which a frame not yet begun can
// be complete.
func (d *Dev) frameWire() time.Duration {
	return time.Duration(d.opts.Format.frameLen()*10) * time.Second / time.Duration(lineMode.BaudRate)
}

// String names the driver, its port, its format and its sensor:
// "nonin(/dev/ttyUSB0, DF2, sensor 0)".
func (d *Dev) String() string {
	return fmt.Sprintf("nonin(%s, %s, sensor %d)", d.port, d.opts.Format, d.opts.Sensor)
}

var _ drivers.Driver = (*Dev)(nil)
