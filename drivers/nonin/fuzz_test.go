package nonin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// fuzzFormats maps the first input byte to a format.
var fuzzFormats = [3]Format{DF2, DF7, DF8}

// FuzzDecoder feeds arbitrary bytes to a decoder (the first byte chooses the
// format, the second the chunk size) and checks what must hold for any input:
// no panic; every reading in range, with known flags and the configured
// sensor; the same readings and counts whatever the chunking; every byte
// accounted for (frames*L + skipped + buffered = fed); floor(skipped/L) <=
// garbled - discarded <= skipped; frames, skipped, garbled, discarded and
// buffered exactly those of
// countModel, a plain restatement of the counting rule on Decoder; after
// Reset, nothing buffered and the counts countModel gives for a stream that
// ends there; the buffer within its fixed bound.
func FuzzDecoder(f *testing.F) {
	for _, name := range []string{"df2_mattjlewis_packet.hex", "df2_mattjlewis_stream.hex", "df2_pufferfish_packet.hex", "df2_pufferfish_frames.txt"} {
		v, order := loadVectors(f, name)
		for _, k := range order {
			f.Add(append([]byte{0, 5}, v[k]...))
		}
	}
	v, order := loadVectors(f, "df7_spec.hex")
	for _, k := range order {
		f.Add(append([]byte{1, 7}, v[k]...))
	}
	v, order = loadVectors(f, "df8_spec.txt")
	var df8 []byte
	for _, k := range order {
		df8 = append(df8, v[k]...)
	}
	f.Add(append([]byte{2, 3}, df8...))
	f.Add([]byte{0, 1, 0x01, 0x81, 0x01, 0x81, 0x01, 0x00, 0x83})
	// Opened mid-frame and mid-packet (DF2, DF7); a lone DF8 frame between
	// two bad ones, then a frame cut off.
	v, _ = loadVectors(f, "df2_mattjlewis_packet.hex")
	f.Add(append([]byte{0, 4}, v[""][7:]...))
	v, _ = loadVectors(f, "df7_spec.hex")
	f.Add(append([]byte{1, 2}, v["A"][13:]...))
	f.Add(append([]byte{2, 5}, 0x80, 0x48, 0x61, 0x00, 0x80, 0xc8, 0x61, 0x00, 0x80, 0x48, 0x61, 0x00,
		0x80, 0x48, 0x70, 0x00, 0x80, 0x48, 0x61, 0x00, 0x80, 0x48, 0x61, 0x00, 0x80, 0x48))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		format := fuzzFormats[int(data[0])%len(fuzzFormats)]
		chunk := int(data[1])%16 + 1
		in := data[2:]

		whole, wr := decodeChunks(t, format, in, len(in)+1)
		split, sr := decodeChunks(t, format, in, chunk)

		L := uint64(format.frameLen())
		for _, d := range []*Decoder{whole, split} {
			if d.n < 0 || d.n > d.need || d.need > len(d.buf) {
				t.Fatalf("buffer %d of %d (cap %d)", d.n, d.need, len(d.buf))
			}
			if got := d.frames*L + d.skipped + uint64(d.n); got != uint64(len(in)) {
				t.Fatalf("accounted %d bytes of %d (frames %d skipped %d buffered %d)",
					got, len(in), d.frames, d.skipped, d.n)
			}
			if g := d.garbled - d.discarded; g < d.skipped/L || g > d.skipped {
				t.Fatalf("garbled %d (%d discarded packets) for %d skipped bytes", d.garbled, d.discarded, d.skipped)
			}
			want := countModel(format, in, false)
			if got := (modelCounts{d.frames, d.skipped, d.garbled, d.discarded, d.n}); got != want {
				t.Fatalf("counts %+v, the rule gives %+v", got, want)
			}
		}
		if whole.frames != split.frames || whole.garbled != split.garbled || whole.Last() != split.Last() {
			t.Fatalf("chunking changed the result: %d/%d vs %d/%d", whole.frames, whole.garbled, split.frames, split.garbled)
		}
		if len(wr) != len(sr) {
			t.Fatalf("chunking changed the readings: %d vs %d", len(wr), len(sr))
		}
		for i, r := range wr {
			if r != sr[i] {
				t.Fatalf("reading %d: %+v vs %+v", i, r, sr[i])
			}
			checkReading(t, r)
		}
		// Every two readings come from at least one frame.
		if uint64(len(wr)) > 2*whole.frames {
			t.Fatalf("%d readings from %d frames", len(wr), whole.frames)
		}
		// Reset settles what is buffered.
		split.Reset()
		want := countModel(format, in, true)
		if got := (modelCounts{split.frames, split.skipped, split.garbled, split.discarded, split.n}); got != want {
			t.Fatalf("after Reset: counts %+v, the rule gives %+v", got, want)
		}
		if split.frames*L+split.skipped != uint64(len(in)) {
			t.Fatalf("after Reset: accounted %d bytes of %d", split.frames*L+split.skipped, len(in))
		}
	})
}

