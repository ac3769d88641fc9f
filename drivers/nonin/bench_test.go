package nonin

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/monitor/vitals"
)

// benchStream is n packets of a device whose values change every packet.
func benchStream(f Format, packets int) []byte {
	e, _ := NewEncoder(f)
	var b []byte
	for i := 0; i < packets; i++ {
		s := Steady(int16(90+i%10), int16(60+i%40))
		s.Pleth = uint16(i * 37)
		if i%7 == 0 {
			s.Flags = vitals.Artifact
		}
		b = e.AppendPacket(b, &s)
	}
	return b
}

func benchDecoder(b *testing.B, f Format, in []byte, chunk int) {
	var n int
	d, err := NewDecoder(f, 0, func(vitals.Reading) { n++ })
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < len(in); i += chunk {
			d.Feed(in[i:min(i+chunk, len(in))])
		}
	}
	if n == 0 {
		b.Fatal("no readings")
	}
}

// 40 DF2/DF7 packets = 1000 frames (13 s of data); 1000 DF8 frames.
func BenchmarkDecoderDF2(b *testing.B) { benchDecoder(b, DF2, benchStream(DF2, 40), 256) }
func BenchmarkDecoderDF7(b *testing.B) { benchDecoder(b, DF7, benchStream(DF7, 40), 256) }
func BenchmarkDecoderDF8(b *testing.B) { benchDecoder(b, DF8, benchStream(DF8, 1000), 256) }

// BenchmarkDecoderDF2Bytewise feeds one byte per call, as a serial read at
// 9600 baud often returns.
func BenchmarkDecoderDF2Bytewise(b *testing.B) { benchDecoder(b, DF2, benchStream(DF2, 40), 1) }

// BenchmarkDecoderDF2Noisy has 10 random bytes after every packet: the
// hunting path.
func BenchmarkDecoderDF2Noisy(b *testing.B) {
	clean := benchStream(DF2, 40)
	r := rand.New(rand.NewPCG(3, 4))
	var in []byte
	for i := 0; i < len(clean); i += 125 {
		in = append(in, clean[i:i+125]...)
		for k := 0; k < 10; k++ {
			in = append(in, byte(r.Uint32()))
		}
	}
	benchDecoder(b, DF2, in, 256)
}

// BenchmarkReopen measures, with the driver's default back-off, how long an
// oximeter that had been working is out after an unplug and an immediate
// replug (see serialtest.Reopen). The new device runs at the real 75
// frames/s and starts mid-packet, so the decoder has to find the next SYNC
// frame.
func BenchmarkReopen(b *testing.B) {
	link := filepath.Join(b.TempDir(), "usb-Nonin")
	opened := make(serialtest.Opened, 1)
	snk := newSink()
	drv, err := New(link, &Opts{Format: DF2, Logger: slog.New(opened)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = drv.Run(ctx, snk) }()
	spo2 := func(i int) int16 { return int16(90 + i%5) }
	serialtest.Reopen{
		Link: link, Opened: opened, Settle: drv.opts.MaxBackoff + 100*time.Millisecond, Notify: snk.notify,
		Plug: func(i int) func(context.Context, *os.File) error {
			dev, _ := NewDevice(DeviceOpts{Format: DF2}, Steady(spo2(i), 70))
			for k := 0; k < (i*7)%25+1; k++ {
				dev.Next(nil) // start mid-packet
			}
			return func(ctx context.Context, m *os.File) error { return dev.Run(ctx, m) }
		},
		Unplugged: func(i int) func() bool {
			rs, _ := snk.snapshot()
			return func() bool {
				got, _ := snk.snapshot()
				return hasReading(vitals.Reading{Param: vitals.SpO2, Value: spo2(i)}, len(rs))(got, nil)
			}
		},
	}.Run(b)
}
