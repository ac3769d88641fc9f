package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

const root = "chairside/chair-03"

// clock is an injectable clock for the group-commit window.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// faults collects what OnFault reports.
type faults struct {
	mu   sync.Mutex
	errs []error
}

func (f *faults) on(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

func (f *faults) list() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// quiet is the test default: a window so long only Flush, urgent commits and
// the fake clock decide when group commits happen.
func quiet() Options { return Options{CommitEvery: time.Hour} }

func openT(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func closeT(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// vital is a realistic SpO2 sample, as the engine emits it.
func vital(v float64) *wire.Vital {
	return &wire.Vital{
		T: wire.At(time.Date(2026, 11, 22, 8, 0, 0, 123e6, time.UTC)), Session: "s-20261122-0800-ab12",
		Param: "spo2", Value: wire.N(v), Unit: "%", Source: "nonin", Flags: []string{},
	}
}

func alarm(id string) *wire.Alarm {
	return &wire.Alarm{
		T: wire.At(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)), Session: "s-1", ID: id,
		Condition: "spo2_low", Kind: wire.KindPhysiological, Priority: "high", Phase: wire.PhaseStart,
		State: "active", ConditionActive: true, Value: wire.N(86), Limit: wire.N(88),
		Message: "SpO2 86 < 88", Audio: wire.AudioOn,
	}
}

// sink collects what OnCommitted hands over, as a publisher would get it.
type sink struct {
	mu   sync.Mutex
	recs []Record
}

func (k *sink) on(recs []Record) {
	k.mu.Lock()
	k.recs = append(k.recs, recs...)
	k.mu.Unlock()
}

func (k *sink) all() []Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Record(nil), k.recs...)
}

func (k *sink) last() Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.recs) == 0 {
		return Record{}
	}
	return k.recs[len(k.recs)-1]
}

// openS opens a store whose OnCommitted feeds a sink.
func openS(t testing.TB, dir string, opts Options) (*Store, *sink) {
	t.Helper()
	k := &sink{}
	opts.OnCommitted = k.on
	return openT(t, dir, opts), k
}

// commitNowT commits a non-urgent record and flushes it: its record, as
// OnCommitted got it.
func commitNowT(t testing.TB, s *Store, k *sink, topic string, p wire.Stamped) Record {
	t.Helper()
	if r := commitT(t, s, topic, p, false); r.Seq != 0 || r.Payload != nil {
		t.Fatalf("non-urgent Commit returned %+v, want a zero Record", r)
	}
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	r := k.last()
	if r.Topic != topic {
		t.Fatalf("OnCommitted's last record is %+v, want one on %s", r, topic)
	}
	return r
}

func commitT(t testing.TB, s *Store, topic string, p wire.Stamped, urgent bool) Record {
	t.Helper()
	r, err := s.Commit(topic, p, true, urgent)
	if err != nil {
		t.Fatalf("Commit %s: %v", topic, err)
	}
	return r
}

func pendingT(t testing.TB, s *Store) []Record {
	t.Helper()
	var all []Record
	for after := uint64(0); ; {
		recs, err := s.Pending(after, 7) // small pages exercise paging
		if err != nil {
			t.Fatalf("Pending: %v", err)
		}
		if len(recs) == 0 {
			return all
		}
		all = append(all, recs...)
		after = recs[len(recs)-1].Seq
	}
}

func seqs(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func gapOf(t testing.TB, r Record) wire.Gap {
	t.Helper()
	var g wire.Gap
	if err := json.Unmarshal(r.Payload, &g); err != nil {
		t.Fatalf("gap payload %s: %v", r.Payload, err)
	}
	return g
}

// copyStore copies the store file as it is on disk right now into a fresh
// directory: what a power cut at this instant would leave (bbolt writes
// nothing outside its transactions, and this store writes nothing outside
// bbolt).
func copyStore(t testing.TB, s *Store) string {
	t.Helper()
	b, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitFor polls cond for up to 10 s: generous for a loaded 2-core machine.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func isCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce) && errors.Is(err, ErrCorrupt)
}

func filepathDir(p string) string { return filepath.Dir(p) }
