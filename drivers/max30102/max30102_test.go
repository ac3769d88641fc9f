package max30102

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// initOps is the exact traffic of New with DefaultOpts on a part that
// answers part ID 0x15, revision 3, and clears its reset bit at once.
var initOps = []i2ctest.IO{
	{Addr: 0x57, W: []byte{0xFE}, R: []byte{0x03, 0x15}}, // REV_ID, PART_ID
	{Addr: 0x57, W: []byte{0x09, 0x40}},                  // MODE: RESET
	{Addr: 0x57, W: []byte{0x09}, R: []byte{0x00}},       // reset bit cleared
	{Addr: 0x57, W: []byte{0x00}, R: []byte{0x00, 0x00}}, // status, cleared by reading
	{Addr: 0x57, W: []byte{0x02, 0x80, 0x00}},            // enable A_FULL only
	{Addr: 0x57, W: []byte{0x08, 0x4F}},                  // FIFO: average 4, no rollover, A_FULL at 15 free
	{Addr: 0x57, W: []byte{0x0A, 0x6F}},                  // 16384 nA, 400/s, 411 µs
	{Addr: 0x57, W: []byte{0x0C, 0x23, 0x23}},            // red and IR 7 mA
	{Addr: 0x57, W: []byte{0x04, 0x00, 0x00, 0x00}},      // clear WR_PTR, OVF, RD_PTR
	{Addr: 0x57, W: []byte{0x09, 0x03}},                  // SpO2 mode
}

