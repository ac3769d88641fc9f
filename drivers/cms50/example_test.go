package cms50_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/chairside/chairside/drivers/cms50"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/creack/pty"
)

// printSink prints what the driver sends.
type printSink struct{}

func (printSink) Reading(r vitals.Reading) { fmt.Println(r.Param, r.Value, r.Flags) }
func (printSink) Status(s vitals.Status)   { fmt.Println("frames", s.Frames, "garbled", s.Garbled) }
func (printSink) Result(vitals.Result)     {}

// The daemon runs one Dev per configured oximeter until it stops.
func ExampleNew() {
	dev, err := cms50.New("/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller-if00-port0", &cms50.Opts{
		Protocol: cms50.Live9,
		Sensor:   0,
		Logger:   slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
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

// Decoding the live packet quoted in headrotor's stream_data.py.
func ExampleDecoder() {
	d, err := cms50.NewDecoder(cms50.Live9)
	if err != nil {
		panic(err)
	}
	in := []byte{0x01, 0xE0, 0x85, 0xB3, 0x96, 0xC1, 0xE1, 0xFF, 0xFF}
	for len(in) > 0 {
		n, pkt, ok := d.Next(in)
		in = in[n:]
		if r, live := pkt.Readings(0); ok && live {
			fmt.Println(r[0].Param, r[0].Value, r[0].Flags)
			fmt.Println(r[1].Param, r[1].Value, r[1].Flags)
		}
	}
	// Output:
	// spo2 97 none
	// pulse 65 none
}

// A finger-out packet gives no values, only the flag.
func ExamplePacket_Readings() {
	b := cms50.AppendLegacy(nil, cms50.State{SpO2: 97, PR: 72, FingerOut: true})
	b = append(b, 0x80) // a Legacy packet is taken when the next one starts
	d, _ := cms50.NewDecoder(cms50.Legacy)
	_, pkt, _ := d.Next(b)
	r, _ := pkt.Readings(0)
	fmt.Println(r[0].Value == vitals.NoValue, r[1].Value == vitals.NoValue, r[0].Flags)
	// Output:
	// true true probe_off
}

// vitalsim runs a Device on a pty master (or a real port) and changes its
// state as the scenario unfolds; the daemon opens the slave.
func ExampleDevice() {
	dev, err := cms50.NewDevice(cms50.DeviceOpts{
		Protocol: cms50.Live9,
		State:    cms50.State{SpO2: 98, PR: 70, Signal: 5},
	})
	if err != nil {
		panic(err)
	}
	master, slave, err := pty.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer master.Close()
	defer slave.Close()
	fmt.Println("the daemon opens", slave.Name())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = dev.Run(ctx, master) }()
	dev.Set(cms50.State{SpO2: 89, PR: 95, Signal: 3}) // the scenario desaturates
}
