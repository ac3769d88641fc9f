package nonin_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/monitor/vitals"
)

// printSink prints what the driver decodes.
type printSink struct{}

func (printSink) Reading(r vitals.Reading) { fmt.Println(r.Param, r.Value, r.Flags) }
func (printSink) Status(s vitals.Status)   { fmt.Println("frames", s.Frames, "garbled", s.Garbled) }
func (printSink) Result(vitals.Result)     {}

// The daemon's use: a driver on the oximeter's by-id path, running until
// SIGINT, reopening the port by itself after an unplug.
func ExampleNew() {
	opts := nonin.DefaultOpts
	opts.Sensor = 0
	opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	dev, err := nonin.New("/dev/serial/by-id/usb-FTDI_Nonin_OEM_III-if00-port0", &opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := dev.Run(ctx, printSink{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// Decoding bytes directly: the first two frames of a DF2 packet carry the
// pulse rate, the third the SpO2; they come out when the next packet's SYNC
// frame shows that the packet had its 25 frames.
func ExampleDecoder() {
	dec, _ := nonin.NewDecoder(nonin.DF2, 0, func(r vitals.Reading) {
		fmt.Println(r.Param, r.Value, r.Flags)
	})
	sync := []byte{0x01, 0x81, 0x43, 0x00, 0xC5} // SYNC frame: HR MSB 0
	dec.Feed(sync)
	dec.Feed([]byte{
		0x01, 0x80, 0x43, 0x4A, 0x0E, // HR LSB 74
		0x01, 0x80, 0x43, 0x60, 0x24, // SpO2 96
	})
	for i := 3; i < 25; i++ { // frames 3..24, FLOAT 0
		dec.Feed([]byte{0x01, 0x80, 0x43, 0x00, 0xC4})
	}
	fmt.Println("frames", dec.Frames(), "so far")
	dec.Feed(sync) // closes the packet
	fmt.Println("frames", dec.Frames(), "garbled", dec.Garbled())
	// Output:
	// frames 25 so far
	// pulse 74 none
	// spo2 96 none
	// frames 26 garbled 0
}

// A simulated oximeter for vitalsim or a test: frames of a state, changed at
// will.
func ExampleDevice() {
	dev, _ := nonin.NewDevice(nonin.DeviceOpts{Format: nonin.DF8}, nonin.Steady(97, 72))
	fmt.Printf("% X\n", dev.Next(nil))
	low := nonin.Steady(85, 110)
	low.Flags = vitals.LowPerfusion
	dev.Set(low)
	fmt.Printf("% X\n", dev.Next(nil))
	// Output:
	// 80 48 61 00
	// 90 6E 55 00
}
