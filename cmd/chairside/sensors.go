package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/chairside/chairside/drivers/cms50"
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

// runner is a driver that owns its port until ctx ends.
type runner interface {
	Run(ctx context.Context) error
	String() string
}

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

// buildSensors makes one driver per [[sensor]] table. A driver that cannot be
// built is a configuration error: the daemon does not start half-blind.
func buildSensors(cfg *config.Config, sink engineSink, log *slog.Logger) (*sensorSet, error) {
	set := &sensorSet{}
	for i, s := range cfg.Sensors {
		var r runner
		var err error
		switch s.Driver {
		case "nonin":
			o := nonin.DefaultOpts
			o.Port, o.Format, o.Sensor = s.Port, nonin.Format(s.Format), i
			r, err = nonin.New(&o, sink, log)
		case "cms50", "cms50-legacy":
			p := cms50.Live9
			if s.Driver == "cms50-legacy" {
				p = cms50.Legacy
			}
			r, err = cms50.New(cms50.Opts{Port: s.Port, Protocol: p, Sensor: i}, sink, log)
		case "suntech":
			o := suntech.DefaultOpts()
			o.Port, o.Sensor = s.Port, i
			var d *suntech.Dev
			d, err = suntech.New(o, sink, log)
			if err == nil {
				r, set.nibp = d, d
			}
		default:
			// config.Load refuses these already (the same table): this is
			// the daemon's last word should a new driver miss its case.
			why := "no driver by that name"
			if d, ok := config.LookupDriver(s.Driver); ok && d.Unavailable != "" {
				why = d.Unavailable
			}
			err = fmt.Errorf("driver %q is not available in this build: %s", s.Driver, why)
		}
		if err != nil {
			return nil, fmt.Errorf("sensor %d (%s): %w", i+1, s.Driver, err)
		}
		set.runners = append(set.runners, r)
	}
	return set, nil
}
