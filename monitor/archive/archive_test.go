package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/archive/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	cluster = pgtest.Start()
	code := m.Run()
	cluster.Stop()
	os.Exit(code)
}

// backends runs a test on SQLite and on PostgreSQL: the same suite on both.
func backends(t *testing.T, f func(t *testing.T, open func() *DB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "records.db")
		f(t, func() *DB { return openTest(t, "sqlite:"+path) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := cluster.NewDatabase(t)
		f(t, func() *DB { return openTest(t, url) })
	})
}

func openTest(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, "", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func rec(chair, stream string, seq int64, payload string) Record {
	return Record{Chair: chair, Stream: stream, Seq: seq, Kind: "vitals/spo2", T: t0.Add(time.Duration(seq) * time.Second),
		Session: "s-1", Boot: 1, ClockSynced: true, Payload: []byte(payload)}
}

func write(t *testing.T, db *DB, b Batch) Result {
	t.Helper()
	res, err := db.Write(context.Background(), b, t0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWriteOnceDuplicatesAndConflicts(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		db := open()
		ctx := context.Background()
		res := write(t, db, Batch{Records: []Record{
			rec("c1", "st", 1, `{"a":1}`), rec("c1", "st", 2, `{"a":2}`),
			rec("c1", "st", 2, `{"a":2}`),       // identical copy in the same batch
			rec("c1", "st", 1, `{"a":"other"}`), // conflicting copy in the same batch
			rec("c2", "st", 1, `{"a":1}`),       // same stream and seq, other chair: a different record
		}})
		if res != (Result{Inserted: 3, Duplicates: 1, Conflicts: 1}) {
			t.Fatalf("first batch: %+v", res)
		}
		// Redelivered in a later batch: identical copies are dropped; the
		// same conflicting copy is not stored twice; a new one is.
		res = write(t, db, Batch{Records: []Record{
			rec("c1", "st", 1, `{"a":1}`), rec("c1", "st", 1, `{"a":"other"}`),
			rec("c1", "st", 1, `{"a":"third"}`), rec("c1", "st", 3, `{"a":3}`),
		}})
		if res != (Result{Inserted: 1, Duplicates: 2, Conflicts: 1}) {
			t.Fatalf("second batch: %+v", res)
		}
		all, err := db.AllRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range all {
			keys = append(keys, fmt.Sprintf("%s/%s/%d=%s", r.Chair, r.Stream, r.Seq, r.Payload))
		}
		want := []string{`c1/st/1={"a":1}`, `c1/st/2={"a":2}`, `c1/st/3={"a":3}`, `c2/st/1={"a":1}`}
		if !slices.Equal(keys, want) {
			t.Fatalf("stored %v, want %v (the first copy wins)", keys, want)
		}
		cs, err := db.Conflicts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 2 || string(cs[0].Payload) != `{"a":"other"}` || string(cs[1].Payload) != `{"a":"third"}` {
			t.Fatalf("conflicts %+v", cs)
		}
		st, err := db.Status(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if st.Records != 4 || st.Counters[CounterDuplicates] != 3 || st.Counters[CounterConflicts] != 2 || st.Conflicts != 2 {
			t.Fatalf("status %+v", st)
		}
		if !all[0].T.Equal(t0.Add(time.Second)) || all[0].Session != "s-1" || !all[0].ClockSynced || all[0].Boot != 1 {
			t.Fatalf("columns read back wrong: %+v", all[0])
		}
	})
}

func TestLargeBatchSpansStatements(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		db := open()
		var b Batch
		for i := int64(1); i <= 3*insertChunk+7; i++ {
			b.Records = append(b.Records, rec("c1", "st", i, fmt.Sprintf(`{"i":%d}`, i)))
		}
		if res := write(t, db, b); res.Inserted != len(b.Records) {
			t.Fatalf("%+v", res)
		}
		if res := write(t, db, b); res.Duplicates != len(b.Records) || res.Inserted != 0 {
			t.Fatalf("again: %+v", res)
		}
		holes, err := db.Holes(context.Background())
		if err != nil || len(holes) != 0 {
			t.Fatalf("holes %v %v", holes, err)
		}
	})
}

