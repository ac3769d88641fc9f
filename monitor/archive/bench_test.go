package archive

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWrite: records per second into each database, in batches as the
// recorder writes them (one transaction each, synchronous commits: SQLite
// synchronous=FULL in WAL mode, PostgreSQL's default fsync and
// synchronous_commit). Payloads are real vitals messages (~250 bytes).
//
//	go test -run '^$' -bench BenchmarkWrite -benchtime 20x ./monitor/archive
func BenchmarkWrite(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("sqlite/batch=%d", batch), func(b *testing.B) {
			benchWrite(b, openTest(b, "sqlite:"+filepath.Join(b.TempDir(), "r.db")), batch)
		})
		b.Run(fmt.Sprintf("postgres/batch=%d", batch), func(b *testing.B) {
			benchWrite(b, openTest(b, cluster.NewDatabase(b)), batch)
		})
	}
}

// BenchmarkWriteForwarding: the same with HL7 forwarding on (each batch
// also counts its records into their minutes, 500 chairs).
//
//	go test -run '^$' -bench BenchmarkWriteForwarding -benchtime 20x ./monitor/archive
func BenchmarkWriteForwarding(b *testing.B) {
	hook := &Forwarding{NIBP: func(r Record, _ []byte) Outgoing {
		return Outgoing{ControlID: r.Chair + "." + r.Stream, Message: r.Payload}
	}}
	b.Run("sqlite/batch=1000", func(b *testing.B) {
		db := openTest(b, "sqlite:"+filepath.Join(b.TempDir(), "r.db"))
		db.Forward = hook
		benchWrite(b, db, 1000)
	})
	b.Run("postgres/batch=1000", func(b *testing.B) {
		db := openTest(b, cluster.NewDatabase(b))
		db.Forward = hook
		benchWrite(b, db, 1000)
	})
}

func benchWrite(b *testing.B, db *DB, batch int) {
	ctx := context.Background()
	seq := int64(0)
	payload := func(s int64) []byte {
		return fmt.Appendf(nil, `{"v":1,"stream":"9f3c2a7e1b4d5c6a","seq":%d,"boot":3,"clock_synced":true,"t":"2026-11-22T08:00:00.000Z","session":"s-20261122-0800-chair-03","param":"spo2","value":97,"unit":"%%","source":"nonin","flags":[]}`, s)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var bt Batch
		for range batch {
			seq++
			chair := fmt.Sprintf("chair-%03d", seq%500)
			bt.Records = append(bt.Records, Record{Chair: chair, Stream: "9f3c2a7e1b4d5c6a", Seq: seq, Kind: "vitals/spo2",
				T: t0.Add(time.Duration(seq) * time.Millisecond), Session: "s-" + chair, Boot: 3, ClockSynced: true, Payload: payload(seq)})
		}
		if _, err := db.Write(ctx, bt, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(seq)/time.Since(start).Seconds(), "records/s")
}
