package suntech

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/serialport"
)

// Opts configures a Dev; New(port, nil) takes DefaultOpts. Zero durations
// and a zero Patient take the DefaultOpts value.
type Opts struct {
	Sensor  int     // the sensor's index in the configuration, copied into every Result and Status
	Patient Patient // inflation profile; zero means Adult

	// CycleLimit is the longest a measurement may take from the start
	// command to the result before the driver aborts it: the module's own
	// safety limit is 180 s (sensors.md §3, unverified), and the driver
	// must not trust the module alone to deflate the cuff.
	CycleLimit time.Duration
	// PollEvery is the cuff pressure poll interval during a cycle (200 ms in
	// nPM); the answers also prove the module is alive.
	PollEvery time.Duration
	// IdlePollEvery is how often the driver asks for the version string when
	// idle, so the frame counts in Status show a live module.
	IdlePollEvery time.Duration
	// AnswerTimeout is how long the module may stay silent while the driver
	// waits for an answer before the cycle fails as a timeout.
	AnswerTimeout time.Duration
	// CommandGap is the least time between two commands (nPM queues them
	// 100 ms apart).
	CommandGap time.Duration
	// MinBackoff and MaxBackoff bound the wait before reopening the port
	// after an unplug (serialport defaults when zero).
	MinBackoff, MaxBackoff time.Duration

	// Logger receives the driver's log lines; nil discards them.
	Logger *slog.Logger
	// Clock is what CycleLimit is measured by; nil means the system clock.
	Clock Clock
	// Open opens the device; nil means serial.Open. For tests.
	Open func(path string, mode *serial.Mode) (serial.Port, error)
}

// DefaultOpts are the usual settings: sensor 0, an adult cuff, the timing of
// SunTech's reference host. New does not read this variable except for nil
// opts (zero fields take the same values): it is a starting point to copy.
var DefaultOpts = defaultOpts()

// defaultOpts gives DefaultOpts' values, which the zero fields take whatever
// a caller does to the variable.
func defaultOpts() Opts {
	return Opts{
		Patient:       Adult,
		CycleLimit:    180 * time.Second,
		PollEvery:     200 * time.Millisecond,
		IdlePollEvery: 5 * time.Second,
		AnswerTimeout: 2 * time.Second,
		CommandGap:    100 * time.Millisecond,
	}
}

// Bounds on the options: outside them the driver would hammer the line or
// leave a cuff inflated too long, which is a configuration mistake.
const (
	minCycleLimit = 10 * time.Second
	maxCycleLimit = 300 * time.Second
	minPoll       = 20 * time.Millisecond
	maxPoll       = 5 * time.Second
	maxIdlePoll   = time.Minute
	minAnswer     = 100 * time.Millisecond
	maxAnswer     = 30 * time.Second
	maxGap        = time.Second
)

// withDefaults fills zero fields and validates the result with port, naming
// the field at fault.
func (o Opts) withDefaults(port string) (Opts, error) {
	d := defaultOpts()
	if o.Patient == 0 {
		o.Patient = d.Patient
	}
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.CycleLimit, d.CycleLimit}, {&o.PollEvery, d.PollEvery}, {&o.IdlePollEvery, d.IdlePollEvery},
		{&o.AnswerTimeout, d.AnswerTimeout}, {&o.CommandGap, d.CommandGap}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("suntech: Opts."+format, a...)) }
	if port == "" {
		errs = append(errs, errors.New("suntech: port is empty"))
	}
	if o.Sensor < 0 {
		bad("Sensor %d is negative", o.Sensor)
	}
	if !o.Patient.valid() {
		bad("Patient 0x%02X is not Adult, Pediatric or Neonate", byte(o.Patient))
	}
	inRange := func(name string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			bad("%s %v is outside [%v, %v]", name, v, lo, hi)
		}
	}
	inRange("CycleLimit", o.CycleLimit, minCycleLimit, maxCycleLimit)
	inRange("PollEvery", o.PollEvery, minPoll, maxPoll)
	inRange("IdlePollEvery", o.IdlePollEvery, minPoll, maxIdlePoll)
	inRange("AnswerTimeout", o.AnswerTimeout, minAnswer, maxAnswer)
	inRange("CommandGap", o.CommandGap, 0, maxGap)
	if o.AnswerTimeout <= o.PollEvery+o.CommandGap {
		bad("AnswerTimeout %v must exceed PollEvery + CommandGap (%v)", o.AnswerTimeout, o.PollEvery+o.CommandGap)
	}
	if o.MinBackoff < 0 {
		bad("MinBackoff %v is negative", o.MinBackoff)
	}
	if o.MaxBackoff < 0 {
		bad("MaxBackoff %v is negative", o.MaxBackoff)
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, errors.Join(errs...)
}

