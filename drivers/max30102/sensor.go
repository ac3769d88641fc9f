package max30102

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/monitor/ppg"
	"github.com/chairside/chairside/monitor/vitals"
)

// SensorOpts configure a Sensor: the part, and how the daemon runs it.
type SensorOpts struct {
	// Part configures the MAX30102; its Addr is the I²C address.
	Part Opts
	// Sensor is the sensor's index in the configuration, put in every
	// reading and status.
	Sensor int
	// Poll is the time between FIFO reads. It must leave room in the FIFO:
	// at most half of FIFODepth/OutputRate (160 ms with DefaultOpts), so a
	// late wake-up loses nothing.
	Poll time.Duration
	// Retry is the wait before opening the bus and finding the part again
	// after the bus or the part failed (unplugged, no such bus).
	Retry time.Duration
	// Open opens an I²C bus by its periph name ("1", "I2C1"); nil runs
	// periph's host.Init and i2creg.Open. Tests pass the Model here.
	Open func(bus string) (i2c.BusCloser, error)
	// Logger gets the bus and part going and coming; nil discards.
	Logger *slog.Logger
}

// DefaultSensorOpts reads DefaultOpts' part every 100 ms and retries a lost
// part every second.
var DefaultSensorOpts = SensorOpts{Part: DefaultOpts, Poll: 100 * time.Millisecond, Retry: time.Second}

// Sensor is a MAX30102 on a named I²C bus run as a chairside oximeter: it
// implements drivers.Driver. Run opens the bus, finds and configures the
// part, reads its FIFO at the Poll pace, feeds monitor/ppg, and sends SpO2
// and pulse (withheld as null with flags when the light does not support
// them, and always flagged uncalibrated), and the running sample counts
// (samples the part dropped count as garbled). A bus error or a missing part
// ends the bus session: Run closes the bus and tries again every Retry,
// sending nothing meanwhile, so the engine's sensor_silent says the sensor
// is gone.
type Sensor struct {
	bus  string // periph's name
	opts SensorOpts
	est  ppg.Config
	log  *slog.Logger
	life drivers.Lifecycle
}

// busPattern is what i2c_bus may be: periph's bus number or name, or the
// Linux device.
var busPattern = regexp.MustCompile(`^(/dev/i2c-[0-9]{1,3}|I2C[0-9]{1,3}|[0-9]{1,3})$`)

// BusName turns a configured bus ("1", "I2C1" or "/dev/i2c-1") into the name
// periph's i2creg.Open takes, or says what is wrong with it.
func BusName(bus string) (string, error) {
	if !busPattern.MatchString(bus) {
		return "", fmt.Errorf("max30102: I²C bus %q: want a bus number (\"1\"), \"I2C1\" or \"/dev/i2c-1\"", bus)
	}
	return strings.TrimPrefix(bus, "/dev/i2c-"), nil
}

// NewSensor checks the options (nil: DefaultSensorOpts) and opens nothing;
// an error names the option at fault.
func NewSensor(bus string, opts *SensorOpts) (*Sensor, error) {
	if opts == nil {
		opts = &DefaultSensorOpts
	}
	o := *opts
	name, err := BusName(bus)
	if err != nil {
		return nil, err
	}
	if _, _, _, _, err := o.Part.registers(); err != nil {
		return nil, err
	}
	rate := o.Part.OutputRate()
	est := ppg.Config{SampleRate: rate, MinDC: float64(o.Part.FingerIR), FullScale: FullScale}
	if _, err := ppg.New(est); err != nil {
		return nil, fmt.Errorf("max30102: output rate %v/s (sample rate %d / averaging %d): %w", rate, o.Part.SampleRate, o.Part.Averaging, err)
	}
	fill := time.Duration(float64(FIFODepth) / rate * float64(time.Second))
	switch {
	case o.Poll <= 0 || o.Poll > fill/2:
		return nil, fmt.Errorf("max30102: Poll %v: want more than 0 and at most %v (half the %v the FIFO holds at %v/s)", o.Poll, fill/2, fill, rate)
	case o.Retry <= 0:
		return nil, fmt.Errorf("max30102: Retry %v: want more than 0", o.Retry)
	case o.Sensor < 0:
		return nil, fmt.Errorf("max30102: Sensor %d: want an index from 0", o.Sensor)
	}
	if o.Open == nil {
		o.Open = openHostBus
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sensor{bus: name, opts: o, est: est}
	s.log = log.With("sensor", s.String())
	return s, nil
}

// openHostBus opens a bus of this machine through periph.
func openHostBus(name string) (i2c.BusCloser, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("periph init: %w", err)
	}
	b, err := i2creg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w (is I²C enabled, e.g. dtparam=i2c_arm=on on a Raspberry Pi, and /dev/i2c-%s readable?)", err, name)
	}
	return b, nil
}

// String names the driver, its bus and address: "max30102(I2C 1, 0x57)".
func (s *Sensor) String() string {
	return fmt.Sprintf("max30102(I2C %s, %#x)", s.bus, s.opts.Part.Addr)
}

