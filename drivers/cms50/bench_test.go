package cms50

import (
	"math/rand/v2"
	"testing"

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
	drv, err := New(Opts{Port: "/dev/null", Protocol: Live9}, nopSink{}, nil)
	if err != nil {
		b.Fatal(err)
	}
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