func TestHoles(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		db := open()
		var b Batch
		for _, s := range []int64{9, 1, 2, 5, 6} { // out of order
			b.Records = append(b.Records, rec("c1", "a", s, "{}"))
		}
		b.Records = append(b.Records, rec("c1", "b", 4, "{}"), rec("c1", "b", 5, "{}"), rec("c2", "a", 1, "{}"), rec("c2", "a", 3, "{}"))
		write(t, db, b)
		holes, err := db.Holes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range holes {
			got = append(got, fmt.Sprintf("%s/%s %d-%d", h.Chair, h.Stream, h.From, h.To))
			if !h.Since.Equal(t0) {
				t.Errorf("since %v", h.Since)
			}
		}
		want := []string{"c1/a 3-4", "c1/a 7-8", "c2/a 2-2"}
		if !slices.Equal(got, want) {
			t.Fatalf("holes %v, want %v", got, want)
		}
		// Filling a hole closes it.
		write(t, db, Batch{Records: []Record{rec("c2", "a", 2, "{}")}})
		holes, _ = db.Holes(context.Background())
		if len(holes) != 2 {
			t.Fatalf("after filling: %v", holes)
		}
	})
}

func TestStatesKeepAvailability(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		db := open()
		ctx := context.Background()
		on := State{Chair: "c1", Online: true, Boot: 3, Stream: "st", Version: "v1", T: t0, Session: "s-1", Phase: "infusion", Payload: []byte(`{"online":true}`)}
		write(t, db, Batch{States: []State{on, on}})
		off := State{Chair: "c1", Boot: 3, Stream: "st", Version: "v1", Will: true, Payload: []byte(`{"online":false}`)}
		write(t, db, Batch{States: []State{off}})
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM availability WHERE chair = 'c1'").Scan(&n); err != nil || n != 2 {
			t.Fatalf("availability rows %d (%v), want 2: one per change", n, err)
		}
		st, err := db.Status(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Chairs) != 1 || st.Chairs[0].Online || st.Chairs[0].Phase != "" || st.Chairs[0].Boot != 3 {
			t.Fatalf("chairs %+v: a Will leaves session and phase unknown", st.Chairs)
		}
	})
}

func TestRejectedAreBounded(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		db := open()
		db.RejectedKeep = 3
		var b Batch
		for i := range 5 {
			b.Rejects = append(b.Rejects, Reject{Topic: fmt.Sprintf("chairside/c1/x%d", i), Reason: "malformed JSON",
				Size: 4, Payload: []byte{0, 0xff, 'x', byte(i)}}) // any bytes, even NUL and invalid UTF-8
		}
		write(t, db, b)
		st, err := db.Status(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if st.RejectedKept != 3 || st.Counters[CounterRejected] != 5 || len(st.LastRejected) != 3 || st.LastRejected[0].Topic != "chairside/c1/x4" {
			t.Fatalf("kept %d counted %d last %+v", st.RejectedKept, st.Counters[CounterRejected], st.LastRejected)
		}
	})
}

func TestSessionRecordsInTimeOrder(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		db := open()
		a := rec("c1", "st", 5, "{}")
		a.T = t0.Add(time.Minute)
		b := rec("c1", "st", 6, "{}")
		b.T = t0
		other := rec("c1", "st", 7, "{}")
		other.Session = "s-2"
		write(t, db, Batch{Records: []Record{a, b, other}})
		rs, err := db.SessionRecords(context.Background(), "s-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 || rs[0].Seq != 6 || rs[1].Seq != 5 {
			t.Fatalf("%+v", rs)
		}
	})
}

func TestMigrateTwiceAndReadersWhileWriting(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		w := open()
		r := open() // a second handle: the subcommands of another process
		if err := r.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The bound catches a reader that waits for good on the writer
		// (a lock never given up); it is no speed test: SQLite (pure Go)
		// under -race on a loaded CI machine took over 3 s for these reads.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			for i := int64(1); i <= 50; i++ {
				var b Batch
				for j := range int64(20) {
					b.Records = append(b.Records, rec("c1", "st", i*20+j, "{}"))
				}
				if _, err := w.Write(ctx, b, t0); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range 20 {
			if _, err := r.Holes(ctx); err != nil {
				t.Fatalf("reader while writing: %v", err)
			}
			if _, err := r.Status(ctx, 5); err != nil {
				t.Fatalf("reader while writing: %v", err)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("writer with a reader: %v", err)
		}
	})
}

