package cms50

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/monitor/vitals"
)

// benchStream is ten seconds of a device's output (600 packets) with values
// varying as in life.
func benchStream(p Protocol) []byte {
	var b []byte
	for i := range 600 {
		s := base
		s.Pleth = uint8(i % 128)
		s.PR = int16(60 + i%90)
		s.Beat = i%50 == 0
		b = p.Append(b, s)
	}
	return b
}

// benchDecode decodes in and turns each live packet into readings, as the
// driver does, and reports bytes/s and allocations.
func benchDecode(b *testing.B, p Protocol, in []byte) {
	d, err := NewDecoder(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var sum int64
	for b.Loop() {
		for rest := in; len(rest) > 0; {
			n, pkt, ok := d.Next(rest)
			rest = rest[n:]
			if !ok {
				continue
			}
			if r, live := pkt.Readings(0); live {
				sum += int64(r[0].Value) + int64(r[1].Value)
			}
		}
	}
	if sum == 0 {
		b.Fatal("nothing decoded")
	}
}

func BenchmarkDecodeLive9(b *testing.B)  { benchDecode(b, Live9, benchStream(Live9)) }
func BenchmarkDecodeLegacy(b *testing.B) { benchDecode(b, Legacy, benchStream(Legacy)) }

// BenchmarkDecodeLive9Noisy has a burst of noise every tenth packet.
func BenchmarkDecodeLive9Noisy(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var in []byte
	for i, s := 0, base; i < 600; i++ {
		in = AppendLive9(in, s)
		if i%10 == 0 {
			for range 20 {
				in = append(in, byte(rng.UintN(256)))
			}
		}
	}
	benchDecode(b, Live9, in)
}

// BenchmarkFeedLive9 is the driver's whole path from a read chunk to the
// sink (a sink that does nothing).
func BenchmarkFeedLive9(b *testing.B) {
	drv, err := New("/dev/null", &Opts{Protocol: Live9})
	if err != nil {
		b.Fatal(err)
	}
	drv.sink = nopSink{} // as Run sets it
	s := &session{d: drv, streamed: true}
	in := benchStream(Live9)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := in; len(rest) > 0; rest = rest[min(readBufSize, len(rest)):] {
			s.feed(rest[:min(readBufSize, len(rest))])
		}
	}
	if drv.dec.Stats().Live == 0 {
		b.Fatal("nothing decoded")
	}
}

func BenchmarkAppendLive9(b *testing.B) {
	buf := make([]byte, 0, live9Len)
	b.SetBytes(live9Len)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendLive9(buf[:0], base)
	}
}

type nopSink struct{}

func (nopSink) Reading(vitals.Reading) {}
func (nopSink) Status(vitals.Status)   {}
func (nopSink) Result(vitals.Result)   {}

// BenchmarkReopen measures, with the driver's default back-off, how long a
// CMS50 (Live9) that had been working is out after an unplug and an
// immediate replug (see serialtest.Reopen). The new device streams only once
// the driver has sent its start command.
func BenchmarkReopen(b *testing.B) {
	link := filepath.Join(b.TempDir(), "usb-CMS50")
	opened := make(serialtest.Opened, 1)
	snk := newRecSink()
	drv, err := New(link, &Opts{Protocol: Live9, Logger: slog.New(opened)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = drv.Run(ctx, snk) }()
	spo2 := func(i int) int16 { return int16(90 + (i+5)%5) }
	serialtest.Reopen{
		Link: link, Opened: opened, Settle: serialport.DefaultMaxBackoff + 100*time.Millisecond, Notify: snk.notify,
		Plug: func(i int) func(context.Context, *os.File) error {
			st := base
			st.SpO2 = spo2(i)
			dev, err := NewDevice(DeviceOpts{Protocol: Live9, State: st})
			if err != nil {
				b.Fatal(err)
			}
			return func(ctx context.Context, m *os.File) error { return dev.Run(ctx, m) }
		},
		Unplugged: func(i int) func() bool {
			before, _ := snk.snapshot()
			return func() bool {
				got, _ := snk.snapshot()
				for _, r := range got[len(before):] {
					if r.Param == vitals.SpO2 && r.Value == spo2(i) {
						return true
					}
				}
				return false
			}
		},
	}.Run(b)
}
