package forward

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/archive/pgtest"
	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/recorder"
	"github.com/chairside/chairside/monitor/wire"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	cluster = pgtest.Start()
	code := m.Run()
	cluster.Stop()
	os.Exit(code)
}

var testHL7 = hl7.Config{SendingApplication: "CHAIRSIDE", SendingFacility: "CLINIC", ReceivingApplication: "EHR", ReceivingFacility: "CLINIC"}

// backends runs f on SQLite and on PostgreSQL; open gives a new handle on
// the same database each call (as a second recorder would have).
func backends(t *testing.T, f func(t *testing.T, open func() *archive.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
		f(t, func() *archive.DB { return openDB(t, dsn) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := cluster.NewDatabase(t)
		f(t, func() *archive.DB { return openDB(t, dsn) })
	})
}

func openDB(t *testing.T, dsn string) *archive.DB {
	t.Helper()
	db, err := archive.Open(context.Background(), dsn, "", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.Forward = Hook(testHL7)
	return db
}

// clock is a fake clock for the forwarder (the archive takes times as
// arguments).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)

// chair makes a chair's record-stream messages as chairside publishes them
// (one stream, seq +1 per record), parsed by the recorder's own parser.
type chair struct {
	t       testing.TB
	name    string
	stream  string
	session string
	seq     uint64
}

func newChair(t testing.TB, name, session string) *chair {
	return &chair{t: t, name: name, stream: "st-" + name, session: session}
}

func (c *chair) rec(topic string, v any) archive.Record {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	it := recorder.Parse("chairside", "chairside/"+c.name+"/"+topic, b, 0)
	if it.Record == nil {
		c.t.Fatalf("test record refused: %+v", it.Reject)
	}
	return *it.Record
}

func (c *chair) next() wire.Record {
	c.seq++
	return wire.Record{V: 1, Stream: c.stream, Seq: c.seq, Boot: 1, ClockSynced: true}
}

func (c *chair) sessionRec(at time.Duration) archive.Record {
	return c.rec(wire.TopicSession, wire.Session{Record: c.next(), T: wire.At(t0.Add(at)), ID: c.session, Encounter: "enc-881",
		Phase: "observation", PhaseStarted: wire.At(t0.Add(at)), Started: wire.At(t0.Add(at)), Protocol: "default"})
}

func (c *chair) vital(param string, at time.Duration, v float64) archive.Record {
	unit := "%"
	if param == "pulse" {
		unit = "/min"
	}
	topic := wire.TopicSpO2
	if param == "pulse" {
		topic = wire.TopicPulse
	}
	return c.rec(topic, wire.Vital{Record: c.next(), T: wire.At(t0.Add(at)), Session: c.session, Param: param,
		Value: wire.N(v), Unit: unit, Source: "nonin", Flags: []string{}})
}

func (c *chair) nibp(at time.Duration, sys float64) archive.Record {
	return c.rec(wire.TopicNIBP, wire.NIBP{Record: c.next(), T: wire.At(t0.Add(at)), Session: c.session, Param: "nibp",
		Systolic: wire.N(sys), Diastolic: wire.N(80), Mean: wire.N(90), Pulse: wire.N(70), Unit: "mm[Hg]",
		Source: "suntech", Request: "n-1", Flags: []string{}})
}

// seconds makes SpO2 and pulse records for seconds [from, to) and an NIBP
// at every second listed in nibpAt.
func (c *chair) seconds(from, to int, nibpAt ...int) []archive.Record {
	var out []archive.Record
	for s := from; s < to; s++ {
		at := time.Duration(s) * time.Second
		out = append(out, c.vital("spo2", at, float64(95+s%4)), c.vital("pulse", at, float64(60+s%7)))
		for _, n := range nibpAt {
			if n == s {
				out = append(out, c.nibp(at, float64(110+s%20)))
			}
		}
	}
	return out
}

func store(t *testing.T, db *archive.DB, at time.Time, recs ...archive.Record) {
	t.Helper()
	if _, err := db.Write(context.Background(), archive.Batch{Records: recs}, at); err != nil {
		t.Fatal(err)
	}
}

func newForwarder(t *testing.T, db *archive.DB, holder string, send func(context.Context, hl7.Message) (hl7.Ack, error), clk *clock) *Forwarder {
	t.Helper()
	o := Options{HL7: testHL7, Holder: holder, Send: send, Policy: hl7.Policy{First: time.Second, Max: 16 * time.Second},
		Quiet: 2 * time.Minute, Poll: 5 * time.Millisecond}
	if clk != nil {
		o.Now = clk.Now
	}
	f, err := New(db, o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newClient(t *testing.T, target string) *hl7.Client { return newClientB(t, target) }

func newClientB(t testing.TB, target string) *hl7.Client {
	t.Helper()
	c, err := hl7.NewClient(target, hl7.ClientOptions{DialTimeout: time.Second, AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func outbox(t *testing.T, db *archive.DB) []archive.OutboxRow {
	t.Helper()
	rows, err := db.Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// benchArchive is a migrated archive on backend (sqlite or postgres) with
// forwarding hooked in, for the benchmarks.
func benchArchive(b *testing.B, backend string) *archive.DB {
	b.Helper()
	dsn := "sqlite:" + filepath.Join(b.TempDir(), "r.db")
	if backend == "postgres" {
		dsn = cluster.NewDatabase(b)
	}
	db, err := archive.Open(context.Background(), dsn, "", true)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	db.Forward = Hook(testHL7)
	return db
}