func TestOpenRefusesMissingSQLiteForReaders(t *testing.T) {
	_, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "none.db"), "", false)
	if err == nil {
		t.Fatal("a reader made a new empty archive")
	}
}

func TestCheckDSN(t *testing.T) {
	for dsn, ok := range map[string]bool{
		"sqlite:/var/lib/x.db":                  true,
		"sqlite:":                               false,
		"sqlite:/x.db?mode=ro":                  false,
		"postgres://rec@db:5432/records":        true,
		"postgres://rec:secret@db:5432/records": false,
		"mysql://x":                             false,
		"/var/lib/records.db":                   false,
		"postgresql://rec@127.0.0.1/records?sslmode=disable": true,
	} {
		err := CheckDSN(dsn)
		if (err == nil) != ok {
			t.Errorf("CheckDSN(%q) = %v", dsn, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("CheckDSN(%q) shows the password: %v", dsn, err)
		}
	}
}

// TestSQLiteIsDurable: WAL (readers beside the writer) and synchronous FULL
// (a commit is on disk before the broker hears of it).
func TestSQLiteIsDurable(t *testing.T) {
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	var mode string
	var sync int
	if err := db.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	if err := db.SQL().QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous %d %v, want 2 (FULL)", sync, err)
	}
}

// TestTwoWritersSameKeys: two recorders (two handles) writing overlapping
// keys at once, as in a $share group after a redelivery: every key once,
// every other copy a duplicate, no write fails.
func TestTwoWritersSameKeys(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		a, b := open(), open()
		errs := make(chan error, 2)
		var results [2]Result
		for i, db := range []*DB{a, b} {
			go func() {
				var total Result
				for start := int64(1); start <= 1000; start += 50 {
					var bt Batch
					for s := start; s < start+50; s++ {
						bt.Records = append(bt.Records, rec("c1", "st", s, fmt.Sprintf(`{"s":%d}`, s)))
					}
					res, err := db.Write(context.Background(), bt, t0)
					if err != nil {
						errs <- err
						return
					}
					total.Inserted += res.Inserted
					total.Duplicates += res.Duplicates
				}
				results[i] = total
				errs <- nil
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		ins := results[0].Inserted + results[1].Inserted
		dup := results[0].Duplicates + results[1].Duplicates
		if ins != 1000 || dup != 1000 {
			t.Fatalf("inserted %d duplicates %d, want 1000 and 1000 (%+v)", ins, dup, results)
		}
	})
}

// A schema-1 database (the first recorder's, whose hl7_outbox had no lease
// or back-off columns) is upgraded in place: version 2, the new columns
// there, old rows kept and claimable; a newer schema is refused.
func TestMigrateUpgradesSchema1(t *testing.T) {
	backends(t, func(t *testing.T, open func() *DB) {
		ctx := context.Background()
		db := open() // schema 2 made; now turn it back into schema 1
		for _, stmt := range []string{
			"DROP TABLE hl7_outbox", "DROP TABLE hl7_minutes", "UPDATE schema_version SET version = 1",
			strings.NewReplacer("{{serial}}", db.d.serial).Replace(`CREATE TABLE hl7_outbox (
				id {{serial}}, chair TEXT NOT NULL, session TEXT NOT NULL, source TEXT NOT NULL, created_ms BIGINT NOT NULL,
				message TEXT NOT NULL, status TEXT NOT NULL, ack_code TEXT, reason TEXT, attempts INTEGER NOT NULL,
				last_attempt_ms BIGINT, done_ms BIGINT, UNIQUE (source))`),
			"INSERT INTO hl7_outbox (chair, session, source, created_ms, message, status, attempts) VALUES ('c', 's', 'c.n.x.1', 1, 'MSH|', 'pending', 0)",
		} {
			if _, err := db.SQL().ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := db.SQL().QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v); err != nil || v != SchemaVersion {
			t.Fatalf("version %d, %v", v, err)
		}
		m, err := db.Claim(ctx, "r1", t0, t0.Add(time.Minute))
		if err != nil || m == nil || m.ControlID != "c.n.x.1" {
			t.Fatalf("the old row after the upgrade: %+v %v", m, err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrating again: %v", err)
		}
		if _, err := db.SQL().ExecContext(ctx, "UPDATE schema_version SET version = 99"); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer than this recorder's") {
			t.Fatalf("a newer schema: %v", err)
		}
	})
}
