package gpio

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/chairside/chairside/drivers"
	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/protocol"
)

// pattern samples a signal every 50 ms over d as a string of 1 and 0.
func pattern(d time.Duration, on func(time.Duration) bool) string {
	var b strings.Builder
	for t := time.Duration(0); t < d; t += 50 * time.Millisecond {
		if on(t) {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

func TestBuzzerBursts(t *testing.T) {
	// 150 ms on, 100 ms off, as 50 ms samples.
	high := pattern(3*time.Second, func(t time.Duration) bool { return Buzzer(protocol.High, t) })
	want := strings.Repeat("11100", 4) + "111" + "0000000" + strings.Repeat("11100", 4) + "111" + strings.Repeat("0", 60-50)
	if high != want[:60] {
		t.Fatalf("high:\n got %s\nwant %s", high, want[:60])
	}
	if n := strings.Count(pattern(10*time.Second, func(t time.Duration) bool { return Buzzer(protocol.High, t) }), "111"); n != 10 {
		t.Fatalf("high burst has %d pulses, want 10", n)
	}
	if !Buzzer(protocol.High, 10*time.Second) || Buzzer(protocol.High, 9*time.Second) {
		t.Fatal("high burst does not repeat every 10 s")
	}
	if n := strings.Count(pattern(25*time.Second, func(t time.Duration) bool { return Buzzer(protocol.Medium, t) }), "111"); n != 3 {
		t.Fatalf("medium: %d pulses in 25 s, want 3", n)
	}
	if n := strings.Count(pattern(30*time.Second, func(t time.Duration) bool { return Buzzer(protocol.Low, t) }), "111"); n != 1 {
		t.Fatalf("low: %d pulses in 30 s, want 1", n)
	}
	if Buzzer(protocol.None, 0) {
		t.Fatal("no tone sounds")
	}
}

func TestLamps(t *testing.T) {
	red := pattern(time.Second, func(d time.Duration) bool { r, _ := Lamps(protocol.High, true, d); return r })
	if red != "11111000001111100000" {
		t.Fatalf("high red = %s (want 2 Hz)", red)
	}
	if r, y := Lamps(protocol.Medium, true, 900*time.Millisecond); r || y {
		t.Fatal("medium yellow lit in the dark half of its 1.6 s period")
	}
	if _, y := Lamps(protocol.Low, true, 900*time.Millisecond); !y {
		t.Fatal("low yellow is not steady")
	}
	if r, y := Lamps(protocol.None, true, 0); r || y {
		t.Fatal("lamps lit with no alarm")
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func level(p *gpiotest.Pin) gpio.Level { p.Lock(); defer p.Unlock(); return p.L }

// What a nurse sees and hears: the pins follow the annunciation over time.
func TestRenderDrivesPins(t *testing.T) {
	buzzer, red, yellow := &gpiotest.Pin{N: "GPIO18"}, &gpiotest.Pin{N: "GPIO23"}, &gpiotest.Pin{N: "GPIO24"}
	c := &clock{now: time.Unix(0, 0)}
	a := New(Pins{Buzzer: buzzer, RedLED: red, YellowLED: yellow}, Opts{Now: c.Now})
	a.Show(monitor.Annunciation{Lamp: protocol.High, Flashing: true, Tone: protocol.High})
	a.Render()
	if level(buzzer) != gpio.High || level(red) != gpio.High || level(yellow) != gpio.Low {
		t.Fatal("high alarm: buzzer and red lamp should be on at once")
	}
	c.add(300 * time.Millisecond)
	a.Render()
	if level(red) != gpio.Low {
		t.Fatal("red lamp does not flash")
	}
	// Acknowledged: lamp stays, sound stops; a reminder beeps once.
	a.Show(monitor.Annunciation{Lamp: protocol.High, Flashing: true, Tone: protocol.None})
	c.add(10 * time.Millisecond)
	a.Render()
	if level(buzzer) != gpio.Low {
		t.Fatal("buzzer sounds after acknowledge")
	}
	a.Remind()
	a.Render()
	if level(buzzer) != gpio.High {
		t.Fatal("reminder did not sound")
	}
	c.add(250 * time.Millisecond)
	a.Render()
	if level(buzzer) != gpio.Low {
		t.Fatal("reminder did not stop")
	}
}

type failingPin struct{ gpiotest.Pin }

func (p *failingPin) Out(gpio.Level) error { return errors.New("EIO") }

func TestPinFailureReportsFault(t *testing.T) {
	var got []error
	a := New(Pins{Buzzer: &failingPin{gpiotest.Pin{N: "GPIO18"}}}, Opts{OnFault: func(err error) { got = append(got, err) }})
	a.Show(monitor.Annunciation{Tone: protocol.High})
	a.Render()
	a.Render()
	if len(got) != 1 || !strings.Contains(got[0].Error(), "gpio: write GPIO18") {
		t.Fatalf("faults = %v (want one, naming the pin)", got)
	}
}

// On a machine without GPIO (CI, a laptop) Lookup fails clearly.
func TestLookupWithoutGPIO(t *testing.T) {
	_, err := Lookup(Names{Buzzer: "GPIO18"}, nil)
	if err == nil {
		t.Skip("this machine has GPIO pins")
	}
	if !strings.Contains(err.Error(), `pin "GPIO18" not found`) {
		t.Fatalf("error = %v", err)
	}
}

// TestHaltSwitchesOff: Halt ends Run, which leaves every pin off, and
// returns once it has; Halt twice and before Run are fine, and a Run after
// Halt fails instead of driving the pins again.
func TestHaltSwitchesOff(t *testing.T) {
	buzzer, red := &gpiotest.Pin{N: "GPIO18"}, &gpiotest.Pin{N: "GPIO23"}
	a := New(Pins{Buzzer: buzzer, RedLED: red}, Opts{})
	a.Show(monitor.Annunciation{Lamp: protocol.High, Tone: protocol.High})
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for level(buzzer) != gpio.High || level(red) != gpio.High {
		if time.Now().After(deadline) {
			t.Fatal("Run did not sound the alarm")
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Halt(); err != nil {
		t.Fatal(err)
	}
	if level(buzzer) != gpio.Low || level(red) != gpio.Low {
		t.Error("pins still on when Halt returned")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Halt")
	}
	if err := a.Halt(); err != nil {
		t.Errorf("second Halt = %v", err)
	}
	if err := a.Run(context.Background()); !errors.Is(err, drivers.ErrHalted) {
		t.Errorf("Run after Halt = %v, want ErrHalted", err)
	}
	b := New(Pins{}, Opts{})
	if err := b.Halt(); err != nil {
		t.Errorf("Halt before Run = %v", err)
	}
}

func TestString(t *testing.T) {
	a := New(Pins{Buzzer: &gpiotest.Pin{N: "GPIO18"}, AckButton: &gpiotest.Pin{N: "GPIO25"}}, Opts{})
	if got, want := a.String(), "gpio(buzzer GPIO18, red -, yellow -, button GPIO25)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
