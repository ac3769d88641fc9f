package cms50

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// loadHex reads a hex capture: whitespace ignored, '#' starts a comment.
func loadHex(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for line := range strings.SplitSeq(string(raw), "\n") {
		line, _, _ = strings.Cut(line, "#")
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// parseHex parses space-separated hex bytes.
func parseHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// vectorLine is one non-comment line of a vector file.
type vectorLine struct {
	n    int    // line number
	text string // the line
}

// readVectors gives the non-empty, non-comment lines of a vector file.
func readVectors(t testing.TB, path string) []vectorLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vectorLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, vectorLine{n, line})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no vectors", path)
	}
	return out
}

// decodeAll decodes b in one call and returns every packet.
func decodeAll(t testing.TB, p Protocol, b []byte) ([]Packet, *Decoder) {
	t.Helper()
	d, err := NewDecoder(p)
	if err != nil {
		t.Fatal(err)
	}
	return feedAll(d, b), d
}

// closed gives b followed by the first byte of a next packet (which then
// stays pending): a Legacy packet, and a Live9 packet with a PI, comes out
// only when the next one starts.
func closed(p Protocol, b []byte) []byte {
	if p == Legacy {
		return append(append([]byte(nil), b...), legacySync)
	}
	return append(append([]byte(nil), b...), TypeLive)
}

// closing is how many bytes closed adds.
func closing(Protocol) int { return 1 }

// feedAll feeds b to d and returns the packets.
func feedAll(d *Decoder, b []byte) []Packet {
	var out []Packet
	for len(b) > 0 {
		n, pkt, ok := d.Next(b)
		b = b[n:]
		if ok {
			out = append(out, pkt)
		}
	}
	return out
}

// liveOnly keeps the live packets.
func liveOnly(pkts []Packet) []Packet {
	var out []Packet
	for _, p := range pkts {
		if p.Live() {
			out = append(out, p)
		}
	}
	return out
}

// valueString formats a reading value, "none" for NoValue.
func valueString(v int16) string {
	if v == vitals.NoValue {
		return "none"
	}
	return fmt.Sprint(v)
}

// readingsString formats a live packet's readings as the vector files do.
func readingsString(t testing.TB, p Packet) string {
	t.Helper()
	r, ok := p.Readings(0)
	if !ok {
		t.Fatalf("packet type %02X has no readings", p.Type)
	}
	if r[0].Flags != r[1].Flags || r[0].Param != vitals.SpO2 || r[1].Param != vitals.Pulse {
		t.Fatalf("readings out of shape: %+v", r)
	}
	return fmt.Sprintf("spo2=%s pr=%s flags=%s", valueString(r[0].Value), valueString(r[1].Value), r[0].Flags)
}

// recSink records what a driver sends, for concurrent use.
type recSink struct {
	mu       sync.Mutex
	readings []vitals.Reading
	statuses []vitals.Status
	results  int
	notify   chan struct{} // gets a token after every call, if not full
}

func newRecSink() *recSink { return &recSink{notify: make(chan struct{}, 1)} }

func (s *recSink) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *recSink) Reading(r vitals.Reading) {
	s.mu.Lock()
	s.readings = append(s.readings, r)
	s.mu.Unlock()
	s.poke()
}

func (s *recSink) Status(st vitals.Status) {
	s.mu.Lock()
	s.statuses = append(s.statuses, st)
	s.mu.Unlock()
	s.poke()
}

func (s *recSink) Result(vitals.Result) {
	s.mu.Lock()
	s.results++
	s.mu.Unlock()
	s.poke()
}

// snapshot copies what was recorded.
func (s *recSink) snapshot() ([]vitals.Reading, []vitals.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]vitals.Reading(nil), s.readings...), append([]vitals.Status(nil), s.statuses...)
}
