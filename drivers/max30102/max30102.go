package max30102

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Opts configures the part. DefaultOpts suits a finger on a MAX30102 board.
type Opts struct {
	// Addr is the 7-bit I²C address; the part's is fixed at 0x57.
	Addr uint16
	// SampleRate is the ADC's rate per second: 50, 100, 200, 400, 800,
	// 1000, 1600 or 3200 (limited by PulseWidth in SpO2 mode).
	SampleRate int
	// Averaging is the number of ADC samples the part averages into one
	// FIFO sample: 1, 2, 4, 8, 16 or 32. The output rate is
	// SampleRate/Averaging (see OutputRate).
	Averaging int
	// PulseWidth is the LED pulse width in µs: 69, 118, 215 or 411, giving
	// 15, 16, 17 or 18-bit resolution.
	PulseWidth int
	// ADCRange is the full scale in nA: 2048, 4096, 8192 or 16384.
	ADCRange int
	// RedCurrent and IRCurrent are the LED drive currents, 0 to 51 mA in
	// steps of 0.2 mA.
	RedCurrent, IRCurrent physic.ElectricCurrent
	// Rollover lets the FIFO overwrite its oldest sample when full; off, the
	// part stops filling and counts what it dropped. Either way the lost
	// samples are reported.
	Rollover bool
	// AlmostFull is the number of empty FIFO slots (0..15) left when the
	// A_FULL interrupt rises; for a caller that waits on the INT pin. Read
	// works by polling whatever it is.
	AlmostFull int
	// FingerIR is the infrared level (18-bit counts) below which FingerOff
	// says no finger is on the sensor. It depends on the LED current and the
	// board; 50000 suits the defaults (a finger gives 100k-250k, air a few
	// thousand).
	FingerIR uint32
}

// DefaultOpts: 400 samples/s averaged by 4 (100 per second out, the FIFO
// holds 0.32 s), 18-bit resolution at 16384 nA, 7 mA on both LEDs,
// rollover off, A_FULL with 15 slots free.
var DefaultOpts = Opts{
	Addr:       DefaultAddr,
	SampleRate: 400,
	Averaging:  4,
	PulseWidth: 411,
	ADCRange:   16384,
	RedCurrent: 7 * physic.MilliAmpere,
	IRCurrent:  7 * physic.MilliAmpere,
	AlmostFull: 15,
	FingerIR:   50000,
}

// OutputRate is the rate of samples in the FIFO, per second.
func (o *Opts) OutputRate() float64 {
	if o.Averaging <= 0 {
		return 0
	}
	return float64(o.SampleRate) / float64(o.Averaging)
}

var (
	sampleRates = []int{50, 100, 200, 400, 800, 1000, 1600, 3200}
	pulseWidths = []int{69, 118, 215, 411}
	// maxRateSpO2[i] is the highest sample rate pulse width i allows in
	// SpO2 mode (datasheet table 12).
	maxRateSpO2 = []int{1600, 1000, 800, 400}
	adcRanges   = []int{2048, 4096, 8192, 16384}
	averagings  = []int{1, 2, 4, 8, 16, 32}
)

const ledStep = 200 * physic.MicroAmpere

func index(list []int, v int) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// registers gives the FIFO_CONFIG, SPO2_CONFIG and LED bytes of o, or an
// error naming the first wrong option.
func (o *Opts) registers() (fifo, spo2, red, ir byte, err error) {
	ri := index(sampleRates, o.SampleRate)
	pi := index(pulseWidths, o.PulseWidth)
	ai := index(adcRanges, o.ADCRange)
	vi := index(averagings, o.Averaging)
	switch {
	case ri < 0:
		return 0, 0, 0, 0, fmt.Errorf("max30102: sample rate %d/s: want one of %v", o.SampleRate, sampleRates)
	case pi < 0:
		return 0, 0, 0, 0, fmt.Errorf("max30102: pulse width %d µs: want one of %v", o.PulseWidth, pulseWidths)
	case o.SampleRate > maxRateSpO2[pi]:
		return 0, 0, 0, 0, fmt.Errorf("max30102: sample rate %d/s is too fast for a %d µs pulse in SpO2 mode (at most %d/s)", o.SampleRate, o.PulseWidth, maxRateSpO2[pi])
	case ai < 0:
		return 0, 0, 0, 0, fmt.Errorf("max30102: ADC range %d nA: want one of %v", o.ADCRange, adcRanges)
	case vi < 0:
		return 0, 0, 0, 0, fmt.Errorf("max30102: averaging %d: want one of %v", o.Averaging, averagings)
	case o.AlmostFull < 0 || o.AlmostFull > 15:
		return 0, 0, 0, 0, fmt.Errorf("max30102: almost-full level %d: want 0..15 empty slots", o.AlmostFull)
	case o.RedCurrent < 0 || o.RedCurrent > 0xFF*ledStep:
		return 0, 0, 0, 0, fmt.Errorf("max30102: red LED current %s: want 0..51mA", o.RedCurrent)
	case o.IRCurrent < 0 || o.IRCurrent > 0xFF*ledStep:
		return 0, 0, 0, 0, fmt.Errorf("max30102: IR LED current %s: want 0..51mA", o.IRCurrent)
	case o.Addr == 0 || o.Addr > 0x7F:
		return 0, 0, 0, 0, fmt.Errorf("max30102: I²C address %#x is not a 7-bit address", o.Addr)
	}
	fifo = byte(vi)<<5 | byte(o.AlmostFull)
	if o.Rollover {
		fifo |= fifoRollover
	}
	spo2 = byte(ai)<<5 | byte(ri)<<2 | byte(pi)
	return fifo, spo2, byte(o.RedCurrent / ledStep), byte(o.IRCurrent / ledStep), nil
}