// Halt stops Run and returns once it has (the part shut down, the bus
// closed). It may be called twice, and before Run.
func (s *Sensor) Halt() error {
	s.life.Halt()
	return nil
}

// Run owns the bus until ctx is done or Halt is called; see Sensor.
func (s *Sensor) Run(ctx context.Context, sink drivers.Sink) error {
	if sink == nil {
		return fmt.Errorf("%s: %w", s, drivers.ErrNilSink)
	}
	ctx, end, err := s.life.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	defer end()
	est, err := ppg.New(s.est) // checked by NewSensor
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	st := &stream{s: s, sink: sink, est: est}
	failing := ""
	for ctx.Err() == nil {
		err := s.session(ctx, st)
		if ctx.Err() != nil {
			break
		}
		// Log a failure when it changes, not every Retry.
		if msg := err.Error(); msg != failing {
			s.log.Warn("max30102 unavailable; retrying", "err", err, "retry", s.opts.Retry)
			failing = msg
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.opts.Retry):
		}
	}
	return nil
}

// errBusLost ends a session whose part stopped answering.
var errBusLost = errors.New("the part stopped answering")

// maxReadFailures in a row end a session: one failed read is retried by the
// driver (it finds and configures the part again), more mean the bus or the
// board is gone.
const maxReadFailures = 3

// session opens the bus, finds the part and streams from it until the bus
// fails or ctx ends.
func (s *Sensor) session(ctx context.Context, st *stream) error {
	bus, err := s.opts.Open(s.bus)
	if err != nil {
		return fmt.Errorf("opening I²C bus %s: %w", s.bus, err)
	}
	defer bus.Close()
	dev, err := New(bus, &s.opts.Part)
	if err != nil {
		return fmt.Errorf("no MAX30102 at %#x on I²C bus %s: %w", s.opts.Part.Addr, s.bus, err)
	}
	defer dev.Halt() // LEDs off; fails harmlessly when the board is gone
	s.log.Info("max30102 running", "revision", dev.Revision(), "rate", s.opts.Part.OutputRate())
	st.restart()
	poll := time.NewTicker(s.opts.Poll)
	defer poll.Stop()
	status := time.NewTicker(time.Second)
	defer status.Stop()
	buf := make([]Sample, FIFODepth)
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-status.C:
			st.status()
		case <-poll.C:
			b, err := dev.Read(buf)
			if err != nil {
				failures++
				s.log.Debug("max30102 read failed", "err", err, "in_a_row", failures)
				if failures >= maxReadFailures {
					return fmt.Errorf("%w: %w", errBusLost, err)
				}
				continue
			}
			failures = 0
			st.batch(b, buf[:b.N])
		}
	}
}

// stream turns the part's samples into what the engine gets.
type stream struct {
	s         *Sensor
	sink      drivers.Sink
	est       *ppg.Estimator
	samples   uint64 // read from the part
	lost      uint64 // dropped by the part (FIFO overflow)
	fingerOff bool
}

// restart starts the estimator afresh: the part was (re)configured and its
// stream does not continue the last one.
func (st *stream) restart() {
	st.est.Restart()
	st.fingerOff = false
}

func (st *stream) status() {
	st.sink.Status(vitals.Status{Sensor: st.s.opts.Sensor, Frames: st.samples, Garbled: st.lost})
}

// batch takes one Read's samples.
func (st *stream) batch(b Batch, samples []Sample) {
	if b.Restarted {
		st.restart()
	}
	if b.Lost > 0 {
		st.lost += uint64(b.Lost)
		st.est.Lost(b.Lost)
	}
	if len(samples) == 0 {
		return
	}
	st.samples += uint64(len(samples))
	// Finger off by the batch's infrared level: said at once, not after a
	// window; the estimator starts afresh when the finger comes back.
	var sum uint64
	for _, p := range samples {
		sum += uint64(p.IR)
	}
	off := sum < uint64(st.s.opts.Part.FingerIR)*uint64(len(samples))
	if off != st.fingerOff {
		st.fingerOff = off
		if off {
			st.send(probeOff())
		} else {
			st.est.Restart()
		}
	}
	for _, p := range samples {
		e, ok := st.est.Push(float64(p.Red), float64(p.IR))
		if !ok {
			continue
		}
		if st.fingerOff {
			e = probeOff()
		}
		st.send(e)
	}
}

// probeOff is the estimate for no finger: no values, probe_off.
func probeOff() ppg.Estimate {
	f := vitals.ProbeOff | vitals.Uncalibrated
	return ppg.Estimate{SpO2: vitals.NoValue, Pulse: vitals.NoValue, SpO2Flags: f, PulseFlags: f, Reason: "no finger"}
}

func (st *stream) send(e ppg.Estimate) {
	for _, r := range e.Readings(st.s.opts.Sensor) {
		st.sink.Reading(r)
	}
}

var _ drivers.Driver = (*Sensor)(nil)
