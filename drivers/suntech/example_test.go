package suntech_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/chairside/chairside/drivers/suntech"
	"github.com/chairside/chairside/monitor/vitals"
)

// Parsing the module's answers: the BP result vector of sensors.md, preceded
// by line noise and an acknowledge.
func ExampleParser() {
	in := []byte{
		0x13, 0x37, // noise
		0x3E, 0x04, 0x4B, 0x73, // 'K': the cycle is over
		0x3E, 0x18, 0x73, 0x00, 0x4A, 0x00, 0x1E, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x31, 0x07, 0x55, 0x00, 0x58, 0x00, 0x00, 0x00, 0x00, 0xE9,
	}
	var p suntech.Parser
	for {
		f, n, ok := p.Next(in)
		in = in[n:]
		if !ok {
			break
		}
		fmt.Println(f.String())
	}
	st := p.Stats()
	fmt.Printf("frames %d, garbled %d\n", st.Frames, st.Garbled)
	// Output:
	// ack 'K' done
	// result SYS 115 DIA 74 MAP 88 HR 85 error 0x00
	// frames 2, garbled 1
}

// The commands are values with their checksum already computed.
func ExampleAbort() {
	fmt.Println(suntech.Abort())
	fmt.Println(suntech.StartBP(suntech.Adult))
	fmt.Println(suntech.InflateTimeout)
	// Output:
	// abort [3A 79 01 00 4C]
	// start adult [3A 20 A6]
	// 0x57 inflate timeout, leak or loose cuff
}

// printSink prints what the driver reports.
type printSink struct{}

func (printSink) Reading(vitals.Reading) {}
func (printSink) Status(vitals.Status)   {}
func (printSink) Result(r vitals.Result) {
	if r.Failed() {
		fmt.Println(r.Request, "failed:", r.Failure)
		return
	}
	fmt.Printf("%s: %d/%d (%d) mmHg, pulse %d\n", r.Request, r.Systolic, r.Diastolic, r.Mean, r.Pulse)
}

// The daemon's use: New checks the options, Run owns the port until the
// context ends, Start asks for one measurement whose Result goes to the sink.
func ExampleNew() {
	opts := suntech.DefaultOpts
	opts.Sensor = 1
	opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	dev, err := suntech.New("/dev/ttyAMA0", &opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = dev.Run(ctx, printSink{}) }()
	// ... once the port is open, on the engine's schedule:
	if err := dev.Start(ctx, "n-1-1"); err != nil {
		fmt.Println(err)
	}
}

// Option mistakes name the field.
func ExampleNew_badOpts() {
	_, err := suntech.New("/dev/ttyAMA0", &suntech.Opts{CycleLimit: 1e9})
	fmt.Println(err)
	// Output:
	// suntech: Opts.CycleLimit 1s is outside [10s, 5m0s]
}