func TestInitTrafficPlayback(t *testing.T) {
	bus := &i2ctest.Playback{Ops: initOps, DontPanic: true}
	d, err := New(bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Revision() != 3 {
		t.Errorf("revision %d, want 3", d.Revision())
	}
	if got := d.String(); !strings.Contains(got, "playback") || !strings.Contains(got, "0x57") {
		t.Errorf("String() = %q", got)
	}
}

// The model must answer New exactly as the golden trace says: this proves
// the model against the trace as much as the driver.
func TestInitTrafficRecordedFromModel(t *testing.T) {
	m := NewModel()
	rec := &i2ctest.Record{Bus: m}
	if _, err := New(rec, nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.Ops) != len(initOps) {
		t.Fatalf("%d transactions, want %d: %v", len(rec.Ops), len(initOps), rec.Ops)
	}
	for i, op := range rec.Ops {
		want := initOps[i]
		if op.Addr != want.Addr || string(op.W) != string(want.W) || string(op.R) != string(want.R) {
			t.Errorf("tx %d: %#v, want %#v", i, op, want)
		}
	}
	if !m.Running() {
		t.Error("model not running after New")
	}
	if got := m.OutputRate(); got != 100 {
		t.Errorf("model output rate %v, want 100", got)
	}
}

func TestResetWaitsForResetBit(t *testing.T) {
	ops := append([]i2ctest.IO{}, initOps[:2]...)
	ops = append(ops, i2ctest.IO{Addr: 0x57, W: []byte{0x09}, R: []byte{0x40}}) // still resetting
	ops = append(ops, initOps[2:]...)
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	// New waits 1 ms with time.Sleep between the polls, harmless here.
	if _, err := New(bus, nil); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDetection(t *testing.T) {
	for _, tc := range []struct {
		id   byte
		ok   bool
		want string
	}{
		{0x15, true, ""},
		{0x11, false, "MAX30100"},
		{0x00, false, "part ID 0x00"},
		{0xFF, false, "part ID 0xff"},
	} {
		m := NewModel()
		m.SetPartID(tc.id)
		_, err := New(m, nil)
		if tc.ok != (err == nil) {
			t.Errorf("part ID %#x: err %v", tc.id, err)
			continue
		}
		if err != nil && (!errors.Is(err, ErrNotMAX30102) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("part ID %#x: err %q, want ErrNotMAX30102 naming %q", tc.id, err, tc.want)
		}
	}
	m := NewModel()
	m.Unplug()
	if _, err := New(m, nil); err == nil || !strings.Contains(err.Error(), "no ACK") {
		t.Errorf("no part: err %v", err)
	}
	m = NewModel()
	o := DefaultOpts
	o.Addr = 0x58
	if _, err := New(m, &o); err == nil {
		t.Error("wrong address accepted")
	}
}

func TestOptsRejected(t *testing.T) {
	for name, f := range map[string]func(*Opts){
		"rate":          func(o *Opts) { o.SampleRate = 300 },
		"rate vs pulse": func(o *Opts) { o.SampleRate = 800 }, // 411 µs allows 400/s
		"3200 in SpO2":  func(o *Opts) { o.SampleRate, o.PulseWidth = 3200, 69 },
		"pulse":         func(o *Opts) { o.PulseWidth = 100 },
		"range":         func(o *Opts) { o.ADCRange = 1000 },
		"averaging":     func(o *Opts) { o.Averaging = 3 },
		"almost full":   func(o *Opts) { o.AlmostFull = 16 },
		"red current":   func(o *Opts) { o.RedCurrent = 60 * physic.MilliAmpere },
		"ir current":    func(o *Opts) { o.IRCurrent = -1 },
		"address":       func(o *Opts) { o.Addr = 0x80 },
	} {
		o := DefaultOpts
		f(&o)
		m := NewModel()
		if _, err := New(m, &o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "max30102: ") {
			t.Errorf("%s: error %q does not name the part", name, err)
		}
		if m.Counts().Tx != 0 {
			t.Errorf("%s: touched the bus before checking options", name)
		}
	}
}

// pusher feeds the model a numbered sequence so that loss, duplication and
// reordering show.
type pusher struct {
	m    *Model
	next uint32
}

func (p *pusher) push(n int) {
	for range n {
		p.m.Push(1000+p.next, 200000+p.next)
		p.next++
	}
}

func newDev(t *testing.T, o *Opts) (*Dev, *Model) {
	t.Helper()
	m := NewModel()
	d, err := New(m, o)
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

// readAll reads once and checks the samples continue the sequence from *want.
func readAll(t *testing.T, d *Dev, dst []Sample, want *uint32) Batch {
	t.Helper()
	b, err := d.Read(dst)
	if err != nil {
		t.Fatal(err)
	}
	*want += uint32(b.Lost)
	for i := range b.N {
		if dst[i].Red != 1000+*want || dst[i].IR != 200000+*want {
			t.Fatalf("sample %d: %+v, want number %d", i, dst[i], *want)
		}
		*want++
	}
	return b
}

func TestFIFOWrapsWithoutLossOrDuplicate(t *testing.T) {
	d, m := newDev(t, nil)
	p := &pusher{m: m}
	dst := make([]Sample, FIFODepth)
	var want uint32
	// Sizes that walk the pointers round the 32-slot ring many times,
	// including 0, 1, 31 and exactly 32 (pointers equal, no overflow).
	for _, n := range []int{20, 25, 31, 1, 0, 32, 17, 32, 3, 30, 32, 32, 5} {
		p.push(n)
		b := readAll(t, d, dst, &want)
		if b.N != n || b.Lost != 0 {
			t.Fatalf("pushed %d: read %+v", n, b)
		}
	}
	if want != p.next {
		t.Fatalf("read %d samples, pushed %d", want, p.next)
	}
	c := m.Counts()
	if c.EmptyReads != 0 || c.PartialReads != 0 {
		t.Errorf("driver read past the FIFO or inside a sample: %+v", c)
	}
	if s, l, r := d.Counts(); s != uint64(p.next) || l != 0 || r != 0 {
		t.Errorf("counts %d %d %d", s, l, r)
	}
}

func TestSmallBufferLeavesTheRest(t *testing.T) {
	d, m := newDev(t, nil)
	p := &pusher{m: m}
	p.push(20)
	dst := make([]Sample, 6)
	var want uint32
	for _, n := range []int{6, 6, 6, 2, 0} {
		if b := readAll(t, d, dst, &want); b.N != n {
			t.Fatalf("read %d, want %d", b.N, n)
		}
	}
}

func TestOverflowCountsLostSamples(t *testing.T) {
	for _, rollover := range []bool{false, true} {
		o := DefaultOpts
		o.Rollover = rollover
		d, m := newDev(t, &o)
		p := &pusher{m: m}
		dst := make([]Sample, FIFODepth)
		p.push(FIFODepth + 8)
		b, err := d.Read(dst)
		if err != nil {
			t.Fatal(err)
		}
		if b.N != FIFODepth || b.Lost != 8 {
			t.Fatalf("rollover %v: %+v, want 32 read, 8 lost", rollover, b)
		}
		first := uint32(0)
		if rollover {
			first = 8 // the oldest were overwritten
		}
		for i := range b.N {
			if dst[i].Red != 1000+first+uint32(i) {
				t.Fatalf("rollover %v: sample %d is %d", rollover, i, dst[i].Red)
			}
		}
		// The stream goes on; the overflow counter was reset by the read.
		p.push(3)
		b, _ = d.Read(dst)
		if b.N != 3 || b.Lost != 0 {
			t.Fatalf("rollover %v: after overflow %+v", rollover, b)
		}
		// Either way samples 32..39 are gone (refused, or read after 0..7
		// were overwritten): the next pushed is number 40.
		wantNext := uint32(40)
		if dst[0].Red != 1000+wantNext {
			t.Errorf("rollover %v: next sample %d, want %d", rollover, dst[0].Red-1000, wantNext)
		}
		if _, lost, _ := d.Counts(); lost != 8 {
			t.Errorf("rollover %v: lost count %d", rollover, lost)
		}
	}
}

func TestOverflowCounterSaturates(t *testing.T) {
	d, m := newDev(t, nil)
	(&pusher{m: m}).push(FIFODepth + 100)
	b, err := d.Read(make([]Sample, FIFODepth))
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost != 31 { // the part's counter stops at 31: at least 31 lost
		t.Errorf("lost %d, want the saturated 31", b.Lost)
	}
}

func TestUnplugAndRecovery(t *testing.T) {
	d, m := newDev(t, nil)
	p := &pusher{m: m}
	dst := make([]Sample, FIFODepth)
	var want uint32
	p.push(10)
	readAll(t, d, dst, &want)

	m.Unplug()
	for range 3 {
		if _, err := d.Read(dst); err == nil || !strings.Contains(err.Error(), "no ACK") {
			t.Fatalf("unplugged: err %v", err)
		}
	}
	m.Replug() // powers on in idle mode with an empty FIFO
	if m.Running() {
		t.Fatal("model runs after power-on")
	}
	b, err := d.Read(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Restarted || b.N != 0 {
		t.Fatalf("after replug %+v, want Restarted and nothing yet", b)
	}
	if !m.Running() {
		t.Fatal("driver did not configure the part again")
	}
	p.next = 500
	want = 500
	p.push(7)
	if b := readAll(t, d, dst, &want); b.N != 7 || b.Restarted {
		t.Fatalf("after recovery %+v", b)
	}
	if _, _, r := d.Counts(); r != 1 {
		t.Errorf("restarts %d, want 1", r)
	}
}

func TestPowerGlitchIsNoticed(t *testing.T) {
	d, m := newDev(t, nil)
	dst := make([]Sample, FIFODepth)
	m.PowerGlitch() // no failed transaction, the part just went idle
	if _, err := d.Read(dst); err == nil || !strings.Contains(err.Error(), "SpO2 mode") {
		t.Fatalf("glitch: err %v", err)
	}
	b, err := d.Read(dst)
	if err != nil || !b.Restarted || !m.Running() {
		t.Fatalf("after glitch: %+v %v, running %v", b, err, m.Running())
	}
}

func TestBusErrorDuringFIFORead(t *testing.T) {
	d, m := newDev(t, nil)
	p := &pusher{m: m}
	p.push(5)
	m.FailNext(1)
	if _, err := d.Read(make([]Sample, FIFODepth)); err == nil {
		t.Fatal("no error")
	}
	b, err := d.Read(make([]Sample, FIFODepth))
	if err != nil || !b.Restarted {
		t.Fatalf("%+v %v", b, err)
	}
}

func TestTemperature(t *testing.T) {
	for _, c := range []struct{ milli, want int64 }{{25500, 25500}, {-1500, -1500}, {36937, 36937}, {0, 0}} {
		d, m := newDev(t, nil)
		m.SetTemperature(physic.ZeroCelsius + physic.Temperature(c.milli)*physic.MilliCelsius)
		got, err := d.Temperature()
		if err != nil {
			t.Fatal(err)
		}
		milli := int64((got - physic.ZeroCelsius) / physic.MilliCelsius)
		if diff := milli - c.want; diff < -63 || diff > 63 { // 0.0625 °C steps
			t.Errorf("%d m°C read as %d", c.milli, milli)
		}
	}
}

func TestFingerOff(t *testing.T) {
	d, _ := newDev(t, nil)
	if !d.FingerOff(Sample{Red: 3000, IR: 4000}) {
		t.Error("air read as a finger")
	}
	if d.FingerOff(Sample{Red: 90000, IR: 120000}) {
		t.Error("finger read as off")
	}
}

func TestHaltAndResume(t *testing.T) {
	d, m := newDev(t, nil)
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if m.Running() {
		t.Fatal("running after Halt")
	}
	if m.Push(1, 2) {
		t.Fatal("halted part took a sample")
	}
	if _, err := d.Read(make([]Sample, 4)); err == nil {
		t.Fatal("Read after Halt did not say so")
	}
	if err := d.Resume(); err != nil || !m.Running() {
		t.Fatalf("resume: %v", err)
	}
}

func TestModelResolutionAndClip(t *testing.T) {
	o := DefaultOpts
	o.PulseWidth = 69 // 15 bits: the low 3 bits are 0
	d, m := newDev(t, &o)
	m.Push(0x3FFFF+5, 0x12345)
	dst := make([]Sample, 1)
	if _, err := d.Read(dst); err != nil {
		t.Fatal(err)
	}
	if dst[0].Red != 0x3FFF8 || dst[0].IR != 0x12340 {
		t.Errorf("%#x %#x", dst[0].Red, dst[0].IR)
	}
}

func TestOptsEncoding(t *testing.T) {
	o := Opts{Addr: 0x57, SampleRate: 100, Averaging: 1, PulseWidth: 215, ADCRange: 4096,
		RedCurrent: 25400 * physic.MicroAmpere, IRCurrent: 0, Rollover: true, AlmostFull: 0, FingerIR: 1}
	rec := &i2ctest.Record{Bus: NewModel()}
	if _, err := New(rec, &o); err != nil {
		t.Fatal(err)
	}
	want := map[byte][]byte{
		0x08: {0x10},       // average 1, rollover, A_FULL at 0 free
		0x0A: {0x26},       // 4096 nA (01), 100/s (001), 215 µs (10)
		0x0C: {0x7F, 0x00}, // 25.4 mA = 127 steps, IR off
	}
	for _, op := range rec.Ops {
		if w, ok := want[op.W[0]]; ok && len(op.W) > 1 {
			if string(op.W[1:]) != string(w) {
				t.Errorf("register %#02x written %#v, want %#v", op.W[0], op.W[1:], w)
			}
			delete(want, op.W[0])
		}
	}
	if len(want) != 0 {
		t.Errorf("registers never written: %v", want)
	}
	if got := o.OutputRate(); got != 100 {
		t.Errorf("output rate %v", got)
	}
}
