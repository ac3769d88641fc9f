package suntech

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Measurement is what the module model reports for one cycle.
type Measurement struct {
	Sys, Dia, Map int16     // mmHg
	HR            int16     // /min (0..255 on the wire)
	ErrorCode     ErrorCode // non-zero: the cycle fails with this code
	// Duration is how long the cycle lasts on the model's clock; zero means
	// DefaultCycle.
	Duration time.Duration
}

// DefaultCycle is the model's cycle length when a Measurement gives none.
// The real module's typical length is not in any source read; ~30 s is what
// oscillometric monitors take for an adult.
const DefaultCycle = 30 * time.Second

// DefaultVersion is the model's version string: "LX" marks an Advantage
// module in nPM.
const DefaultVersion = "LX-SIM chairside model of SunTech Advantage"

// Model timing.
const (
	// inflateShare is the part of a cycle spent inflating; the rest deflates
	// step by step to zero.
	inflateShare = 0.2
	// lineGap: a command still incomplete after this long of real time is
	// answered 'N' and dropped, as a module's inter-byte timeout would.
	lineGap = 100 * time.Millisecond
	// modelTick is how often the model looks at its clock to end a cycle.
	modelTick = 10 * time.Millisecond
	// defaultInitialInflation is the target of the first inflation (mmHg).
	defaultInitialInflation = 160
	// receivedCap bounds the model's log of received commands.
	receivedCap = 1024
)

// Module is a model of the SunTech Advantage module for the simulator and the
// tests. It reads host commands from a port and answers as the real module
// does, as far as the public sources say (sensors.md §3): 'O' for a start,
// cuff pressure rising then falling while a cycle runs, an unsolicited 'K'
// when it ends, the queued result for get-BP-data, 'A' for an abort, 'B' for
// a start while busy, 'N' for a bad checksum and 'D' for an unknown command.
// The answer to the status commands is undocumented; the model sends 'K'.
//
// Its cycles run on its Clock, so a test skips a 40 s cycle in a moment.
// Inject and SetSilent make line faults. Methods are safe for concurrent use.
type Module struct {
	rw    io.ReadWriter
	clock Clock

	mu       sync.Mutex
	def      Measurement
	queue    []Measurement
	version  string
	initial  int16
	silent   bool
	cycle    *modelCycle
	last     BPData
	received []Command

	wmu sync.Mutex // one frame per Write, never interleaved
}

// modelCycle is a measurement in progress.
type modelCycle struct {
	m       Measurement
	started time.Time
	peak    int16
}

// NewModule returns a model that talks over rw and keeps time by clock (nil
// means the system clock). Until Set or Queue it measures 120/80, MAP 93,
// pulse 72.
func NewModule(rw io.ReadWriter, clock Clock) *Module {
	if clock == nil {
		clock = systemClock{}
	}
	return &Module{
		rw:      rw,
		clock:   clock,
		def:     Measurement{Sys: 120, Dia: 80, Map: 93, HR: 72},
		version: DefaultVersion,
		initial: defaultInitialInflation,
	}
}

// Set makes m the result of every cycle for which nothing is queued.
func (m *Module) Set(ms Measurement) {
	m.mu.Lock()
	m.def = ms
	m.mu.Unlock()
}

// Queue adds results for the next cycles, used in order before the Set one.
func (m *Module) Queue(ms ...Measurement) {
	m.mu.Lock()
	m.queue = append(m.queue, ms...)
	m.mu.Unlock()
}

// SetVersion sets the version string the model reports.
func (m *Module) SetVersion(v string) {
	m.mu.Lock()
	m.version = v
	m.mu.Unlock()
}

// SetSilent makes the model stop answering (true) or answer again (false). A
// silent model is a module whose transmit line broke: it still reads and
// carries out commands (an abort still deflates) and its cycle still runs,
// but it writes nothing, not even the 'K' of a cycle that ends meanwhile.
func (m *Module) SetSilent(silent bool) {
	m.mu.Lock()
	m.silent = silent
	m.mu.Unlock()
}

// Inject writes raw bytes to the host at once, between frames, to test the
// driver's resync. It writes even while the model is silent.
func (m *Module) Inject(b []byte) error {
	return m.write(b)
}

// Measuring reports whether a cycle is in progress.
func (m *Module) Measuring() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cycle != nil
}

// Received returns the names of the commands received so far, oldest first
// (at most the last 1024), e.g. "start adult", "get cuff pressure", "abort".
func (m *Module) Received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.received))
	for i, c := range m.received {
		out[i] = c.Name()
	}
	return out
}

