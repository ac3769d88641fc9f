package main

import (
	"log/slog"
	"time"

	"github.com/chairside/chairside/drivers/sim"
)

// player applies a scenario to the device models. It has no clock: step is
// given the elapsed scenario time, by the emulator's loop or by a test.
type player struct {
	sc   *sim.Scenario
	cur  *sim.Cursor
	devs map[sim.Device]*device
	log  *slog.Logger
	done bool // "finished" was logged
}

func newPlayer(sc *sim.Scenario, devs []*device, log *slog.Logger) *player {
	p := &player{sc: sc, cur: sc.Cursor(), devs: map[sim.Device]*device{}, log: log}
	for _, d := range devs {
		p.devs[d.kind] = d
	}
	return p
}

// step brings the devices to scenario time t: the entries reached since the
// last step, in order, with their one-shot events, then the state at t.
func (p *player) step(t time.Duration) {
	for _, e := range p.cur.Advance(t) {
		p.log.Info("scenario entry", "entry", e.Key(), "t", e.T.String(), "does", e.Summary)
		for _, ev := range e.Events {
			p.do(ev)
		}
	}
	st := p.sc.At(t)
	for _, d := range p.devs {
		d.model.apply(st)
	}
	if !p.done && p.cur.Done() && t >= p.sc.End() {
		p.done = true
		p.log.Info("scenario finished; holding its last state", "t", t.Round(time.Second).String())
	}
}

// do carries out a one-shot event.
func (p *player) do(ev sim.Event) {
	dev := ev.Device
	if ev.Kind == sim.NIBPError {
		dev = sim.SunTech
	}
	d, ok := p.devs[dev]
	if !ok {
		p.log.Info("event skipped: device not emulated", "event", ev.String())
		return
	}
	switch ev.Kind {
	case sim.Unplug:
		d.line.unplug()
	case sim.Replug:
		if err := d.line.replug(); err != nil {
			p.log.Error("replug failed; the line stays out", "device", dev.String(), "err", err)
		}
	case sim.Garbage:
		d.model.garbage(ev.Bytes)
		p.log.Info("garbage sent", "device", dev.String(), "bytes", ev.Bytes)
	case sim.NIBPError:
		d.model.nibpError(ev.Code)
	}
}