// Sample is one FIFO sample: red and infrared light, 18-bit counts (the
// ADC's value left-justified: lower resolutions leave the low bits 0).
type Sample struct {
	Red, IR uint32
}

// Batch says what one Read gave.
type Batch struct {
	// N samples were stored in the caller's slice, oldest first.
	N int
	// Lost samples were dropped by the part before these (FIFO full: read
	// too late), from its overflow counter, which saturates at 31.
	Lost int
	// Restarted: the part was detected and configured again before these
	// samples (after a bus error or a reset of its own); the stream has a gap
	// of unknown length, so whoever filters it must start again.
	Restarted bool
}

// ErrNotMAX30102 is wrapped by New's error when the part at the address is
// not a MAX30102/MAX30101.
var ErrNotMAX30102 = errors.New("max30102: not a MAX30102 or MAX30101")

// Dev is a MAX30102 on an I²C bus. Its methods are safe for concurrent use.
type Dev struct {
	mu    sync.Mutex
	d     i2c.Dev
	opts  Opts
	regs  [4]byte // FIFO_CONFIG, SPO2_CONFIG, LED1_PA, LED2_PA
	rev   byte
	sleep func(time.Duration)

	needInit bool
	halted   bool
	samples  uint64
	lost     uint64
	restarts uint64
	fifo     [FIFODepth * bytesPerSample]byte
}

// New detects, resets and configures the part at opts.Addr (nil opts:
// DefaultOpts) and starts its SpO2 mode.
func New(bus i2c.Bus, opts *Opts) (*Dev, error) {
	if opts == nil {
		opts = &DefaultOpts
	}
	d := &Dev{d: i2c.Dev{Bus: bus, Addr: opts.Addr}, opts: *opts, sleep: time.Sleep}
	f, s, r, i, err := d.opts.registers()
	if err != nil {
		return nil, err
	}
	d.regs = [4]byte{f, s, r, i}
	if err := d.init(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dev) String() string {
	return fmt.Sprintf("MAX30102{%s, %#x}", d.d.Bus, d.d.Addr)
}

// Opts gives the options the part runs with.
func (d *Dev) Opts() Opts { return d.opts }

// Revision is the part's REV_ID.
func (d *Dev) Revision() byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rev
}

// init detects the part, resets it and configures SpO2 mode.
func (d *Dev) init() error {
	var id [2]byte
	if err := d.d.Tx([]byte{regRevID}, id[:]); err != nil {
		return fmt.Errorf("max30102: reading part ID at %#x on %s: %w", d.d.Addr, d.d.Bus, err)
	}
	switch id[1] {
	case PartID:
	case partIDMAX30100:
		return fmt.Errorf("%w: part ID %#02x is a MAX30100 (different registers, not supported)", ErrNotMAX30102, id[1])
	default:
		return fmt.Errorf("%w: part ID %#02x, want %#02x", ErrNotMAX30102, id[1], PartID)
	}
	d.rev = id[0]
	if err := d.write(regModeConfig, modeReset); err != nil {
		return err
	}
	// The reset bit clears itself within about 1 ms.
	var mode [1]byte
	for i := 0; ; i++ {
		if err := d.d.Tx([]byte{regModeConfig}, mode[:]); err != nil {
			return fmt.Errorf("max30102: waiting for reset: %w", err)
		}
		if mode[0]&modeReset == 0 {
			break
		}
		if i == 10 {
			return errors.New("max30102: reset bit still set after 10 ms")
		}
		d.sleep(time.Millisecond)
	}
	// Reading the status clears PWR_RDY.
	var st [2]byte
	if err := d.d.Tx([]byte{regIntStatus1}, st[:]); err != nil {
		return fmt.Errorf("max30102: clearing status: %w", err)
	}
	steps := [][]byte{
		{regIntEnable1, intAFull, 0},
		{regFIFOConfig, d.regs[0]},
		{regSpO2Config, d.regs[1]},
		{regLED1PA, d.regs[2], d.regs[3]},
		{regFIFOWrPtr, 0, 0, 0}, // WR_PTR, OVF_COUNTER, RD_PTR
		{regModeConfig, modeSpO2},
	}
	for _, w := range steps {
		if err := d.d.Tx(w, nil); err != nil {
			return fmt.Errorf("max30102: writing register %#02x: %w", w[0], err)
		}
	}
	d.needInit = false
	d.halted = false
	return nil
}

