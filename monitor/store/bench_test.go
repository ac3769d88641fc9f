package store

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// BenchmarkCommit: throughput of non-urgent Commits with group commit at the
// default window (the writer also wakes every flushAtRecords records). Each
// Commit gets its own payload: the store stamps it later, in the transaction.
//
//	go test -run '^$' -bench 'Commit' -benchtime 3s ./monitor/store/
func BenchmarkCommit(b *testing.B) {
	s := openT(b, b.TempDir(), Options{})
	defer closeT(b, s)
	tmpl := vital(97)
	before := s.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := *tmpl
		if _, err := s.Commit(root+"/vitals/spo2", &v, true, false); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/float64(st.Commits-before.Commits), "records/txn")
}

// BenchmarkCommitUrgent: every record fsynced before Commit returns (alarms).
// Reusing the payload is safe here only because Commit has written it when
// it returns.
func BenchmarkCommitUrgent(b *testing.B) {
	s := openT(b, b.TempDir(), Options{})
	defer closeT(b, s)
	a := alarm("a-1-1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Commit(root+"/alarm", a, true, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkHourAtDaemonRate: the bytes the store writes in one hour at the
// daemon's real rate (2 vitals/s in a group commit each second of a fake
// clock, an urgent NIBP every 5 min), the SD-card wear, in two cases:
//
//   - offline: no broker, every record stays (the worst case);
//
//   - acked: the broker acknowledges each record as soon as it is published,
//     which is after its group commit (a record is always written before it
//     can be published), so it is written, then deleted with the next
//     group commit: the normal case;
//
//   - acked-snapshot: as acked, with a 3 KiB engine snapshot in the file, as
//     the daemon keeps one (it makes the meta bucket a page of its own, which
//     a transaction rewrites whenever it touches the bucket: the store does
//     so only when the newest record is gone, see writeMeta).
//
// The daemon's snapshot saves (a transaction each at most every 30 s) are not
// counted.
//
//	go test -run '^$' -bench HourAtDaemonRate -benchtime 1x ./monitor/store/
func BenchmarkHourAtDaemonRate(b *testing.B) {
	for _, mode := range []string{"offline", "acked", "acked-snapshot"} {
		b.Run(mode, func(b *testing.B) {
			var total Stats
			var stored int64
			for i := 0; i < b.N; i++ {
				st, bytes := simulateHour(b, mode)
				total.Commits += st.Commits
				total.BytesWritten += st.BytesWritten
				total.BytesPut += st.BytesPut
				total.FileGrowth += st.FileGrowth
				stored = bytes
			}
			n := float64(b.N)
			b.ReportMetric(float64(total.BytesWritten)/n, "B-written/h")
			b.ReportMetric(float64(total.BytesPut)/n, "B-put/h")
			b.ReportMetric(float64(total.Commits)/n, "txn/h")
			b.ReportMetric(float64(total.FileGrowth)/n, "B-growth/h")
			b.ReportMetric(float64(stored), "B-stored")
		})
	}
}

func simulateHour(b *testing.B, mode string) (Stats, int64) {
	b.Helper()
	clk := newClock()
	var live []uint64 // what the publisher got since the last group commit
	s := openT(b, b.TempDir(), Options{CommitEvery: time.Hour, Now: clk.Now, OnCommitted: func(recs []Record) {
		for _, r := range recs {
			live = append(live, r.Seq)
		}
	}})
	defer closeT(b, s)
	if mode == "acked-snapshot" {
		if err := s.SaveSnapshot([]byte(`{"session":"` + strings.Repeat("x", 3<<10) + `"}`)); err != nil {
			b.Fatal(err)
		}
	}
	before := s.Stats()
	for sec := 0; sec < 3600; sec++ {
		commitT(b, s, root+"/vitals/spo2", vital(97), false)
		commitT(b, s, root+"/vitals/pulse", vital(72), false)
		if sec%300 == 0 {
			nibp := &wire.NIBP{Param: "nibp", Systolic: wire.N(128), Diastolic: wire.N(82), Mean: wire.N(97),
				Pulse: wire.N(74), Unit: "mm[Hg]", Source: "suntech", Request: "n-1-1", Flags: []string{}}
			live = append(live, commitT(b, s, root+"/vitals/nibp", nibp, true).Seq)
		}
		clk.Add(time.Second)
		if err := s.Flush(); err != nil { // the window's group commit
			b.Fatal(err)
		}
		if mode != "offline" {
			for _, seq := range live {
				s.Ack(seq) // PUBACKs: deleted with the next group commit
			}
		}
		live = live[:0]
	}
	st := s.Stats()
	st.Commits -= before.Commits
	st.BytesWritten -= before.BytesWritten
	st.BytesPut -= before.BytesPut
	st.FileGrowth -= before.FileGrowth
	return st, st.Bytes
}