// Dev drives one SunTech Advantage module on a serial port. Run owns the port;
// Start, Abort and Pressure may be called from any goroutine.
type Dev struct {
	path string
	opts Opts
	log  *slog.Logger
	sink drivers.Sink // Run's, touched only by its goroutine
	life drivers.Lifecycle

	// The commands, framed once so that sending them allocates nothing.
	cmdStart, cmdAbort, cmdPressure, cmdData, cmdVersion []byte

	reqs chan request // Start/Abort → Run's loop

	mu       sync.Mutex
	open     bool             // a session holds the port
	port     *serialport.Port // the session's port, to wake its read for a request
	gen      uint64           // counts sessions; requests carry it so a stale one is ignored
	busy     string           // request id from Start until its Result is sent
	aborting bool             // Abort was requested for busy
	pressure int16            // latest cuff pressure during a cycle
	inCycle  bool             // pressure is current
	stats    ParserStats      // a copy of the parser's counts for Stats

	parser  Parser // owned by Run's goroutine
	answers uint64 // frames of a known kind that answered a command: Status.Valid; Run's goroutine
}

// request is a Start or Abort handed to the session loop.
type request struct {
	abort bool
	id    string
	gen   uint64
}

// New checks opts and returns a driver for the module on the serial device
// at port (e.g. /dev/ttyAMA0 or a /dev/serial/by-id link); nil opts means
// DefaultOpts. Every mistake is reported, each naming its field. Nothing is
// opened until Run.
func New(port string, opts *Opts) (*Dev, error) {
	if opts == nil {
		opts = &DefaultOpts
	}
	o, err := opts.withDefaults(port)
	if err != nil {
		return nil, err
	}
	return &Dev{
		path:        port,
		opts:        o,
		log:         o.Logger.With("driver", "suntech", "port", port, "sensor", o.Sensor),
		cmdStart:    StartBP(o.Patient).Bytes(),
		cmdAbort:    Abort().Bytes(),
		cmdPressure: GetCuffPressure().Bytes(),
		cmdData:     GetBPData().Bytes(),
		cmdVersion:  ReturnString().Bytes(),
		reqs:        make(chan request, 8),
	}, nil
}

// String names the driver, its port, its cuff profile and its sensor:
// "suntech(/dev/ttyAMA0, adult, sensor 1)".
func (d *Dev) String() string {
	return fmt.Sprintf("suntech(%s, %s, sensor %d)", d.path, d.opts.Patient, d.opts.Sensor)
}

var _ drivers.Driver = (*Dev)(nil)

// Start begins one measurement for the engine's requestID. Exactly one
// vitals.Result with that Request follows, success or failure. It fails with
// ErrNotOpen when Run does not hold the port, and with ErrInProgress while
// another measurement runs.
func (d *Dev) Start(ctx context.Context, requestID string) error {
	if requestID == "" {
		return errors.New("suntech: Start with an empty request id")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("suntech: start %s: %w", requestID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case !d.open:
		return fmt.Errorf("%w (%s): cannot start %s", ErrNotOpen, d.path, requestID)
	case d.busy != "":
		return fmt.Errorf("%w (%s): cannot start %s", ErrInProgress, d.busy, requestID)
	}
	select {
	case d.reqs <- request{id: requestID, gen: d.gen}:
	default:
		return fmt.Errorf("suntech: start %s: request queue full", requestID)
	}
	d.port.Wake()
	d.busy = requestID
	return nil
}

// Abort stops the measurement in progress: the driver sends the abort
// command and reports the measurement as failed with "aborted". It returns
// ErrIdle when nothing is in progress. A measurement whose result arrives
// before the abort reaches the module keeps its result.
func (d *Dev) Abort() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy == "" {
		return ErrIdle
	}
	if d.aborting {
		return nil
	}
	select {
	case d.reqs <- request{abort: true, id: d.busy, gen: d.gen}:
	default:
		return fmt.Errorf("suntech: abort %s: request queue full", d.busy)
	}
	d.port.Wake()
	d.aborting = true
	return nil
}

// Pressure returns the latest cuff pressure in mmHg while a measurement runs,
// for a display; ok is false when idle or before the first reading.
func (d *Dev) Pressure() (mmHg int16, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pressure, d.inCycle
}

// Stats returns the parser's running counts (the ones Status carries).
func (d *Dev) Stats() ParserStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}
