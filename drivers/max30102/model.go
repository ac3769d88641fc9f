package max30102

import (
	"fmt"
	"math"
	"sync"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Model is a register-level model of a MAX30102 that is itself an i2c.Bus:
// a register file with auto-increment, a 32-sample FIFO with write and read
// pointers and overflow counter (rollover on or off), interrupt status
// cleared by reading, reset, part and revision IDs, die temperature, and an
// unplugged state in which every transaction fails like a NACK. Push plays
// the light: one call is one FIFO sample (after the part's averaging). Its
// methods are safe for concurrent use.
type Model struct {
	mu sync.Mutex
	// Addr is the address the model answers; others get a NACK.
	addr      uint16
	partID    byte
	revID     byte
	regs      [256]byte
	fifo      [FIFODepth][bytesPerSample]byte
	count     int // samples in the FIFO, 0..32 (the pointers alone cannot say 32)
	tempMilli int64
	unplugged bool
	failNext  int

	// Counters for tests.
	pushed, dropped, emptyReads, partialReads, txs int
}

// NewModel gives a powered-on MAX30102 at address 0x57 with a die at 25 °C.
func NewModel() *Model {
	m := &Model{addr: DefaultAddr, partID: PartID, revID: 0x03, tempMilli: 25000}
	m.powerOn()
	return m
}

// SetPartID makes the model answer another part ID (to test detection).
func (m *Model) SetPartID(id byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.partID = id
	m.regs[regPartID] = id
}

// SetTemperature sets the die temperature the next conversion gives.
func (m *Model) SetTemperature(t physic.Temperature) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tempMilli = int64((t - physic.ZeroCelsius) / physic.MilliCelsius)
}

func (m *Model) powerOn() {
	m.softReset()
	m.regs[regIntStatus1] = intPwrRdy
}

// softReset puts every register to its power-on value and empties the FIFO.
func (m *Model) softReset() {
	m.regs = [256]byte{}
	m.regs[regRevID] = m.revID
	m.regs[regPartID] = m.partID
	m.count = 0
}

// Unplug makes every transaction fail as if the board were gone.
func (m *Model) Unplug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unplugged = true
}

// Replug puts the board back: it powers on afresh, with every register at its
// reset value (not in SpO2 mode, FIFO empty).
func (m *Model) Replug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unplugged = false
	m.powerOn()
}

// PowerGlitch resets the part without any failed transaction, as a brown-out
// would.
func (m *Model) PowerGlitch() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.powerOn()
}

// FailNext makes the next n transactions fail (a disturbed bus).
func (m *Model) FailNext(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext = n
}

// Running reports whether the part is in SpO2 (or heart-rate) mode and not
// shut down: whether Push stores samples.
func (m *Model) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running()
}

func (m *Model) running() bool {
	mode := m.regs[regModeConfig]
	return mode&modeShutdown == 0 && (mode&modeMask == modeSpO2 || mode&modeMask == modeHR)
}

// OutputRate is the FIFO sample rate the part is configured for, per
// second (ADC rate over averaging): the pace at which a simulator should
// Push.
func (m *Model) OutputRate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	rate := sampleRates[(m.regs[regSpO2Config]>>2)&7]
	avg := 1 << min((m.regs[regFIFOConfig]>>5)&7, 5)
	return float64(rate) / float64(avg)
}

// Available is the number of samples in the FIFO.
func (m *Model) Available() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count
}

// ModelCounts are the model's counters, for tests.
type ModelCounts struct {
	Pushed       int // samples stored in the FIFO
	Dropped      int // samples lost to a full FIFO (overwritten or refused)
	EmptyReads   int // FIFO bytes read while it was empty (a driver bug)
	PartialReads int // transactions that ended inside a sample
	Tx           int // transactions answered
}

// Counts gives the model's counters.
func (m *Model) Counts() ModelCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return ModelCounts{m.pushed, m.dropped, m.emptyReads, m.partialReads, m.txs}
}

