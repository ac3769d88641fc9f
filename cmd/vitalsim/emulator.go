package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/chairside/chairside/drivers/sim"
	"github.com/chairside/chairside/drivers/suntech"
)

const (
	// stepEvery is how often the player brings the models to the scenario's
	// time: the resolution of ramps and one-shots in real time.
	stepEvery = 50 * time.Millisecond
	// stopWait bounds the wait for the models at shutdown, within the 5 s
	// the contract allows.
	stopWait = 3 * time.Second
)

// emulator runs the device models on their lines and plays the scenario.
type emulator struct {
	sc     *sim.Scenario
	log    *slog.Logger
	clock  *suntech.ScaledClock // the NIBP module's cycles
	speed  float64
	now    func() time.Time // the scenario clock's source; tests move it by hand
	devs   []*device
	player *player
}

// newEmulator builds the models and lines, in the scenario's state at t = 0;
// nothing is opened yet.
func newEmulator(o options, sc *sim.Scenario, log *slog.Logger) (*emulator, error) {
	e := &emulator{sc: sc, log: log, clock: suntech.NewScaledClock(o.speed), speed: o.speed, now: time.Now}
	s0 := sc.At(0)
	for i, kind := range sim.Devices() {
		spec, ok := o.devices[kind]
		if !ok {
			continue
		}
		seed := uint64(i + 1) // garbage is the same on every run
		l := newLine(kind.String(), log, !spec.pty, opener(spec, lineMode(kind, o.cms50Proto), staleBytes(kind, o)))
		d := &device{kind: kind, spec: spec, line: l}
		var err error
		switch kind {
		case sim.Nonin:
			d.model, err = newNonin(o.noninFormat, l, s0, seed)
		case sim.CMS50:
			d.model, err = newCMS50(o.cms50Proto, l, s0, seed)
		case sim.SunTech:
			d.model = newSunTech(l, e.clock, s0, seed, log.With("device", kind.String()))
		}
		if err != nil {
			return nil, err
		}
		e.devs = append(e.devs, d)
	}
	e.player = newPlayer(sc, e.devs, log)
	return e, nil
}

// opener gives the function that plugs a line's endpoint in.
func opener(spec endpointSpec, mode serial.Mode, stale int) func() (endpoint, error) {
	if spec.pty {
		return func() (endpoint, error) { return openPTY(spec.path, stale) }
	}
	return func() (endpoint, error) { return openSerial(spec.path, mode) }
}

// staleBytes is about two seconds of a device's output (at least a few
// frames): more than that waiting unread on a pty means no host reads it. A
// host that is merely slow (a loaded machine running tests) stays well
// under it; one that never reads gets at most that much old data on open.
func staleBytes(d sim.Device, o options) int {
	perSecond := 64 // SunTech: answers only
	switch d {
	case sim.Nonin:
		perSecond = 5 * 75
		if o.noninFormat == 8 {
			perSecond = 4
		}
	case sim.CMS50:
		perSecond = 60 * o.cms50Proto.PacketLen()
	}
	return max(2*perSecond, 16)
}

// run plays the scenario until ctx is done; it returns the exit code.
func (e *emulator) run(ctx context.Context) int {
	e.player.step(0) // t = 0 entries first: an unplug at 0 keeps that line out
	for _, d := range e.devs {
		if err := d.line.start(); err != nil {
			e.log.Error("cannot open the line", "device", d.kind.String(), "endpoint", d.spec.String(), "err", err)
			e.closeLines()
			return exitRuntime
		}
	}
	attrs := []any{"scenario", e.sc.Name, "file", e.sc.File, "speed", e.speed,
		"ends_after", (time.Duration(float64(e.sc.End()) / e.speed)).Round(time.Millisecond).String()}
	for _, d := range e.devs {
		attrs = append(attrs, d.kind.String(), d.spec.String())
	}
	e.log.Info("vitalsim running", attrs...)

	devCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	ended := make(chan error, len(e.devs))
	for _, d := range e.devs {
		wg.Go(func() {
			err := d.model.run(devCtx)
			if err == nil && devCtx.Err() == nil {
				err = errors.New("stopped by itself")
			}
			if err != nil {
				ended <- fmt.Errorf("%s model: %w", d.kind, err)
			}
		})
	}
	code := e.loop(ctx, ended)
	cancel()
	e.closeLines()
	if !waitGroup(&wg, stopWait) {
		e.log.Error("device models did not stop", "waited", stopWait.String())
		return exitRuntime
	}
	e.log.Info("vitalsim stopped")
	return code
}

// loop steps the player until ctx is done or a model fails.
func (e *emulator) loop(ctx context.Context, ended <-chan error) int {
	clock := sim.NewClock(e.now, e.speed)
	tick := time.NewTicker(stepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.log.Info("stopping", "cause", context.Cause(ctx).Error())
			return exitOK
		case err := <-ended:
			e.log.Error("device model failed", "err", err)
			return exitRuntime
		case <-tick.C:
			e.player.step(clock.Elapsed())
		}
	}
}

// closeLines closes every line: ptys close and their links go.
func (e *emulator) closeLines() {
	for _, d := range e.devs {
		if err := d.line.close(); err != nil {
			e.log.Warn("closing the line", "device", d.kind.String(), "err", err)
		}
	}
}

// waitGroup waits for wg at most d; it reports whether wg finished.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