type modelCounts struct {
	frames, skipped, garbled, discarded uint64
	buffered                            int
}

// countModel restates the counting rule on Decoder for a whole stream, with
// no buffering, no windows and nothing shared with the decoder but the frame
// length: cut the stream from left to right into valid frames and skipped
// bytes (DF8: two well-formed frames in a row to lock, a lone one between
// bad ones still a good frame); each run of skipped bytes adds ceil(r/L),
// the first one floor(r/L); in DF2/DF7, counting frames taken in a row from
// a SYNC frame, a SYNC frame that is not the 26th or a 26th frame that is not
// a SYNC adds one discarded packet. With reset, the stream ends with Reset:
// what is left over is a lone DF8 frame or skipped bytes, and the last run
// ends.
func countModel(f Format, in []byte, reset bool) modelCounts {
	valid := func(b []byte) bool {
		switch f {
		case DF2:
			return b[0] == 0x01 && b[1]&0x80 != 0 && b[0]+b[1]+b[2]+b[3] == b[4]
		case DF7:
			return b[0]&0x80 != 0 && b[0]+b[1]+b[2]+b[3] == b[4]
		}
		return b[0]&0x80 != 0 && (b[1]|b[2]|b[3])&0x80 == 0 && (b[2] <= 100 || b[2] == 127)
	}
	L := f.frameLen()
	var c modelCounts
	run, opening := 0, true
	runGarbled := func() uint64 {
		if opening {
			return uint64(run / L)
		}
		return uint64((run + L - 1) / L)
	}
	take := func(frames int) {
		c.frames += uint64(frames)
		c.garbled += runGarbled()
		run, opening = 0, false
	}
	inPacket, count := false, 0 // frames in a row since a SYNC frame
	packet := func(b []byte) {
		if f == DF8 {
			return
		}
		sync := b[0]&1 != 0
		if f == DF2 {
			sync = b[1]&1 != 0
		}
		switch {
		case sync && inPacket && count != 25, !sync && inPacket && count == 25:
			c.discarded++
			c.garbled++
		}
		switch {
		case sync:
			inPacket, count = true, 1
		case inPacket && count == 25:
			inPacket = false
		case inPacket:
			count++
		}
	}
	skip := func() { run++; c.skipped++ }
	p, locked := 0, false
	for {
		if locked {
			if p+L > len(in) {
				break
			}
			if valid(in[p : p+L]) {
				take(1)
				packet(in[p : p+L])
				p += L
				continue
			}
			locked, inPacket = false, false
		}
		if f != DF8 {
			if p+L > len(in) {
				break
			}
			if valid(in[p : p+L]) {
				take(1)
				packet(in[p : p+L])
				p += L
				locked = true
			} else {
				skip()
				p++
			}
			continue
		}
		if p+2*L > len(in) {
			break
		}
		switch {
		case valid(in[p:p+L]) && valid(in[p+L:p+2*L]):
			take(2)
			p += 2 * L
			locked = true
		case valid(in[p : p+L]): // lone
			take(1)
			p += L
		default:
			skip()
			p++
		}
	}
	if reset {
		for ; !locked && len(in)-p >= L; p++ {
			if valid(in[p : p+L]) { // a lone DF8 frame
				take(1)
				p += L - 1
				continue
			}
			skip()
		}
		for ; p < len(in); p++ {
			skip()
		}
	}
	c.garbled += runGarbled()
	c.buffered = len(in) - p
	return c
}

func decodeChunks(t *testing.T, f Format, in []byte, chunk int) (*Decoder, []vitals.Reading) {
	var out []vitals.Reading
	d, err := NewDecoder(f, 7, func(r vitals.Reading) { out = append(out, r) })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(in); i += chunk {
		d.Feed(in[i:min(i+chunk, len(in))])
	}
	return d, out
}

func checkReading(t *testing.T, r vitals.Reading) {
	t.Helper()
	if r.Sensor != 7 {
		t.Fatalf("sensor %d", r.Sensor)
	}
	if r.Flags&^knownFlags != 0 {
		t.Fatalf("unknown flags %v", r.Flags)
	}
	switch r.Param {
	case vitals.SpO2:
		if r.Value != vitals.NoValue && (r.Value < 0 || r.Value > 100) {
			t.Fatalf("SpO2 %d", r.Value)
		}
	case vitals.Pulse:
		if r.Value != vitals.NoValue && (r.Value < 0 || r.Value > 510) {
			t.Fatalf("pulse %d", r.Value)
		}
	default:
		t.Fatalf("param %v", r.Param)
	}
}

// TestFuzzCorpusPresent keeps the checked-in seed corpus from silently
// disappearing: `go test` runs every file in it as a FuzzDecoder case.
func TestFuzzCorpusPresent(t *testing.T) {
	files, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzDecoder"))
	if err != nil || len(files) < 5 {
		t.Fatalf("seed corpus: %d files, %v", len(files), err)
	}
}
