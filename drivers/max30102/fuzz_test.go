package max30102

import (
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

// fuzzBus answers every read from the fuzz data and fails when it runs out
// or when told to (byte 0xFD at the read's start), so the driver meets any
// pointers, counters, modes and sample bytes a broken or noisy bus can give.
type fuzzBus struct{ data []byte }

func (b *fuzzBus) String() string                    { return "fuzz" }
func (b *fuzzBus) SetSpeed(f physic.Frequency) error { return nil }
func (b *fuzzBus) Tx(addr uint16, w, r []byte) error {
	if len(r) == 0 {
		return nil
	}
	if len(b.data) < len(r) || b.data[0] == 0xFD {
		if len(b.data) > 0 {
			b.data = b.data[1:]
		}
		return errors.New("fuzz: NACK")
	}
	copy(r, b.data)
	b.data = b.data[len(r):]
	return nil
}

// FuzzRead: whatever the bus answers, New and Read return an error or
// samples within 18 bits, never more than asked, never a panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte{0x03, 0x15, 0x00, 0x00, 0x00, 0, 0, 0x80, 0, 5, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30})
	f.Add([]byte{0x03, 0x15, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x03})
	f.Add([]byte{0x03, 0x15, 0x40, 0x40, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		bus := &fuzzBus{data: data}
		d, err := New(bus, nil)
		if err != nil {
			return
		}
		d.sleep = func(time.Duration) {}
		buf := make([]Sample, 8)
		for range 20 {
			b, err := d.Read(buf)
			if err != nil {
				continue
			}
			if b.N < 0 || b.N > len(buf) || b.Lost < 0 || b.Lost > 31 {
				t.Fatalf("%+v", b)
			}
			for _, s := range buf[:b.N] {
				if s.Red > FullScale || s.IR > FullScale {
					t.Fatalf("sample %+v over 18 bits", s)
				}
			}
		}
		d.Temperature()
	})
}
