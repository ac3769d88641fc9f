package nonin

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// loadVectors reads a testdata file of hex lines ("name: hex..." or bare hex,
// "#" comments) into named byte strings; bare lines go under "".
func loadVectors(t testing.TB, name string) (map[string][]byte, []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	var order []string
	for _, line := range strings.Split(string(raw), "\n") {
		line, _, _ = strings.Cut(line, "#")
		label := ""
		if l, rest, ok := strings.Cut(line, ":"); ok {
			label, line = strings.TrimSpace(l), rest
		}
		line = strings.Join(strings.Fields(line), "")
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, seen := out[label]; !seen {
			order = append(order, label)
		}
		out[label] = append(out[label], b...)
	}
	return out, order
}

// recorder collects what a decoder emits.
type recorder struct {
	readings []vitals.Reading
	at       []int // bytes fed when each reading was emitted (byte-by-byte feeding)
	fed      int
}

func (r *recorder) emit(x vitals.Reading) {
	r.readings = append(r.readings, x)
	r.at = append(r.at, r.fed)
}

// feedBytes feeds p one byte at a time, so r.at says exactly when each value
// came out.
func (r *recorder) feedBytes(d *Decoder, p []byte) {
	for i := range p {
		r.fed++
		d.Feed(p[i : i+1])
	}
}

func newDec(t testing.TB, f Format) (*Decoder, *recorder) {
	t.Helper()
	r := &recorder{}
	d, err := NewDecoder(f, 3, r.emit)
	if err != nil {
		t.Fatal(err)
	}
	return d, r
}

// last gives the last reading of param p, and whether there was one.
func (r *recorder) last(p vitals.Param) (vitals.Reading, bool) {
	for i := len(r.readings) - 1; i >= 0; i-- {
		if r.readings[i].Param == p {
			return r.readings[i], true
		}
	}
	return vitals.Reading{}, false
}

// sink is a drivers.Sink for the driver tests, safe for concurrent use.
type sink struct {
	mu       sync.Mutex
	readings []vitals.Reading
	statuses []vitals.Status
	results  []vitals.Result
	notify   chan struct{}
}

func newSink() *sink { return &sink{notify: make(chan struct{}, 1)} }

func (s *sink) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *sink) Reading(r vitals.Reading) {
	s.mu.Lock()
	s.readings = append(s.readings, r)
	s.mu.Unlock()
	s.poke()
}

func (s *sink) Status(st vitals.Status) {
	s.mu.Lock()
	s.statuses = append(s.statuses, st)
	s.mu.Unlock()
	s.poke()
}

func (s *sink) Result(r vitals.Result) {
	s.mu.Lock()
	s.results = append(s.results, r)
	s.mu.Unlock()
	s.poke()
}

func (s *sink) snapshot() ([]vitals.Reading, []vitals.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]vitals.Reading(nil), s.readings...), append([]vitals.Status(nil), s.statuses...)
}
