package main

import (
	"context"
	"fmt"
	"log/slog"

	"periph.io/x/conn/v3/i2c"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/drivers/cms50"
	"github.com/chairside/chairside/drivers/max30102"
	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/suntech"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/vitals"
)

// engineSink hands what the drivers decode to the engine's input channel. It
// blocks the driver (never drops a value) but gives up when the daemon stops.
type engineSink struct {
	ctx context.Context
	in  chan<- any
}

func (s engineSink) send(v any) {
	select {
	case s.in <- v:
	case <-s.ctx.Done():
	}
}

func (s engineSink) Reading(r vitals.Reading) { s.send(r) }
func (s engineSink) Status(st vitals.Status)  { s.send(st) }
func (s engineSink) Result(r vitals.Result)   { s.send(r) }

// runner is a driver bound to the daemon's sink: it owns its port until ctx
// ends.
type runner struct {
	drivers.Driver
	sink drivers.Sink
}

// Run runs the driver with the daemon's sink.
func (r runner) Run(ctx context.Context) error { return r.Driver.Run(ctx, r.sink) }

// nibpDriver carries out the engine's measurement requests.
type nibpDriver interface {
	Start(ctx context.Context, requestID string) error
	Abort() error
}

// sensorSet is the drivers built from the config.
type sensorSet struct {
	runners []runner
	nibp    nibpDriver // nil without an NIBP module
}

// newDriver builds one driver from its [[sensor]] table; i is the sensor's
// index, which the driver puts in everything it sends.
type newDriver func(s config.Sensor, i int, log *slog.Logger, env sensorEnv) (drivers.Driver, error)

// sensorEnv is what the drivers reach the machine through, for tests to
// replace: zero values mean the real thing.
type sensorEnv struct {
	// openI2C opens an I2C bus by periph's name (max30102.SensorOpts.Open);
	// nil opens the host's through periph.
	openI2C func(bus string) (i2c.BusCloser, error)
}

// sensorDrivers is the daemon's table of the drivers it can run, by the
// config's driver name: config.Drivers lists the same names (a test holds
// the two together).
var sensorDrivers = map[string]newDriver{
	"nonin": func(s config.Sensor, i int, log *slog.Logger, _ sensorEnv) (drivers.Driver, error) {
		o := nonin.DefaultOpts
		o.Format, o.Sensor, o.Logger = nonin.Format(s.Format), i, log
		return asDriver(nonin.New(s.Port, &o))
	},
	"cms50":        cms50Driver(cms50.Live9),
	"cms50-legacy": cms50Driver(cms50.Legacy),
	"suntech": func(s config.Sensor, i int, log *slog.Logger, _ sensorEnv) (drivers.Driver, error) {
		o := suntech.DefaultOpts
		o.Sensor, o.Logger = i, log
		return asDriver(suntech.New(s.Port, &o))
	},
	"max30102": func(s config.Sensor, i int, log *slog.Logger, env sensorEnv) (drivers.Driver, error) {
		o := max30102.DefaultSensorOpts
		o.Sensor, o.Logger, o.Open = i, log, env.openI2C
		if s.Address != 0 {
			o.Part.Addr = s.Address
		}
		return asDriver(max30102.NewSensor(s.I2CBus, &o))
	},
}

func cms50Driver(p cms50.Protocol) newDriver {
	return func(s config.Sensor, i int, log *slog.Logger, _ sensorEnv) (drivers.Driver, error) {
		o := cms50.DefaultOpts
		o.Protocol, o.Sensor, o.Logger = p, i, log
		return asDriver(cms50.New(s.Port, &o))
	}
}

// asDriver turns a New's result into a Driver, keeping a failed New's nil
// *Dev from becoming a non-nil Driver.
func asDriver[D drivers.Driver](d D, err error) (drivers.Driver, error) {
	if err != nil {
		return nil, err
	}
	return d, nil
}

// buildSensors makes one driver per [[sensor]] table. A driver that cannot be
// built is a configuration error: the daemon does not start half-blind.
func buildSensors(cfg *config.Config, sink engineSink, log *slog.Logger, env sensorEnv) (*sensorSet, error) {
	set := &sensorSet{}
	for i, s := range cfg.Sensors {
		d, err := buildSensor(s, i, log, env)
		if err != nil {
			return nil, fmt.Errorf("sensor %d (%s): %w", i+1, s.Driver, err)
		}
		if n, ok := d.(nibpDriver); ok {
			if set.nibp != nil {
				return nil, fmt.Errorf("sensor %d (%s): a second NIBP module; the daemon drives one", i+1, s.Driver)
			}
			set.nibp = n
		}
		set.runners = append(set.runners, runner{Driver: d, sink: sink})
	}
	return set, nil
}

// buildSensor makes the driver of one [[sensor]] table.
func buildSensor(s config.Sensor, i int, log *slog.Logger, env sensorEnv) (drivers.Driver, error) {
	if build, ok := sensorDrivers[s.Driver]; ok {
		return build(s, i, log, env)
	}
	// config.Load refuses these already (the same table): this is the
	// daemon's last word should a new driver miss its entry.
	why := "no driver by that name"
	if d, ok := config.LookupDriver(s.Driver); ok && d.Unavailable != "" {
		why = d.Unavailable
	}
	return nil, fmt.Errorf("driver %q is not available in this build: %s", s.Driver, why)
}