func (d *Dev) write(reg, v byte) error {
	if err := d.d.Tx([]byte{reg, v}, nil); err != nil {
		return fmt.Errorf("max30102: writing register %#02x: %w", reg, err)
	}
	return nil
}

// Read drains up to len(dst) samples from the FIFO into dst. dst should hold
// FIFODepth samples and Read be called at least every FIFODepth/OutputRate
// seconds (0.32 s by default); a sample left behind stays for the next Read,
// one read too late is counted in Batch.Lost. After a bus error Read returns
// it; the next Read finds the part again (Batch.Restarted).
func (d *Dev) Read(dst []Sample) (Batch, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b Batch
	if d.halted {
		return b, errors.New("max30102: halted")
	}
	if d.needInit {
		if err := d.init(); err != nil {
			d.needInit = true
			return b, err
		}
		d.restarts++
		b.Restarted = true
	}
	// 0x00..0x06: status 1 and 2, enables 1 and 2, WR_PTR, OVF, RD_PTR.
	var r [7]byte
	if err := d.d.Tx([]byte{regIntStatus1}, r[:]); err != nil {
		d.needInit = true
		return b, fmt.Errorf("max30102: reading FIFO pointers: %w", err)
	}
	wr, ovf, rd := r[4]&0x1F, int(r[5]&0x1F), r[6]&0x1F
	avail := int((wr - rd) & 0x1F)
	if avail == 0 && (ovf > 0 || r[0]&intAFull != 0) {
		avail = FIFODepth // equal pointers and full
	}
	if avail == 0 {
		// Nothing new: make sure the part is still running (a power glitch
		// resets it to shutdown-free idle mode 0 and it stays silent).
		var mode [1]byte
		if err := d.d.Tx([]byte{regModeConfig}, mode[:]); err != nil {
			d.needInit = true
			return b, fmt.Errorf("max30102: reading mode: %w", err)
		}
		if mode[0]&(modeMask|modeShutdown) != modeSpO2 {
			d.needInit = true
			return b, fmt.Errorf("max30102: part left SpO2 mode (mode register %#02x): reset by a power glitch?", mode[0])
		}
		return b, nil
	}
	n := min(avail, len(dst))
	if n == 0 {
		return b, nil
	}
	buf := d.fifo[:n*bytesPerSample]
	if err := d.d.Tx([]byte{regFIFOData}, buf); err != nil {
		d.needInit = true
		return b, fmt.Errorf("max30102: reading %d samples: %w", n, err)
	}
	for i := range n {
		p := buf[i*bytesPerSample:]
		dst[i].Red = (uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])) & FullScale
		dst[i].IR = (uint32(p[3])<<16 | uint32(p[4])<<8 | uint32(p[5])) & FullScale
	}
	b.N, b.Lost = n, ovf
	d.samples += uint64(n)
	d.lost += uint64(ovf)
	return b, nil
}

// Counts are the running totals since New: samples read, samples the part
// dropped (overflow) and re-initialisations after a bus error or reset.
func (d *Dev) Counts() (samples, lost, restarts uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.samples, d.lost, d.restarts
}

// FingerOff reports whether s shows no finger: infrared below opts.FingerIR.
func (d *Dev) FingerOff(s Sample) bool { return s.IR < d.opts.FingerIR }

// Temperature measures the die temperature (resolution 0.0625 °C).
func (d *Dev) Temperature() (physic.Temperature, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write(regTempConfig, tempEnable); err != nil {
		d.needInit = true
		return 0, err
	}
	var v [1]byte
	for i := 0; ; i++ {
		if err := d.d.Tx([]byte{regTempConfig}, v[:]); err != nil {
			d.needInit = true
			return 0, fmt.Errorf("max30102: waiting for temperature: %w", err)
		}
		if v[0]&tempEnable == 0 {
			break
		}
		if i == 20 {
			return 0, errors.New("max30102: temperature conversion not done after 100 ms")
		}
		d.sleep(5 * time.Millisecond)
	}
	var t [2]byte
	if err := d.d.Tx([]byte{regTempInt}, t[:]); err != nil {
		d.needInit = true
		return 0, fmt.Errorf("max30102: reading temperature: %w", err)
	}
	milli := int64(int8(t[0]))*1000 + int64(t[1]&0x0F)*625/10
	return physic.ZeroCelsius + physic.Temperature(milli)*physic.MilliCelsius, nil
}

// Halt shuts the part down (LEDs off, about 0.7 µA); New or a Read after
// Resume starts it again.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.halted = true
	return d.write(regModeConfig, modeShutdown)
}

// Resume configures the part again after Halt (the FIFO starts empty).
func (d *Dev) Resume() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.init(); err != nil {
		d.needInit = true
		d.halted = false
		return err
	}
	return nil
}

var _ conn.Resource = (*Dev)(nil)
