package max30102

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/monitor/vitals"
)

// sink records what a Sensor sends.
type sink struct {
	mu       sync.Mutex
	readings []vitals.Reading
	statuses []vitals.Status
}

func (s *sink) Reading(r vitals.Reading) {
	s.mu.Lock()
	s.readings = append(s.readings, r)
	s.mu.Unlock()
}
func (s *sink) Status(st vitals.Status) {
	s.mu.Lock()
	s.statuses = append(s.statuses, st)
	s.mu.Unlock()
}
func (s *sink) Result(vitals.Result) {}

func (s *sink) counts() (readings, statuses int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readings), len(s.statuses)
}

// since gives the readings after the first n.
func (s *sink) since(n int) []vitals.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]vitals.Reading(nil), s.readings[n:]...)
}

func (s *sink) lastStatus() vitals.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		return vitals.Status{}
	}
	return s.statuses[len(s.statuses)-1]
}

// waitReading waits until a reading after the first n satisfies ok.
func (s *sink) waitReading(t *testing.T, n int, what string, timeout time.Duration, ok func(vitals.Reading) bool) vitals.Reading {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, r := range s.since(n) {
			if ok(r) {
				return r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last readings %v", timeout, what, tailReadings(s.since(n), 6))
	return vitals.Reading{}
}

func tailReadings(r []vitals.Reading, n int) []vitals.Reading { return r[max(0, len(r)-n):] }

// finger is a Finger the test can change while Play runs.
type finger struct {
	mu sync.Mutex
	f  Finger
}

func (f *finger) set(v Finger) { f.mu.Lock(); f.f = v; f.mu.Unlock() }
func (f *finger) light(t time.Duration) (uint32, uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Light(t)
}

// speed plays the signal 4 times faster than real time: 400 samples a
// second, the FIFO full in 80 ms, polled every 10 ms.
const speed = 4

// rig runs a Sensor on a Model played by a finger.
type rig struct {
	m      *Model
	finger *finger
	sink   *sink
	s      *Sensor
	opens  atomic.Int32
	done   chan error
}

func newRig(t *testing.T, f Finger, mod func(*SensorOpts)) *rig {
	return newRigAt(t, speed, f, mod)
}

func newRigAt(t *testing.T, speed float64, f Finger, mod func(*SensorOpts)) *rig {
	t.Helper()
	r := &rig{m: NewModel(), finger: &finger{f: f}, sink: &sink{}, done: make(chan error, 1)}
	o := DefaultSensorOpts
	o.Poll, o.Retry, o.Sensor = 10*time.Millisecond, 50*time.Millisecond, 2
	o.Open = func(bus string) (i2c.BusCloser, error) {
		r.opens.Add(1)
		if bus != "1" {
			return nil, errors.New("no bus " + bus)
		}
		return r.m, nil
	}
	if mod != nil {
		mod(&o)
	}
	s, err := NewSensor("/dev/i2c-1", &o)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go Play(ctx, r.m, speed, r.finger.light)
	go func() { r.done <- s.Run(ctx, r.sink) }()
	t.Cleanup(func() {
		if err := s.Halt(); err != nil {
			t.Error(err)
		}
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func value(p vitals.Param, lo, hi int16) func(vitals.Reading) bool {
	return func(r vitals.Reading) bool { return r.Param == p && r.Value >= lo && r.Value <= hi }
}

// Readings from the model reach the sink: SpO2 and pulse within tolerance,
// every one flagged uncalibrated, withheld (null, searching) before enough
// signal, and the sample counts grow without loss.
func TestSensorReadsThePart(t *testing.T) {
	r := newRig(t, Finger{SpO2: 95, Pulse: 72}, nil)
	r.sink.waitReading(t, 0, "SpO2 95±2", 10*time.Second, value(vitals.SpO2, 93, 97))
	r.sink.waitReading(t, 0, "pulse 72±2", 5*time.Second, value(vitals.Pulse, 70, 74))
	all := r.sink.since(0)
	if all[0].Value != vitals.NoValue || !all[0].Flags.Has(vitals.Searching) {
		t.Errorf("first reading %+v, want null and searching", all[0])
	}
	for _, rd := range all {
		if !rd.Flags.Has(vitals.Uncalibrated) || rd.Sensor != 2 {
			t.Fatalf("reading %+v: want sensor 2, flagged uncalibrated", rd)
		}
		if rd.Value != vitals.NoValue && rd.Param == vitals.SpO2 && (rd.Value < 90 || rd.Value > 100) {
			t.Fatalf("SpO2 %d shown for a finger at 95", rd.Value)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for r.sink.lastStatus().Frames == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := r.sink.lastStatus(); st.Frames == 0 || st.Garbled != 0 || st.Valid != 0 || st.Sensor != 2 {
		t.Fatalf("status %+v: want frames, none garbled, Valid 0 (readings say it)", st)
	}
}

// Finger off: null readings with probe_off at once (within a poll, not a
// window); back on: searching, then values again.
func TestSensorFingerOff(t *testing.T) {
	r := newRig(t, Finger{SpO2: 97, Pulse: 60}, nil)
	r.sink.waitReading(t, 0, "SpO2", 10*time.Second, value(vitals.SpO2, 95, 99))
	n, _ := r.sink.counts()
	r.finger.set(Finger{Off: true})
	off := r.m.Counts().Pushed
	r.sink.waitReading(t, n, "probe_off", 2*time.Second, func(rd vitals.Reading) bool { return rd.Flags.Has(vitals.ProbeOff) })
	// Within half a second of signal, not when the 8 s window's mean
	// falls (about 4.5 s).
	if d := r.m.Counts().Pushed - off; d > 50 {
		t.Errorf("probe_off came %d samples (%.2f s) after the finger left", d, float64(d)/r.m.OutputRate())
	}
	time.Sleep(750 * time.Millisecond) // 3 s of signal
	n2, _ := r.sink.counts()
	for _, rd := range r.sink.since(n) {
		// The first reading after the change may still be the finger's (an
		// estimate of the window before it); none after probe_off is.
		if rd.Flags.Has(vitals.ProbeOff) && rd.Value != vitals.NoValue {
			t.Fatalf("probe_off with a value: %+v", rd)
		}
	}
	offs := r.sink.since(n)
	if last := offs[len(offs)-1]; !last.Flags.Has(vitals.ProbeOff) || last.Value != vitals.NoValue {
		t.Fatalf("finger off 3 s, last reading %+v", last)
	}
	r.finger.set(Finger{SpO2: 97, Pulse: 60})
	r.sink.waitReading(t, n2, "searching after the finger is back", 2*time.Second, func(rd vitals.Reading) bool {
		return rd.Flags.Has(vitals.Searching) && rd.Value == vitals.NoValue
	})
	r.sink.waitReading(t, n2, "SpO2 again", 10*time.Second, value(vitals.SpO2, 95, 99))
}

// Unplugged: nothing is sent (the engine's sensor_silent says it), the bus
// is reopened every Retry; replugged: the part is found and configured
// again, and values come back after a search.
func TestSensorUnplugAndReplug(t *testing.T) {
	r := newRig(t, Finger{SpO2: 96, Pulse: 80}, nil)
	r.sink.waitReading(t, 0, "SpO2", 10*time.Second, value(vitals.SpO2, 94, 98))
	r.m.Unplug()
	time.Sleep(1500 * time.Millisecond) // the session ends, its last status lands
	n, ns := r.sink.counts()
	opens := r.opens.Load()
	time.Sleep(500 * time.Millisecond)
	if n2, ns2 := r.sink.counts(); n2 != n || ns2 != ns {
		t.Fatalf("unplugged, the sensor sent %d readings and %d statuses", n2-n, ns2-ns)
	}
	if r.opens.Load() < opens+3 {
		t.Fatalf("bus opened %d times in 500 ms unplugged, want one per 50 ms Retry", r.opens.Load()-opens)
	}
	r.m.Replug()
	r.sink.waitReading(t, n, "searching after replug", 2*time.Second, func(rd vitals.Reading) bool { return rd.Flags.Has(vitals.Searching) })
	r.sink.waitReading(t, n, "SpO2 after replug", 10*time.Second, value(vitals.SpO2, 94, 98))
}

// A reader too slow for the part: the samples it drops are counted as
// garbled, the readings say so by being withheld or still right, never by
// a wrong number.
func TestSensorOverflowCountedAsGarbled(t *testing.T) {
	r := newRigAt(t, 10, Finger{SpO2: 95, Pulse: 70}, func(o *SensorOpts) { o.Poll = 40 * time.Millisecond }) // 32 ms of FIFO at this speed
	deadline := time.Now().Add(5 * time.Second)
	for r.sink.lastStatus().Garbled == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := r.sink.lastStatus()
	if st.Garbled == 0 {
		t.Fatalf("status %+v: the FIFO overflowed but nothing counted garbled", st)
	}
	if c := r.m.Counts(); uint64(c.Dropped) < st.Garbled {
		t.Fatalf("garbled %d but the model dropped only %d", st.Garbled, c.Dropped)
	}
	for _, rd := range r.sink.since(0) {
		if rd.Param == vitals.SpO2 && rd.Value != vitals.NoValue && (rd.Value < 91 || rd.Value > 99) {
			t.Fatalf("SpO2 %d shown from a stream with gaps (finger at 95)", rd.Value)
		}
	}
}

// No such bus: Run keeps trying, sends nothing, and stops at Halt.
func TestSensorNoBus(t *testing.T) {
	s, err := NewSensor("7", &SensorOpts{Part: DefaultOpts, Poll: 10 * time.Millisecond, Retry: 10 * time.Millisecond,
		Open: func(bus string) (i2c.BusCloser, error) {
			return nil, errors.New("i2creg: can't open unknown bus: \"7\"")
		}})
	if err != nil {
		t.Fatal(err)
	}
	k := &sink{}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), k) }()
	time.Sleep(100 * time.Millisecond)
	if err := s.Halt(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after Halt", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Halt did not stop Run")
	}
	if n, ns := k.counts(); n != 0 || ns != 0 {
		t.Fatalf("no bus, yet %d readings and %d statuses", n, ns)
	}
	if err := s.Run(context.Background(), k); !errors.Is(err, drivers.ErrHalted) {
		t.Fatalf("Run after Halt = %v, want ErrHalted", err)
	}
	if err := s.Run(context.Background(), nil); !errors.Is(err, drivers.ErrNilSink) {
		t.Fatalf("Run(nil sink) = %v", err)
	}
}

func TestNewSensorErrorsNameTheOption(t *testing.T) {
	for _, c := range []struct {
		bus  string
		mod  func(*SensorOpts)
		want string
	}{
		{"i2c-1", nil, `I²C bus "i2c-1"`},
		{"/dev/i2c-", nil, "I²C bus"},
		{"1", func(o *SensorOpts) { o.Poll = 0 }, "Poll 0s"},
		{"1", func(o *SensorOpts) { o.Poll = 200 * time.Millisecond }, "Poll 200ms"},
		{"1", func(o *SensorOpts) { o.Retry = 0 }, "Retry"},
		{"1", func(o *SensorOpts) { o.Part.Addr = 0x80 }, "address"},
		{"1", func(o *SensorOpts) { o.Part.SampleRate, o.Part.Averaging = 3200, 1 }, "sample rate"},
		{"1", func(o *SensorOpts) { o.Part.SampleRate, o.Part.Averaging = 50, 4 }, "output rate 12.5"},
	} {
		o := DefaultSensorOpts
		if c.mod != nil {
			c.mod(&o)
		}
		_, err := NewSensor(c.bus, &o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSensor(%q): %v, want an error naming %q", c.bus, err, c.want)
		}
	}
	s, err := NewSensor("/dev/i2c-3", nil)
	if err != nil || s.String() != "max30102(I2C 3, 0x57)" {
		t.Fatalf("NewSensor(/dev/i2c-3, nil) = %v, %v", s, err)
	}
	for _, b := range []string{"1", "I2C1", "/dev/i2c-10"} {
		if _, err := BusName(b); err != nil {
			t.Errorf("BusName(%q): %v", b, err)
		}
	}
}
