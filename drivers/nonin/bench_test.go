package nonin

import (
	"context"
	"log/slog"
	"math/rand/v2"
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

// openSignal is a slog handler that reports serialport's "opened" log line.
type openSignal chan time.Time

func (h openSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h openSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "serial port opened" {
		select {
		case h <- time.Now():
		default:
		}
	}
	return nil
}
func (h openSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h openSignal) WithGroup(string) slog.Handler      { return h }

// BenchmarkReopen measures, with the driver's default back-off, how long an
// oximeter that had been working is out after an unplug and an immediate
// replug: from the moment the new device appears behind the same by-id link
// to the port being open (ms-open/op) and to the first reading at the sink
// (ms-reading/op). The new device runs at the real 75 frames/s and starts
// mid-packet, so the decoder has to find the next SYNC frame. Each iteration
// first lets the session run longer than MaxBackoff, so the back-off is reset
// as after a real, long-lived session (that wait is not timed).
func BenchmarkReopen(b *testing.B) {
	link := filepath.Join(b.TempDir(), "usb-Nonin")
	pt := serialtest.New(b)
	serialtest.Link(b, link, pt.Name)
	opened := make(openSignal, 1)
	snk := newSink()
	drv, err := New(&Opts{Port: link, Format: DF2}, snk, slog.New(opened))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = drv.Run(ctx) }()

	start := func(pt *serialtest.PTY, spo2 int16, skip int) func() {
		dev, _ := NewDevice(DeviceOpts{Format: DF2}, Steady(spo2, 70))
		for i := 0; i < skip; i++ {
			dev.Next(nil) // start mid-packet
		}
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = dev.Run(dctx, pt.Master); close(done) }()
		return func() { dcancel(); <-done }
	}
	stop := start(pt, 80, 0)
	<-opened

	var openTotal, readTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(drv.opts.MaxBackoff + 100*time.Millisecond)
		stop()
		serialtest.Unlink(b, link) // as udev does; see serialtest
		pt.Unplug()
		rs, _ := snk.snapshot()
		spo2 := int16(90 + i%5)
		pt = serialtest.New(b)
		b.StartTimer()

		t0 := time.Now()
		stop = start(pt, spo2, (i*7)%25+1)
		serialtest.Link(b, link, pt.Name)
		select {
		case at := <-opened:
			openTotal += at.Sub(t0)
		case <-time.After(10 * time.Second):
			b.Fatal("port not reopened")
		}
		for {
			got, _ := snk.snapshot()
			if hasReading(vitals.Reading{Param: vitals.SpO2, Value: spo2}, len(rs))(got, nil) {
				break
			}
			select {
			case <-snk.notify:
			case <-time.After(10 * time.Second):
				b.Fatal("no reading after replug")
			}
		}
		readTotal += time.Since(t0)
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(openTotal.Microseconds())/1000/float64(b.N), "ms-open/op")
	b.ReportMetric(float64(readTotal.Microseconds())/1000/float64(b.N), "ms-reading/op")
}