// Push stores one sample of red and infrared light (18-bit counts; values
// above are clipped, the low bits below the configured resolution cleared)
// if the part is running. It reports whether the part took it (a full FIFO
// without rollover refuses it and counts it in the overflow counter).
func (m *Model) Push(red, ir uint32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unplugged || !m.running() {
		return false // no power, or not measuring
	}
	shift := 3 - (m.regs[regSpO2Config] & 3) // 18 bits at 411 µs, 15 at 69 µs
	mask := uint32(FullScale) &^ (1<<shift - 1)
	red, ir = min(red, FullScale)&mask, min(ir, FullScale)&mask
	if m.count == FIFODepth {
		m.regs[regOvfCounter] = min(m.regs[regOvfCounter]+1, 0x1F)
		m.dropped++
		if m.regs[regFIFOConfig]&fifoRollover == 0 {
			return false
		}
		// Overwrite the oldest: the read pointer moves on with the write pointer.
		m.regs[regFIFORdPtr] = (m.regs[regFIFORdPtr] + 1) & 0x1F
		m.count--
	}
	slot := &m.fifo[m.regs[regFIFOWrPtr]&0x1F]
	slot[0], slot[1], slot[2] = byte(red>>16), byte(red>>8), byte(red)
	slot[3], slot[4], slot[5] = byte(ir>>16), byte(ir>>8), byte(ir)
	m.regs[regFIFOWrPtr] = (m.regs[regFIFOWrPtr] + 1) & 0x1F
	m.count++
	m.pushed++
	m.regs[regIntStatus1] |= intPPGRdy
	if m.count >= FIFODepth-int(m.regs[regFIFOConfig]&0x0F) {
		m.regs[regIntStatus1] |= intAFull
	}
	return true
}

func (m *Model) String() string { return "max30102-model" }

// SetSpeed accepts any speed up to 400 kHz (fast mode), as the part does.
func (m *Model) SetSpeed(f physic.Frequency) error {
	if f > 400*physic.KiloHertz {
		return fmt.Errorf("max30102 model: %s is above the part's 400kHz", f)
	}
	return nil
}

// Tx answers one I²C transaction: w[0] sets the register pointer, further
// bytes of w are written from there, then r is read from there. The pointer
// auto-increments, except on FIFO_DATA where reads pop the FIFO.
func (m *Model) Tx(addr uint16, w, r []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unplugged || addr != m.addr {
		return fmt.Errorf("max30102 model: no ACK from address %#x", addr)
	}
	if m.failNext > 0 {
		m.failNext--
		return fmt.Errorf("max30102 model: arbitration lost at address %#x", addr)
	}
	m.txs++
	if len(w) == 0 {
		if len(r) != 0 {
			return fmt.Errorf("max30102 model: read without a register address")
		}
		return nil
	}
	p := w[0]
	for _, b := range w[1:] {
		m.writeReg(p, b)
		if p != regFIFOData {
			p++
		}
	}
	fifoByte := 0
	for i := range r {
		if p == regFIFOData {
			r[i] = m.popByte(fifoByte)
			fifoByte = (fifoByte + 1) % bytesPerSample
			continue
		}
		r[i] = m.regs[p]
		if p == regIntStatus1 || p == regIntStatus2 {
			m.regs[p] = 0
		}
		p++
	}
	if fifoByte != 0 {
		m.partialReads++
	}
	return nil
}

// popByte gives byte i of the sample at the read pointer and, at its last
// byte, moves the read pointer on.
func (m *Model) popByte(i int) byte {
	if m.count == 0 {
		m.emptyReads++
		return 0
	}
	rd := m.regs[regFIFORdPtr] & 0x1F
	v := m.fifo[rd][i]
	if i == bytesPerSample-1 {
		m.regs[regFIFORdPtr] = (rd + 1) & 0x1F
		m.count--
		m.regs[regOvfCounter] = 0
		m.regs[regIntStatus1] &^= intPPGRdy
	}
	return v
}

func (m *Model) writeReg(p, b byte) {
	switch p {
	case regIntStatus1, regIntStatus2, regRevID, regPartID, regFIFOData:
		// read-only (or, for FIFO_DATA, not writable in this model)
	case regModeConfig:
		if b&modeReset != 0 {
			m.softReset()
			return
		}
		m.regs[p] = b
	case regFIFOWrPtr, regFIFORdPtr:
		m.regs[p] = b & 0x1F
		m.count = int((m.regs[regFIFOWrPtr] - m.regs[regFIFORdPtr]) & 0x1F)
	case regOvfCounter:
		m.regs[p] = b & 0x1F
	case regTempConfig:
		if b&tempEnable != 0 {
			// The conversion is instant in the model.
			t := m.tempMilli
			whole := int64(math.Floor(float64(t) / 1000))
			m.regs[regTempInt] = byte(int8(whole))
			m.regs[regTempFrac] = byte((t - whole*1000) * 16 / 1000)
			m.regs[regIntStatus2] |= intDieTempRdy
		}
		m.regs[p] = 0
	default:
		m.regs[p] = b
	}
}

var _ i2c.Bus = (*Model)(nil)