// Run reads commands and answers them until ctx is done (it then returns
// nil) or reading or writing the port fails. Closing the port after Run
// returns ends the goroutine that reads it.
func (m *Module) Run(ctx context.Context) error {
	chunks := make(chan []byte)
	rerr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			buf := make([]byte, 64)
			n, err := m.rw.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-done:
					return
				}
			}
			if err != nil {
				rerr <- err
				return
			}
		}
	}()
	tick := time.NewTicker(modelTick)
	defer tick.Stop()
	var dec hostDecoder
	var partialSince time.Time
	var out []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-rerr:
			return fmt.Errorf("suntech: module model: read: %w", err)
		case b := <-chunks:
			out = out[:0]
			for _, x := range b {
				if !dec.pending() {
					partialSince = time.Now()
				}
				if c, nak, ok := dec.feed(x); ok {
					out = m.answer(out, c, nak)
				}
			}
			if err := m.write(out); err != nil {
				return err
			}
		case <-tick.C:
			out = out[:0]
			if dec.pending() && time.Since(partialSince) > lineGap {
				dec.reset()
				out = m.answer(out, Command{}, AckBadFrame)
			}
			out = m.step(out)
			if err := m.write(out); err != nil {
				return err
			}
		}
	}
}

// write sends b (one or more whole frames) to the host.
func (m *Module) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if _, err := m.rw.Write(b); err != nil {
		return fmt.Errorf("suntech: module model: write: %w", err)
	}
	return nil
}

// step ends the cycle when its time is up, appending the unsolicited 'K'.
func (m *Module) step(out []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cycle
	if c == nil || m.clock.Now().Sub(c.started) < c.m.Duration {
		return out
	}
	m.cycle = nil
	m.last = c.m.result()
	if m.silent {
		return out
	}
	return AppendAck(out, AckDone)
}

// answer appends the model's answer to one command, or to a bad frame when
// nak is set.
func (m *Module) answer(out []byte, c Command, nak Ack) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if nak == 0 {
		if len(m.received) == receivedCap {
			m.received = append(m.received[:0], m.received[1:]...)
		}
		m.received = append(m.received, c)
	}
	if m.silent {
		// It still acts (a broken TX line, not a dead module): compute the
		// answer for its side effects and drop it.
		m.respond(nil, c, nak)
		return out
	}
	return m.respond(out, c, nak)
}

// respond appends the answer to c (or nak) and changes the model's state.
func (m *Module) respond(out []byte, c Command, nak Ack) []byte {
	if nak != 0 {
		return AppendAck(out, nak)
	}
	now := m.clock.Now()
	switch code := c.b[1]; code {
	case cmdStartAdult, cmdStartChild, cmdStartNeonate:
		if m.cycle != nil {
			return AppendAck(out, AckBusy)
		}
		m.cycle = m.newCycle(now)
		return AppendAck(out, AckReceived)
	case cmdModuleData:
		return AppendVersion(out, m.version)
	case cmdReset, cmdPneumatics:
		m.cycle = nil
		return AppendAck(out, AckDone)
	case cmdInitialInfl:
		if m.cycle != nil {
			return AppendAck(out, AckBusy)
		}
		m.initial = int16(uint16(c.b[2]) | uint16(c.b[3])<<8)
		return AppendAck(out, AckDone)
	case cmdRequest:
		switch c.b[2] {
		case reqAbort:
			if m.cycle != nil {
				m.cycle = nil
				m.last = BPData{Error: AbortedByUser}
			}
			return AppendAck(out, AckAborted)
		case reqCuffPressure:
			return AppendPressure(out, m.pressure(now))
		case reqBPData:
			return AppendResult(out, m.last)
		case reqReturnString:
			return AppendVersion(out, m.version)
		case reqStatus, reqStatusAPlus:
			return AppendAck(out, AckDone)
		}
	}
	return AppendAck(out, AckUnknown)
}

// newCycle starts the next queued (or the default) measurement.
func (m *Module) newCycle(now time.Time) *modelCycle {
	ms := m.def
	if len(m.queue) > 0 {
		ms = m.queue[0]
		m.queue = m.queue[1:]
	}
	if ms.Duration <= 0 {
		ms.Duration = DefaultCycle
	}
	peak := max(m.initial, ms.Sys+30)
	if ms.ErrorCode == InflateTimeout {
		peak = 20 // a leak: the cuff never fills
	}
	return &modelCycle{m: ms, started: now, peak: peak}
}

// pressure is the cuff pressure now: a ramp up for the first fifth of the
// cycle, then down to zero; zero when idle.
func (m *Module) pressure(now time.Time) int16 {
	c := m.cycle
	if c == nil {
		return 0
	}
	f := float64(now.Sub(c.started)) / float64(c.m.Duration)
	switch {
	case f <= 0 || f >= 1:
		return 0
	case f < inflateShare:
		return int16(float64(c.peak) * f / inflateShare)
	default:
		return int16(float64(c.peak) * (1 - f) / (1 - inflateShare))
	}
}

// result is the BP result frame content for the measurement.
func (ms Measurement) result() BPData {
	return BPData{
		Systolic:  ms.Sys,
		Diastolic: ms.Dia,
		Mean:      ms.Map,
		HeartRate: uint8(min(max(ms.HR, 0), 255)),
		Beats:     uint8(min(max(ms.HR/3, 0), 255)),
		Status:    1,
		Error:     ms.ErrorCode,
	}
}
