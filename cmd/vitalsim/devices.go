package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"

	"go.bug.st/serial"

	"github.com/chairside/chairside/drivers/cms50"
	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/sim"
	"github.com/chairside/chairside/drivers/suntech"
)

// model is a device model that follows a scenario. apply, garbage and
// nibpError are called from the player's goroutine only; run owns the line
// until ctx is done and the line is closed.
type model interface {
	apply(s sim.State)    // the state from now on
	garbage(n int)        // n random bytes on the line
	nibpError(code uint8) // the next NIBP measurement fails (NIBP only)
	run(ctx context.Context) error
}

// device is one emulated sensor: its model and the line to the host.
type device struct {
	kind  sim.Device
	spec  endpointSpec
	line  *line
	model model
}

// lineMode gives a device's line settings, its driver's own: Nonin and
// SunTech 9600 8N1, CMS50 by protocol.
func lineMode(d sim.Device, p cms50.Protocol) serial.Mode {
	if d == sim.CMS50 {
		return p.Mode()
	}
	return serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
}

// randomBytes gives n bytes of line noise.
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// noninModel is a Nonin oximeter in data format 2, 7 or 8.
type noninModel struct {
	dev  *nonin.Device
	line *line
}

func newNonin(f nonin.Format, l *line, s sim.State, seed uint64) (*noninModel, error) {
	p := newPleth(f, seed)
	dev, err := nonin.NewDevice(nonin.DeviceOpts{Format: f, Pleth: p.sample, Seed: seed}, noninState(s))
	if err != nil {
		return nil, fmt.Errorf("nonin model: %w", err)
	}
	return &noninModel{dev: dev, line: l}, nil
}

// noninState is what a Nonin reports for s: its values (missing with the
// probe off) and status bits; SmartPoint on, as on an OEM III.
func noninState(s sim.State) nonin.State {
	st := nonin.Steady(s.SpO2Value(), s.PulseValue())
	st.Flags = s.Flags()
	st.SREV = 0x4A
	st.SmartPoint = true
	return st
}

func (m *noninModel) apply(s sim.State) { m.dev.Set(noninState(s)) }
func (m *noninModel) garbage(n int)     { m.dev.Garbage(n) }
func (m *noninModel) nibpError(uint8)   {}

// run writes frames at the real rate. A Nonin ignores what the host sends;
// it is read and dropped so that a host that writes does not block.
func (m *noninModel) run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, m.line) // until the line closes
	}()
	err := m.dev.Run(ctx, m.line)
	<-done
	return err
}

// cms50Model is a Contec CMS50 in the Live9 or the Legacy protocol.
type cms50Model struct {
	dev  *cms50.Device
	line *line
	rng  *rand.Rand
}

func newCMS50(p cms50.Protocol, l *line, s sim.State, seed uint64) (*cms50Model, error) {
	dev, err := cms50.NewDevice(cms50.DeviceOpts{Protocol: p, State: cms50State(s)})
	if err != nil {
		return nil, fmt.Errorf("cms50 model: %w", err)
	}
	return &cms50Model{dev: dev, line: l, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}, nil
}

// cms50State is what a CMS50 reports for s. It has no artifact bit: during
// a burst it searches, as the device does when the finger moves. Perfusion
// shows in the legacy signal strength (0 reads as low perfusion). The pleth
// is flat: the model does not animate a waveform.
func cms50State(s sim.State) cms50.State {
	st := cms50.State{SpO2: s.SpO2Value(), PR: s.PulseValue(), Pleth: 64, FingerOut: s.ProbeOff}
	switch {
	case s.ProbeOff:
	case s.Perfusion == sim.PerfusionLow:
		st.Signal, st.Bar = 0, 1
	case s.Perfusion == sim.PerfusionMarginal:
		st.Signal, st.Bar = 3, 4
	default:
		st.Signal, st.Bar = 6, 8
	}
	st.Searching = s.Artifact && !s.ProbeOff
	return st
}

func (m *cms50Model) apply(s sim.State)             { m.dev.Set(cms50State(s)) }
func (m *cms50Model) garbage(n int)                 { m.dev.Inject(randomBytes(m.rng, n)) }
func (m *cms50Model) nibpError(uint8)               {}
func (m *cms50Model) run(ctx context.Context) error { return m.dev.Run(ctx, m.line) }

// suntechModel is a SunTech Advantage NIBP module. Its cycles run on the
// scaled clock, so a 30 s measurement takes 30 s / speed.
type suntechModel struct {
	mod    *suntech.Module
	rng    *rand.Rand
	log    *slog.Logger
	silent bool
	cycle  suntech.Measurement // the current default, for a queued error's duration
}

func newSunTech(l *line, clock suntech.Clock, s sim.State, seed uint64, log *slog.Logger) *suntechModel {
	m := &suntechModel{mod: suntech.NewModule(l, clock), rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), log: log}
	m.apply(s)
	return m
}

func (m *suntechModel) apply(s sim.State) {
	bp := s.Measurement()
	m.cycle = suntech.Measurement{Sys: bp.Systolic, Dia: bp.Diastolic, Map: bp.Mean, HR: bp.Pulse, Duration: s.NIBPDuration}
	m.mod.Set(m.cycle)
	if s.NIBPSilent != m.silent {
		m.silent = s.NIBPSilent
		m.mod.SetSilent(m.silent)
		m.log.Info("NIBP module silent", "silent", m.silent)
	}
}

func (m *suntechModel) garbage(n int) {
	if err := m.mod.Inject(randomBytes(m.rng, n)); err != nil {
		m.log.Warn("garbage not sent", "err", err)
	}
}

func (m *suntechModel) nibpError(code uint8) {
	m.mod.Queue(suntech.Measurement{ErrorCode: suntech.ErrorCode(code), Duration: m.cycle.Duration})
	m.log.Info("next NIBP measurement will fail", "code", suntech.ErrorCode(code).Error())
}

func (m *suntechModel) run(ctx context.Context) error { return m.mod.Run(ctx) }
